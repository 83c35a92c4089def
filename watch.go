//go:build unix

package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultPollInterval is how often a watch that polls reads the state file.
const DefaultPollInterval = 100 * time.Millisecond

// WatchKind says which field of a WatchEvent is set.
type WatchKind int

// The kinds of WatchEvent.
const (
	WatchRecord     WatchKind = iota + 1 // Record: the state file's new content
	WatchTransition                      // Transition: one transition, from the event log
	WatchError                           // Err: something the watch could not read
)

func (k WatchKind) String() string {
	switch k {
	case WatchRecord:
		return "record"
	case WatchTransition:
		return "transition"
	case WatchError:
		return "error"
	}
	return "WatchKind(" + strconv.Itoa(int(k)) + ")"
}

// WatchEvent is one thing a watch delivers. Kind says which of the other
// fields is set.
type WatchEvent struct {
	Kind       WatchKind
	Record     Record
	Transition Transition
	Err        error
}

// WatchOption configures Watch. A nil WatchOption is ignored.
type WatchOption func(*watchConfig)

type watchConfig struct {
	statePath, logDir string
	poll              bool
	interval          time.Duration
	table             *Table
}

// WatchTable reads the state file with t's states, for a directory whose
// Machine runs WithTable(t). Without it, the seed table's.
func WatchTable(t *Table) WatchOption {
	return func(c *watchConfig) {
		if t != nil {
			c.table = t
		}
	}
}

// WatchPolling makes the watch read the state file every interval instead of
// waiting for file notifications (DefaultPollInterval when interval <= 0).
// Without it, a watch polls only where notification is unavailable.
func WatchPolling(interval time.Duration) WatchOption {
	return func(c *watchConfig) {
		c.poll = true
		if interval > 0 {
			c.interval = interval
		}
	}
}

// WatchStatePath watches the state file at path instead of
// dir/lifecycle_state.json, for a Machine made WithStatePath.
func WatchStatePath(path string) WatchOption { return func(c *watchConfig) { c.statePath = path } }

// WatchLogDir reads transitions from the event log in dir instead of
// dir/logs, for a Machine made WithLogDir.
func WatchLogDir(dir string) WatchOption { return func(c *watchConfig) { c.logDir = dir } }

// Watch follows the state file of the lifecycle directory dir from outside,
// as a status bar or `lifecyclectl status --watch` would. It returns a
// channel on which it delivers, in order:
//
//   - first, the current record (a missing file reads as the default record,
//     as in LoadState);
//   - then, each time the file changes, one WatchTransition event for every
//     transition since the record delivered before (read from the event log:
//     the lines whose seq is above the highest transition_seq delivered
//     before and at most the new record's), oldest first, and then the new
//     record as a WatchRecord event.
//
// The transitions come from the log's lines with a seq, read as History
// reads them (the first line of a seq written twice). The Python tools'
// transitions, whose lines have no seq and leave transition_seq as it was,
// show in the records alone.
//
// A record that rewinds is delivered as it is: no state file, a record
// without a transition_seq (the default record a Python tool writes when it
// finds none), or one below the highest transition_seq delivered (a file
// restored from a backup). The next transition's seq will be above every
// seq in the log, so the watch reads the whole log once, in constant
// memory, for its highest seq, delivers the transitions it holds above the
// highest delivered before, and from then on delivers those above it: after
// a reset, the transitions made since, never the log's history again. (When
// the log's highest seq is below the highest delivered, the log was made
// anew, and the rewinding record's own last transition is delivered.) The
// records without a transition_seq that follow (more of the Python tools')
// rewind nothing more.
//
// Every record is whole: the state file is only ever replaced by rename, and
// a record that does not load is never delivered. Changes that follow each
// other faster than the consumer reads are coalesced: the watch loads the
// file again only once the consumer has taken what the last load gave, and
// delivers only what differs. So a burst of bookkeeping updates may reach
// the consumer as its latest record alone; transitions are never lost to
// coalescing, because they come from the log. A consumer that counts
// transitions reads WatchTransition events; one that shows the state reads
// WatchRecord events.
//
// Errors do not end the watch; they are delivered as WatchError events, each
// once until something changes: a state file that does not load (an
// *fs.PathError, wrapping ErrCorruptState when the file's content is not a
// record, else the failed system call's; the watch carries on and delivers
// the next record that loads, even one equal to the last), transitions
// missing from the log (the record still follows), and the loss of file
// notifications (the watch then polls).
//
// The watch waits for changes through file notifications (fsnotify) on the
// state file's directory, not on the file, whose every replacement is a new
// file. Where notification is unavailable, or stops because the directory
// was removed or moved, it reads the file every DefaultPollInterval instead
// and says so with a WatchError event; WatchPolling chooses polling from the
// start.
//
// The channel is closed when ctx ends, and the watch's goroutines have ended
// by then or end at once; a read of the log in progress stops before its
// next line. Watch itself fails, with an *fs.PathError, only
// when the state file's directory does not exist or is not a directory.
func Watch(ctx context.Context, dir string, opts ...WatchOption) (<-chan WatchEvent, error) {
	cfg := watchConfig{interval: DefaultPollInterval, table: defaultTable}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.statePath == "" {
		cfg.statePath = filepath.Join(dir, DefaultStateFile)
	}
	if cfg.logDir == "" {
		cfg.logDir = filepath.Join(dir, DefaultLogDir)
	}
	w := &watcher{statePath: filepath.Clean(cfg.statePath), logDir: cfg.logDir, interval: cfg.interval, table: cfg.table}
	w.dir = filepath.Dir(w.statePath)
	fi, err := os.Stat(w.dir)
	if err == nil && !fi.IsDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, pathErr("watch", w.dir, err)
	}
	if cfg.poll {
		w.ticker = time.NewTicker(w.interval)
	} else if err := w.notify(); err != nil {
		w.fallBack(err)
	}
	out := make(chan WatchEvent)
	go w.run(ctx, out)
	return out, nil
}

// errNotifyLost is why a watch polls after its directory went away.
var errNotifyLost = errors.New("the directory was removed or moved")

// watcher is the state of one watch, owned by its goroutine.
type watcher struct {
	statePath, dir, logDir string
	interval               time.Duration
	table                  *Table
	fw                     *fsnotify.Watcher // nil when polling
	ticker                 *time.Ticker      // nil when notified

	queue []WatchEvent // what the last load found, not yet delivered

	// What the consumer was last told about the state file.
	delivered  bool   // a record was delivered
	last       Record // the last record delivered
	missing    bool   // that record was the default one of a missing file
	lastErr    string // the error delivered since, if any
	lastHasSeq bool   // that record's file held a transition_seq
	mark       watchMark
}

// notify starts file notifications on the state file's directory.
func (w *watcher) notify() error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := fw.Add(w.dir); err != nil {
		return errors.Join(err, fw.Close())
	}
	w.fw = fw
	return nil
}

// fallBack switches to polling, and tells the consumer why.
func (w *watcher) fallBack(reason error) {
	if w.fw != nil {
		if err := w.fw.Close(); err != nil {
			reason = errors.Join(reason, err)
		}
		w.fw = nil
	}
	if w.ticker == nil {
		w.ticker = time.NewTicker(w.interval)
	}
	w.report(&fs.PathError{Op: "watch", Path: w.dir,
		Err: fmt.Errorf("file notification unavailable (%w); polling every %v instead", reason, w.interval)})
}

// report queues an error event, unless the event queued last is the same
// error: a flood of one error while the consumer is not reading takes one
// slot.
func (w *watcher) report(err error) {
	if n := len(w.queue); n > 0 && w.queue[n-1].Kind == WatchError && w.queue[n-1].Err.Error() == err.Error() {
		return
	}
	w.queue = append(w.queue, WatchEvent{Kind: WatchError, Err: err})
}

// run delivers events until ctx ends, then closes out.
func (w *watcher) run(ctx context.Context, out chan<- WatchEvent) {
	defer close(out)
	defer w.stop(out)
	dirty := true // the file may differ from what the consumer was told
	for ctx.Err() == nil {
		if dirty && len(w.queue) == 0 {
			dirty = false
			w.load(ctx)
			continue
		}
		var send chan<- WatchEvent
		var head WatchEvent
		if len(w.queue) > 0 {
			send, head = out, w.queue[0]
		}
		var events <-chan fsnotify.Event
		var errs <-chan error
		var tick <-chan time.Time
		if w.fw != nil {
			events, errs = w.fw.Events, w.fw.Errors
		}
		if w.ticker != nil {
			tick = w.ticker.C
		}
		// While a send waits, notifications keep being read, so that they
		// collapse into dirty instead of piling up.
		select {
		case <-ctx.Done():
		case send <- head:
			w.queue[0] = WatchEvent{}
			w.queue = w.queue[1:]
		case <-tick:
			dirty = true
		case e, ok := <-events:
			name := filepath.Clean(e.Name)
			switch {
			case !ok:
				w.fallBack(errors.New("notifications stopped"))
				dirty = true
			case name == w.dir && e.Op.Has(fsnotify.Remove|fsnotify.Rename):
				w.fallBack(errNotifyLost)
				dirty = true
			case name == w.statePath:
				dirty = true
			}
		case err, ok := <-errs:
			switch {
			case !ok:
				w.fallBack(errors.New("notifications stopped"))
			case errors.Is(err, fsnotify.ErrEventOverflow):
				// Notifications were dropped; loading again catches up.
			default:
				w.report(&fs.PathError{Op: "watch", Path: w.dir, Err: err})
			}
			dirty = true
		}
	}
}

// stop ends notifications and polling.
func (w *watcher) stop(out chan<- WatchEvent) {
	if w.ticker != nil {
		w.ticker.Stop()
	}
	if w.fw != nil {
		if err := w.fw.Close(); err != nil {
			// The watch is over and the consumer may have stopped reading:
			// tell it only if it still is.
			select {
			case out <- WatchEvent{Kind: WatchError, Err: &fs.PathError{Op: "close watch", Path: w.dir, Err: err}}:
			default:
			}
		}
	}
}

// load reads the state file and queues what the consumer has not been told.
func (w *watcher) load(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		data, rec, exists, hasSeq, err := w.read()
		switch {
		case err != nil:
			if msg := err.Error(); msg != w.lastErr {
				w.lastErr = msg
				w.report(err)
			}
			return
		case !w.delivered || w.lastErr != "":
		case !exists && w.missing, exists && !w.missing && rec.Equal(w.last):
			return
		}
		// A record that rewinds (a reset, a backup) is met once: the
		// records that follow it with the same seq (more of the Python
		// tools' records without one) rewind nothing more.
		rewound := (!hasSeq || rec.TransitionSeq < w.mark.seq) &&
			!(w.delivered && hasSeq == w.lastHasSeq && rec.TransitionSeq == w.last.TransitionSeq)
		switch {
		case rewound && attempt <= 3:
			if !w.relearn(ctx, rec, hasSeq, data, exists) {
				if ctx.Err() != nil {
					return
				}
				continue // the file changed while the log was read
			}
		case hasSeq && (!w.mark.set || rec.TransitionSeq > w.mark.seq):
			if w.mark.set {
				w.queueTransitions(ctx, rec.TransitionSeq, rec.LastTransition)
			}
			w.mark = watchMark{seq: rec.TransitionSeq, since: rec.SinceTS, set: true}
		}
		if ctx.Err() != nil {
			return // the watch is over; nothing more is delivered
		}
		w.delivered, w.last, w.lastHasSeq, w.missing, w.lastErr = true, rec, hasSeq, !exists, ""
		w.queue = append(w.queue, WatchEvent{Kind: WatchRecord, Record: rec.Clone()})
		return
	}
}

// read reads the state file: its bytes, its record (a missing file reads
// as the default record, as in LoadState), and whether it holds a
// transition_seq.
func (w *watcher) read() (data []byte, rec Record, exists, hasSeq bool, err error) {
	data, exists, err = readStateInto(w.statePath, nil, func([]byte) bool { return false })
	switch {
	case err != nil:
		return nil, Record{}, exists, false, err
	case !exists:
		return nil, w.table.defaultRecord(time.Now()), false, false, nil
	}
	rec, hasSeq, err = decodeRecordSeq(data, w.table)
	if err != nil {
		return nil, Record{}, true, false, &fs.PathError{Op: "load state", Path: w.statePath,
			Err: fmt.Errorf("%w: %w", ErrCorruptState, err)}
	}
	return data, rec, true, hasSeq, nil
}

// watchMark is the highest seq the consumer knows to be past: the last
// record's transition_seq, or the log's highest seq at a rewind. The
// transitions delivered with a record are those above it: never the same
// ones twice.
type watchMark struct {
	seq   int64
	since time.Time // when it was made, as its record or log line says; zero: not known
	set   bool
}

// relearn sets the mark from the log when the state file rewound: a reset
// (no file, or a default record a Python tool wrote, without a
// transition_seq), or a record below the mark (restored from a backup).
// The next transition's seq will be above every seq in the log, so the
// log's highest seq is what is past. The transitions the log holds above
// the old mark were made since the record delivered before, and are
// queued. A log whose highest seq is below the old mark was replaced (its
// directory removed and made again): the record's own last transition is
// all that is known to be new, and is queued. The log is read whole, once
// per rewind, in constant memory, and the read stops when ctx ends. It
// reports false when ctx ended or the file changed meanwhile (a transition
// may have been made): load reads it again.
func (w *watcher) relearn(ctx context.Context, rec Record, hasSeq bool, data []byte, exists bool) bool {
	top, at, err := logTop(ctx, w.logDir)
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		w.report(err) // learnt at the next rewind
		return true
	}
	again, stillExists, err := readStateInto(w.statePath, nil, func([]byte) bool { return false })
	if err != nil || stillExists != exists || !bytes.Equal(again, data) {
		return false
	}
	lt := rec.LastTransition
	switch {
	case w.mark.set && top > w.mark.seq:
		w.queueTransitions(ctx, top, nil)
	case w.mark.set && hasSeq && top < w.mark.seq && lt != nil && lt.Seq == rec.TransitionSeq:
		w.queue = append(w.queue, WatchEvent{Kind: WatchTransition, Transition: *lt})
	}
	w.mark = watchMark{seq: top, since: at, set: true}
	if hasSeq && rec.TransitionSeq > top {
		w.mark = watchMark{seq: rec.TransitionSeq, since: rec.SinceTS, set: true}
	}
	return true
}

// queueTransitions queues a WatchTransition event for each transition above
// the mark up to upTo.
func (w *watcher) queueTransitions(ctx context.Context, upTo int64, last *Transition) {
	for _, t := range w.transitions(ctx, upTo, last) {
		w.queue = append(w.queue, WatchEvent{Kind: WatchTransition, Transition: t})
	}
}

// transitions are those above the mark up to upTo, in seq order. The last
// one comes from last, a record's last_transition, when it is upTo's (the
// state file is written before the log); the others from the log, first
// from a day before the mark was made on, then, should that miss some (the
// clock was set back further), from the whole log.
func (w *watcher) transitions(ctx context.Context, upTo int64, last *Transition) []Transition {
	if last != nil && last.Seq == upTo {
		upTo--
	} else {
		last = nil
	}
	var ts []Transition
	if upTo > w.mark.seq {
		var since time.Time
		if !w.mark.since.IsZero() {
			since = w.mark.since.Add(-logDay)
		}
		var err error
		ts, err = readTransitions(ctx, w.logDir, w.mark.seq, upTo, since)
		if err != nil && ctx.Err() == nil && !since.IsZero() {
			ts, err = readTransitions(ctx, w.logDir, w.mark.seq, upTo, time.Time{})
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.report(err)
		}
	}
	if last != nil {
		ts = append(ts, *last)
	}
	return ts
}
