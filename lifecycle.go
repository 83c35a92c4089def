//go:build unix

package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"
)

// Machine is the one writer of a lifecycle directory's state file. Its
// methods are safe for concurrent use; calls on one Machine queue behind each
// other, and Machines in other processes are kept out by the lock file.
type Machine struct {
	cfg  config
	sem  chan struct{} // the in-process mutex; a channel so waiting can honour a context
	wait chan struct{} // the queue of calls waiting for the file lock, in order
	done chan struct{} // closed by Close: every wait ends
	once sync.Once     // closes done
	lock *lockFile
	log  eventLog

	// Guarded by sem.
	tidied     bool       // stale temporary state files removed
	seqRead    bool       // the log's highest seq was read during this call, under the lock
	rotatedDay int64      // the UTC day (since the epoch) whose rotation has run
	known      knownState // the state file's content as last read or written
	buf        []byte     // for reading the state file
	poisoned   error      // the write error that ended this Machine
	closed     bool
}

// knownState is the state file as this Machine last read or wrote it: its
// bytes, and the record they hold once reconciled with the log. A dispatch
// that reads the same bytes again skips the decode; any other bytes are
// decoded and reconciled afresh. Bytes, not file metadata: a file system
// with coarse timestamps that reuses inode numbers can give two versions
// the same inode, size and times.
type knownState struct {
	ok     bool
	exists bool
	reset  bool // no file, or no transition_seq: the seq comes from the log
	data   []byte
	rec    Record
}

// New opens the lifecycle directory dir, creating it (0700) and its log
// directory if missing, and the lock file (0600), each made durable (its
// parent directory synced) before it is used. If no other process holds
// the lock, it also reconciles the log with the state file after a crash
// (docs/durability.md, "Recovery, step by step") and rotates old log files;
// otherwise the first dispatch does.
func New(dir string, opts ...Option) (*Machine, error) {
	cfg, err := resolveConfig(dir, opts)
	if err != nil {
		return nil, err
	}
	dirs := []string{dir, filepath.Dir(cfg.statePath), filepath.Dir(cfg.lockPath), cfg.logDir}
	for _, d := range dirs {
		if err := mkdir(d); err != nil {
			return nil, err
		}
	}
	// Directories that were there may be a killed process's, whose entries
	// it never synced: make them durable before anything goes into them.
	if err := syncEntries(dirs...); err != nil {
		return nil, err
	}
	lock, err := openLock(cfg.lockPath)
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, sem: make(chan struct{}, 1), wait: make(chan struct{}, 1), done: make(chan struct{}),
		lock: lock, log: eventLog{dir: cfg.logDir}}
	switch err := m.lock.tryLock(); {
	case errors.Is(err, ErrLocked):
	case err != nil:
		return nil, errors.Join(err, lock.close())
	default:
		// A corrupt state file is not New's failure: the Machine can still
		// report it, and every dispatch will, until an operator mends it.
		// Nor is a state file that writers without the lock keep replacing
		// while it is rewritten: the first call reconciles it.
		if _, err := m.prepare(cfg.clock()); err != nil && !errors.Is(err, ErrCorruptState) && !errors.Is(err, errStateChanged) {
			return nil, errors.Join(err, lock.unlock(), lock.close())
		}
		if err := lock.unlock(); err != nil {
			return nil, errors.Join(err, lock.close())
		}
	}
	return m, nil
}

// StatePath is the state file's path.
func (m *Machine) StatePath() string { return m.cfg.statePath }

// LockPath is the lock file's path.
func (m *Machine) LockPath() string { return m.cfg.lockPath }

// LogDir is the event log's directory.
func (m *Machine) LogDir() string { return m.cfg.logDir }

// Close releases the lock file. Later calls fail with fs.ErrClosed, and so
// do calls waiting for the lock: Close does not wait for them, only for a
// call that holds the lock to finish its write.
func (m *Machine) Close() error {
	m.once.Do(func() { close(m.done) })
	m.sem <- struct{}{}
	defer func() { <-m.sem }()
	if m.closed {
		return nil
	}
	m.closed = true
	return errors.Join(m.lock.close(), m.log.close())
}

// Dispatch applies ev to the current state and returns the state after it.
// If another process holds the lock it fails at once with ErrLocked. When it
// returns without error, what it changed is on disk: the state file's content
// and its directory entry, and a transition's log line, all synced.
func (m *Machine) Dispatch(ev Event, g Guards) (State, error) {
	return m.dispatch(context.Background(), false, ev, "", func(Record) Guards { return g })
}

// DispatchContext is Dispatch, but waits for the lock until ctx ends; then
// it fails with an error wrapping ErrLocked and ctx's error and cause, which
// says how long it waited and, where the system tells (Linux), the pid of
// the process that holds the lock. A ctx that is already done fails at
// once, before anything is touched, with ctx's error and cause only. While
// it waits for another process, it holds nothing: Dispatch still fails at
// once with ErrLocked, and Close ends the wait (fs.ErrClosed). Calls waiting
// on one Machine get the lock one at a time, in the order they came.
func (m *Machine) DispatchContext(ctx context.Context, ev Event, g Guards) (State, error) {
	return m.dispatch(ctx, true, ev, "", func(Record) Guards { return g })
}

// DispatchReason is DispatchContext, recording why: a transition's log line
// and the state file's last_transition give reason as their "trigger"
// where they would give the event's name, as the Python project's
// dispatch(event, reason=...) writes it, byte for byte (for example
// "drowsy_on_idle_5min" for an idle_5min). An empty reason is the one
// WithReasons gives, or the event's name. A reason must be valid UTF-8, printable (no control, format or
// line-separator characters; spaces are allowed) and at most 256 bytes;
// any other is refused, before anything is read or written, with an error
// wrapping ErrInvalidReason. The reason changes nothing else: the
// transition, the bookkeeping and the observers' Event are the event's.
func (m *Machine) DispatchReason(ctx context.Context, ev Event, g Guards, reason string) (State, error) {
	return m.dispatch(ctx, true, ev, reason, func(Record) Guards { return g })
}

// DispatchReasonFunc is DispatchReason with the guards computed by guards
// from the record the dispatch reads under the lock, so that nothing
// another process does can change what they depend on before the
// transition: for example still_idle from wrapper_event_seq, which a
// heartbeat from another process may move between a Snapshot and a
// dispatch. guards runs with the Machine's locks held, and must not call
// the Machine. An empty reason is the one WithReasons gives, or the event's
// name.
func (m *Machine) DispatchReasonFunc(ctx context.Context, ev Event, reason string, guards func(Record) Guards) (State, error) {
	return m.dispatch(ctx, true, ev, reason, guards)
}

func (m *Machine) dispatch(ctx context.Context, wait bool, ev Event, reason string, guards func(Record) Guards) (State, error) {
	if err := m.checkEvent(ev); err != nil {
		return "", err
	}
	if reason == "" && m.cfg.reason != nil {
		reason = m.cfg.reason(ev)
	}
	if err := CheckReason(reason); err != nil {
		return "", err
	}
	var out State
	err := m.locked(ctx, wait, func(rec Record, now time.Time) error {
		to, changed := m.cfg.table.Transition(rec.CurrentState, ev, guards(rec))
		// The core record has no shadow_run: a change of it alone
		// writes nothing.
		shadowMoved := !m.cfg.table.core && rec.ShadowRun != m.cfg.shadowRun
		if changed || isActivity(ev) || shadowMoved {
			if err := m.settle(&rec); err != nil {
				return err
			}
		}
		next := apply(rec, ev, reason, to, changed, now, m.cfg.shadowRun)
		out = next.CurrentState
		if !changed {
			if isActivity(ev) || shadowMoved {
				return m.save(next)
			}
			return nil
		}
		// The state file first, synced with its directory entry, then the
		// log line: the log never holds a transition that did not take
		// effect, and the state file's last_transition says which line it
		// is owed should a crash come between the two (docs/durability.md).
		log, err := m.log.openAppender(now)
		if err != nil {
			if isSyncError(err) {
				return m.write(err) // the log directory made, its entry maybe not
			}
			return err
		}
		if err := m.save(next); err != nil {
			return errors.Join(err, log.close())
		}
		lt := next.LastTransition
		err = log.append(transitionLines(lt, next.ShadowRun)...)
		if err == nil {
			m.log.own(log, lt.Seq)
		}
		if err := m.write(errors.Join(err, log.close())); err != nil {
			return err
		}
		m.cfg.logger.Info("lifecycle transition", "from", lt.From, "to", lt.To,
			"event", lt.Event, "seq", lt.Seq)
		m.cfg.observers.queue(*lt)
		return nil
	})
	m.cfg.observers.deliver(m.cfg.logger) // outside the locks: see WithObserver
	if err != nil {
		return "", err
	}
	return out, nil
}

// isActivity reports whether ev is attributable to a user or client: those
// reset the idle clock.
func isActivity(ev Event) bool {
	return ev == HeartbeatRefresh || ev == RequestArrived || ev == WakeSignal
}

// apply is the record a dispatch writes: bookkeeping, then the transition,
// whose trigger is reason, or the event's name if reason is empty.
func apply(rec Record, ev Event, reason string, to State, changed bool, now time.Time, shadow bool) Record {
	if isActivity(ev) {
		rec.LastActivityTS = now
		rec.WrapperEventSeq++
	}
	rec.ShadowRun = shadow
	if changed {
		if reason == "" {
			reason = string(ev)
		}
		rec.LastTransition = &Transition{From: rec.CurrentState, To: to, Event: ev, Trigger: reason, Seq: rec.TransitionSeq + 1, Time: now}
		rec.TransitionSeq++
		rec.CurrentState = to
		rec.SinceTS = now
	}
	return rec
}

// Update changes the fields of the record that Dispatch does not own (sleep
// cycle progress, quarantine, crisis flags, unknown keys) under the same lock
// and with the same durability. fn gets a copy; if it returns an error,
// nothing is written and Update returns that error. Changing current_state,
// since_ts or transition_seq is refused with ErrInvalidRecord: only Dispatch
// moves the machine. So is a record Validate refuses, or one whose state
// file would be larger than MaxStateSize; nothing is written then.
//
// Like Dispatch, it fails at once with ErrLocked when another process holds
// the lock; UpdateContext waits.
func (m *Machine) Update(fn func(*Record) error) (Record, error) {
	return m.update(context.Background(), false, fn)
}

// UpdateContext is Update, but waits for the lock until ctx ends.
func (m *Machine) UpdateContext(ctx context.Context, fn func(*Record) error) (Record, error) {
	return m.update(ctx, true, fn)
}

func (m *Machine) update(ctx context.Context, wait bool, fn func(*Record) error) (Record, error) {
	var out Record
	err := m.locked(ctx, wait, func(rec Record, _ time.Time) error {
		next := rec.Clone()
		if err := fn(&next); err != nil {
			return err
		}
		next.SinceTS, next.LastActivityTS = truncate(next.SinceTS), truncate(next.LastActivityTS)
		if next.CurrentState != rec.CurrentState || !next.SinceTS.Equal(rec.SinceTS) || next.TransitionSeq != rec.TransitionSeq ||
			!sameTransition(next.LastTransition, rec.LastTransition) {
			return &fs.PathError{Op: "update state", Path: m.cfg.statePath,
				Err: fmt.Errorf("%w: current_state, since_ts, transition_seq and last_transition change only through Dispatch", ErrInvalidRecord)}
		}
		if err := next.validate(m.cfg.table); err != nil {
			return &fs.PathError{Op: "update state", Path: m.cfg.statePath, Err: err}
		}
		if next.Equal(rec) {
			out = next
			return nil
		}
		if err := m.settle(&next); err != nil {
			return err
		}
		out = next
		return m.save(next)
	})
	if err != nil {
		return Record{}, err
	}
	return out, nil
}

func sameTransition(a, b *Transition) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.From == b.From && a.To == b.To && a.Event == b.Event && a.trigger() == b.trigger() &&
		a.Seq == b.Seq && a.Time.Equal(b.Time)
}

// Snapshot reads the state file without taking the lock: the file is only
// ever replaced whole, so a reader sees one complete record or another.
func (m *Machine) Snapshot() (Record, error) {
	r, _, err := loadState(m.cfg.statePath, m.cfg.clock, m.cfg.table)
	return r, err
}

// locked runs fn with the record read under both locks and the clock read
// once under them. Without wait, a lock held by another process fails at
// once with ErrLocked. With wait, the call queues behind other waiting
// calls, then polls the lock, holding the in-process mutex only while it
// tries: a waiter holds up neither calls that do not wait nor Close.
func (m *Machine) locked(ctx context.Context, wait bool, fn func(rec Record, now time.Time) error) (err error) {
	if ctx.Err() != nil {
		return &fs.PathError{Op: "lock", Path: m.cfg.lockPath, Err: ctxErr(ctx)}
	}
	start, pause := time.Now(), time.Millisecond
	if wait {
		select {
		case m.wait <- struct{}{}:
			defer func() { <-m.wait }()
		case <-ctx.Done():
			// Queued behind a call that waits for (or holds) the lock.
			return m.lock.busy(ctxErr(ctx), time.Since(start))
		case <-m.done:
			return m.closedErr()
		}
	}
	busy := func() error { return m.lock.busy(ctxErr(ctx), time.Since(start)) }
	for {
		if err := m.enter(ctx, busy); err != nil {
			return err
		}
		err = m.lock.tryLock()
		if err == nil {
			break
		}
		<-m.sem
		if !errors.Is(err, ErrLocked) {
			return err
		}
		if !wait {
			return m.lock.busy(nil, 0)
		}
		// Wait a while holding nothing. flock(2) has no timeout and a
		// blocking call cannot be cancelled, so the lock is polled, backing
		// off from 1 ms to 50 ms.
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return busy()
		case <-m.done:
			t.Stop()
			return m.closedErr()
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
	defer func() { <-m.sem }()
	defer func() {
		if uerr := m.lock.unlock(); uerr != nil {
			m.poisoned = uerr
			err = errors.Join(err, uerr)
		}
	}()
	now := truncate(m.cfg.clock()) // read once: rotation and the dispatch agree on the day
	rec, err := m.prepare(now)
	if err != nil {
		return err
	}
	return fn(rec, now)
}

// enter takes the in-process mutex, unless ctx ends (then it returns
// busy's error: the call waited for the lock, held by another call) or the
// Machine is closed or poisoned first. A free mutex is taken whatever ctx
// says: select would otherwise pick at random between the two.
func (m *Machine) enter(ctx context.Context, busy func() error) error {
	select {
	case m.sem <- struct{}{}:
	default:
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return busy()
		case <-m.done:
			return m.closedErr()
		}
	}
	select {
	case <-m.done:
		<-m.sem
		return m.closedErr()
	default:
	}
	switch {
	case m.closed:
		<-m.sem
		return m.closedErr()
	case m.poisoned != nil:
		<-m.sem
		return fmt.Errorf("%w: %w", ErrPoisoned, m.poisoned)
	}
	return nil
}

func (m *Machine) closedErr() error {
	return &fs.PathError{Op: "dispatch", Path: m.cfg.statePath, Err: fs.ErrClosed}
}

// ctxErr is ctx's error, and its cause when that is another error, both
// for errors.Is.
func ctxErr(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || cause == err {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// write records a failed write or sync as the end of this Machine: after
// one, what is on disk is only known to a fresh reader, so later calls fail
// until a new Machine takes over.
func (m *Machine) write(err error) error {
	if err != nil {
		m.poisoned = err
		m.known = knownState{}
	}
	return err
}

// settle is called before a write: a record that comes from a reset took
// its seq from the log when it was read, and another process may have
// logged transitions since (a reset file can stay unchanged while other
// Machines write, then go again), so the log is read again before the seq
// is written down. Ticks on such a file read the log only once, and a call
// that read it when it met the file (reconcile) does not read it again:
// under the lock no other Machine logs a seq.
func (m *Machine) settle(rec *Record) error {
	if !m.known.reset || m.seqRead {
		return nil
	}
	top, err := maxLoggedSeq(m.cfg.logDir)
	if err != nil {
		return err
	}
	rec.TransitionSeq = max(rec.TransitionSeq, top)
	return nil
}

// save replaces the state file with rec, durably (the directory synced
// too), and remembers its bytes.
func (m *Machine) save(rec Record) error {
	data, err := stateBytes(m.cfg.statePath, rec, m.cfg.table)
	if err != nil {
		return err // nothing was written: not a reason to poison the Machine
	}
	if err := m.write(replaceFile(m.cfg.statePath, data)); err != nil {
		return err
	}
	m.known = knownState{ok: true, exists: true, data: data, rec: rec}
	return nil
}

// prepare loads the record under the lock: the first time after removing
// the temporary files a crash left; once a UTC day after rotating old log
// files.
func (m *Machine) prepare(now time.Time) (Record, error) {
	m.seqRead = false
	if !m.tidied {
		if err := removeStaleTemps(m.cfg.statePath); err != nil {
			return Record{}, err
		}
		m.tidied = true
	}
	rec, err := m.load(now)
	if err != nil {
		return Record{}, err
	}
	if day := now.Unix() / secondsPerDay; m.cfg.retention > 0 && day != m.rotatedDay {
		m.rotatedDay = day
		// A rotation leaves a file that is held open, by this Machine too:
		// let go of the one held as synced (the next append syncs its
		// directory entry again).
		if err := m.log.close(); err != nil {
			m.cfg.logger.Warn("lifecycle log close failed", "dir", m.cfg.logDir, "err", err)
		}
		// Rotation only tidies: a failure is reported, and the dispatch,
		// whose files it does not touch, goes on.
		r, err := RotateLogsReport(m.cfg.logDir, m.cfg.retention, now)
		if err != nil {
			m.cfg.logger.Warn("lifecycle log rotation failed", "dir", m.cfg.logDir, "err", err)
		}
		for _, p := range r.Rotated {
			m.cfg.logger.Info("lifecycle log rotated", "file", p)
		}
		for _, l := range r.Left {
			m.cfg.logger.Info("lifecycle log left for a later rotation", "file", l.Path, "reason", l.Reason)
		}
	}
	return rec, nil
}

const secondsPerDay = 24 * 60 * 60

// load reads the state file's bytes (every time: C6 of the contract) and
// returns its record. Bytes this Machine last read or wrote give the record
// it knows; others are decoded, made durable and reconciled with the log.
func (m *Machine) load(now time.Time) (Record, error) {
	k := &m.known
	same := func(data []byte, exists bool) bool {
		return k.ok && k.exists == exists && bytes.Equal(k.data, data)
	}
	for attempt := 1; ; attempt++ {
		data, exists, err := readStateInto(m.cfg.statePath, m.buf[:0], func(b []byte) bool { return same(b, true) })
		if err != nil {
			m.known = knownState{}
			return Record{}, err
		}
		if cap(data) <= 64<<10 { // a huge file's buffer is not kept
			m.buf = data
		}
		if same(data, exists) {
			if !exists {
				// A missing file reads as a default record of now, with the
				// seq learnt from the log.
				rec := m.cfg.table.defaultRecord(now)
				rec.TransitionSeq = k.rec.TransitionSeq
				return rec, nil
			}
			return k.rec, nil
		}
		rec, hasSeq := m.cfg.table.defaultRecord(now), false
		if exists {
			rec, hasSeq, err = decodeRecordSeq(data, m.cfg.table)
			if err != nil {
				m.known = knownState{}
				return Record{}, &fs.PathError{Op: "load state", Path: m.cfg.statePath, Err: fmt.Errorf("%w: %w", ErrCorruptState, err)}
			}
			// Another writer's file may not be durable (a dispatch killed
			// before its syncs, or whose sync failed; a Python tool, which
			// does not sync the directory): write it again, as it is,
			// before anything is based on it, a log line or an
			// acknowledgement. Replaced or removed meanwhile (by a writer
			// without the lock): read what is there now.
			err := rewriteState(m.cfg.statePath, data)
			if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, errStateChanged)) && attempt < 5 {
				continue
			}
			if errors.Is(err, errStateChanged) {
				m.known = knownState{}
				return Record{}, err // nothing written
			}
			if err := m.write(err); err != nil {
				return Record{}, err
			}
		}
		if err := m.reconcile(&rec, exists, hasSeq); err != nil {
			m.known = knownState{}
			return Record{}, err
		}
		m.known = knownState{ok: true, exists: exists, reset: !exists || !hasSeq, data: bytes.Clone(data), rec: rec}
		return rec, nil
	}
}
