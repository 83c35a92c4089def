//go:build unix

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Machine is the one writer of a lifecycle directory's state file. Its
// methods are safe for concurrent use; calls on one Machine queue behind each
// other, and Machines in other processes are kept out by the lock file.
type Machine struct {
	cfg  config
	sem  chan struct{} // the in-process mutex; a channel so waiting can honour a context
	lock *lockFile
	log  eventLog

	// Guarded by sem.
	recovered  bool        // the log has been checked against the state file
	rotatedDay int64       // the UTC day (since the epoch) whose rotation has run
	cache      recordCache // the state file's last known version
	poisoned   error       // the write error that ended this Machine
	closed     bool
}

// New opens the lifecycle directory dir, creating it (0700) and its log
// directory if missing, and the lock file (0600). If no other process holds
// the lock, it also rolls the state file forward from the log after a crash
// and rotates old log files; otherwise the first dispatch does.
func New(dir string, opts ...Option) (*Machine, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	if cfg.statePath == "" {
		cfg.statePath = filepath.Join(dir, DefaultStateFile)
	}
	if cfg.lockPath == "" {
		cfg.lockPath = filepath.Join(dir, DefaultLockFile)
	}
	if cfg.logDir == "" {
		cfg.logDir = filepath.Join(dir, DefaultLogDir)
	}
	for _, d := range []string{dir, filepath.Dir(cfg.statePath), filepath.Dir(cfg.lockPath), cfg.logDir} {
		if err := mkdir(d); err != nil {
			return nil, err
		}
	}
	lock, err := openLock(cfg.lockPath)
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, sem: make(chan struct{}, 1), lock: lock, log: eventLog{dir: cfg.logDir}}
	switch err := m.lock.tryLock(); {
	case errors.Is(err, ErrLocked):
	case err != nil:
		return nil, errors.Join(err, lock.close())
	default:
		// A corrupt state file is not New's failure: the Machine can still
		// report it, and every dispatch will, until an operator mends it.
		if _, err := m.prepare(cfg.clock()); err != nil && !errors.Is(err, ErrCorruptState) {
			return nil, errors.Join(err, lock.unlock(), lock.close())
		}
		if err := lock.unlock(); err != nil {
			return nil, errors.Join(err, lock.close())
		}
	}
	return m, nil
}

// mkdir creates dir 0700 if it is missing and fails if it is not a directory.
func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pathErr("mkdir", dir, err)
	}
	return nil
}

// StatePath is the state file's path.
func (m *Machine) StatePath() string { return m.cfg.statePath }

// LockPath is the lock file's path.
func (m *Machine) LockPath() string { return m.cfg.lockPath }

// LogDir is the event log's directory.
func (m *Machine) LogDir() string { return m.cfg.logDir }

// Close releases the lock file. Later calls fail with fs.ErrClosed.
func (m *Machine) Close() error {
	m.sem <- struct{}{}
	defer func() { <-m.sem }()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.lock.close()
}

// Dispatch applies ev to the current state and returns the state after it.
// If another process holds the lock it fails at once with ErrLocked. When it
// returns without error, the transition (if any) is in the log and the state
// file, both synced to disk.
func (m *Machine) Dispatch(ev Event, g Guards) (State, error) {
	return m.dispatch(context.Background(), false, ev, func(Record) Guards { return g })
}

// DispatchContext is Dispatch, but waits for the lock until ctx ends; then
// it fails with an error wrapping ErrLocked and ctx's cause.
func (m *Machine) DispatchContext(ctx context.Context, ev Event, g Guards) (State, error) {
	return m.dispatch(ctx, true, ev, func(Record) Guards { return g })
}

// DispatchFunc is DispatchContext with the guards computed by guards from
// the record the dispatch reads under the lock, so that nothing another
// process does can change what they depend on before the transition: for
// example still_idle from wrapper_event_seq, which a heartbeat from another
// process may move between a Snapshot and a dispatch. guards runs with the
// Machine's locks held, and must not call the Machine.
func (m *Machine) DispatchFunc(ctx context.Context, ev Event, guards func(Record) Guards) (State, error) {
	return m.dispatch(ctx, true, ev, guards)
}

func (m *Machine) dispatch(ctx context.Context, wait bool, ev Event, guards func(Record) Guards) (State, error) {
	if _, err := m.cfg.table.ParseEvent(string(ev)); err != nil {
		return "", err
	}
	var out State
	err := m.locked(ctx, wait, func(rec Record, now time.Time) error {
		to, changed := m.cfg.table.Transition(rec.CurrentState, ev, guards(rec))
		next := apply(rec, ev, to, changed, now, m.cfg.shadowRun)
		out = next.CurrentState
		if !changed {
			if isActivity(ev) || rec.ShadowRun != next.ShadowRun {
				return m.save(next, true)
			}
			return nil
		}
		// The log line goes first and is synced before the state file is
		// replaced: it is the write-ahead record that recovery replays.
		lines := [][]byte{transitionLine(now, rec.CurrentState, to, ev, next.TransitionSeq)}
		if to == Hibernation && m.cfg.shadowRun {
			lines = append(lines, shadowWarningLine(now))
		}
		if err := m.write(m.log.append(now, lines...)); err != nil {
			return err
		}
		// No directory fsync: the synced log line already makes the
		// transition durable, and should a power loss undo the rename,
		// recovery replays the line. See doc.go, "Recovery".
		if err := m.save(next, false); err != nil {
			return err
		}
		m.cfg.logger.Info("lifecycle transition", "from", rec.CurrentState, "to", to,
			"event", ev, "seq", next.TransitionSeq)
		m.cfg.observers.queue(Transition{From: rec.CurrentState, To: to, Event: ev, Seq: next.TransitionSeq, Time: now})
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

// apply is the record a dispatch writes: bookkeeping, then the transition.
// Recovery uses it too, to rebuild the record a crashed dispatch meant to
// write.
func apply(rec Record, ev Event, to State, changed bool, now time.Time, shadow bool) Record {
	if isActivity(ev) {
		rec.LastActivityTS = now
		rec.WrapperEventSeq++
	}
	rec.ShadowRun = shadow
	if changed {
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
// moves the machine.
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
		if next.CurrentState != rec.CurrentState || !next.SinceTS.Equal(rec.SinceTS) || next.TransitionSeq != rec.TransitionSeq {
			return &fs.PathError{Op: "update state", Path: m.cfg.statePath,
				Err: fmt.Errorf("%w: current_state, since_ts and transition_seq change only through Dispatch", ErrInvalidRecord)}
		}
		if err := next.validate(m.cfg.table); err != nil {
			return &fs.PathError{Op: "update state", Path: m.cfg.statePath, Err: err}
		}
		out = next
		if next.Equal(rec) {
			return nil
		}
		return m.save(next, true)
	})
	if err != nil {
		return Record{}, err
	}
	return out, nil
}

// Snapshot reads the state file without taking the lock: the file is only
// ever replaced whole, so a reader sees one complete record or another.
func (m *Machine) Snapshot() (Record, error) {
	r, _, err := loadState(m.cfg.statePath, m.cfg.clock, m.cfg.table)
	return r, err
}

// locked runs fn with the record read under both locks and the clock read
// once under them. Without wait, a lock held by another process fails at
// once with ErrLocked.
func (m *Machine) locked(ctx context.Context, wait bool, fn func(rec Record, now time.Time) error) (err error) {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return &fs.PathError{Op: "lock", Path: m.cfg.lockPath, Err: fmt.Errorf("%w: %w", ErrLocked, context.Cause(ctx))}
	}
	defer func() { <-m.sem }()
	switch {
	case m.closed:
		return &fs.PathError{Op: "dispatch", Path: m.cfg.statePath, Err: fs.ErrClosed}
	case m.poisoned != nil:
		return fmt.Errorf("%w: %w", ErrPoisoned, m.poisoned)
	}
	if wait {
		err = m.lock.lockContext(ctx)
	} else {
		err = m.lock.tryLock()
	}
	if err != nil {
		return err
	}
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

// write records a failed write or sync as the end of this Machine: after
// one, what is on disk is only known to a fresh reader, so later calls fail
// until a new Machine (which recovers from the log) takes over.
func (m *Machine) write(err error) error {
	if err != nil {
		m.poisoned = err
		m.cache.clear()
	}
	return err
}

// save replaces the state file with rec and remembers it as the file's
// content. syncDir false leaves the rename to be made durable by a later
// directory sync or by recovery from the log.
func (m *Machine) save(rec Record, syncDir bool) error {
	if err := m.write(saveState(m.cfg.statePath, rec, m.cfg.table, syncDir)); err != nil {
		return err
	}
	m.cache.put(m.cfg.statePath, rec)
	return nil
}

// prepare loads the record under the lock. The first time, it first rolls
// the state forward from the log; once a UTC day, it rotates old log files.
func (m *Machine) prepare(now time.Time) (Record, error) {
	rec, err := m.load()
	if err != nil {
		return Record{}, err
	}
	if !m.recovered {
		if rec, err = m.recover(rec); err != nil {
			return Record{}, err
		}
		m.recovered = true
	}
	if day := now.Unix() / secondsPerDay; m.cfg.retention > 0 && day != m.rotatedDay {
		m.rotatedDay = day
		// Rotation only tidies: a failure is reported, and the dispatch,
		// whose files it does not touch, goes on.
		rotated, err := RotateLogs(m.cfg.logDir, m.cfg.retention, now)
		if err != nil {
			m.cfg.logger.Warn("lifecycle log rotation failed", "dir", m.cfg.logDir, "err", err)
		}
		for _, p := range rotated {
			m.cfg.logger.Info("lifecycle log rotated", "file", p)
		}
	}
	return rec, nil
}

const secondsPerDay = 24 * 60 * 60

// load reads the state file, or takes the record from the cache when the
// file is the version it came from: a stat instead of a read and a decode.
func (m *Machine) load() (Record, error) {
	id, exists, err := statID(m.cfg.statePath)
	if err == nil && exists && m.cache.ok && id == m.cache.id {
		return m.cache.rec, nil
	}
	// The ID is taken before the read: should the file change in between,
	// the next stat differs and the record is read again.
	rec, _, err := loadState(m.cfg.statePath, m.cfg.clock, m.cfg.table)
	if err != nil {
		m.cache.clear()
		return Record{}, err
	}
	m.cache = recordCache{id: id, rec: rec, ok: exists}
	return rec, nil
}

// transitionLine is a state_transition record of the event log.
func transitionLine(now time.Time, from, to State, ev Event, seq int64) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"ts":"`...)
	b = appendTimestamp(b, now)
	b = append(b, `","event":"state_transition","from":`...)
	b = appendJSONString(b, string(from))
	b = append(b, `,"to":`...)
	b = appendJSONString(b, string(to))
	b = append(b, `,"trigger":`...)
	b = appendJSONString(b, string(ev))
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, '}')
}

// shadowWarningLine records that a daemon in shadow run stayed up where it
// would have exited.
func shadowWarningLine(now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"ts":"`...)
	b = appendTimestamp(b, now)
	b = append(b, `","event":"shadow_run_warning","would_action":"hibernate_kill_process",`+
		`"blocked_by":"shadow_run=True","note":"shadow run: the machine entered HIBERNATION `+
		`but the daemon is expected to stay up; without shadow run it would exit"}`...)
	return b
}
