package lifecycle

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// loggedTransition is a state_transition line of the log.
type loggedTransition struct {
	Time    time.Time
	From    State  `json:"from"`
	To      State  `json:"to"`
	Trigger Event  `json:"trigger"`
	Seq     *int64 `json:"seq"` // absent in lines the Python original wrote
}

// recover rolls rec forward over the transitions that the log holds and the
// state file lost: a dispatch that crashed after syncing its log line and
// before its rename, or renames a power loss undid (a transition does not
// sync the directory; the log line is its durable record). Each dispatch read
// the record the previous one wrote, under the lock, so replaying the lines
// in order rebuilds the records they meant to write. A line applies when its
// seq is one past the record's transition_seq and its from is the record's
// state; replay stops at the first line that does not.
func (m *Machine) recover(rec Record) (Record, error) {
	if err := removeStaleTemps(m.cfg.statePath); err != nil {
		return Record{}, err
	}
	lines, err := transitionsAfter(m.cfg.logDir, rec.TransitionSeq)
	if err != nil || len(lines) == 0 {
		return rec, err
	}
	next := rec
	applied := 0
	for _, ln := range lines {
		if *ln.Seq != next.TransitionSeq+1 || ln.From != next.CurrentState {
			break
		}
		if err := m.checkRecovered(ln); err != nil {
			return Record{}, err
		}
		next = apply(next, ln.Trigger, ln.To, true, ln.Time, next.ShadowRun)
		applied++
	}
	if applied < len(lines) {
		m.cfg.logger.Warn("lifecycle log holds transitions that do not follow the state file; not replaying them",
			"state", m.cfg.statePath, "state_seq", next.TransitionSeq, "state", next.CurrentState,
			"first_seq", *lines[applied].Seq, "first_from", lines[applied].From)
	}
	if applied == 0 {
		return rec, nil
	}
	if err := m.save(next, true); err != nil {
		return Record{}, err
	}
	m.cfg.logger.Info("lifecycle state rolled forward from the log", "state", m.cfg.statePath,
		"from_seq", rec.TransitionSeq, "to_seq", next.TransitionSeq, "to", next.CurrentState)
	return next, nil
}

// transitionsAfter returns, in log order, the state_transition lines that
// follow the last one with a seq of at most seq (or without a seq: those the
// Python tools write). It reads days from the newest back, and stops at the
// first day that holds such a line, so it reads little more than one day.
func transitionsAfter(dir string, seq int64) ([]loggedTransition, error) {
	days, err := logDays(dir)
	if err != nil {
		return nil, err
	}
	var after []loggedTransition
	for i := len(days) - 1; i >= 0; i-- {
		var day []loggedTransition
		floor := false
		q := LogQuery{Since: days[i], Until: days[i].Add(24 * time.Hour), Kind: "state_transition"}
		_, err := ReadLog(dir, q, func(e LogEntry) error {
			var t loggedTransition
			if json.Unmarshal(e.Raw, &t) != nil || t.Seq == nil || *t.Seq <= seq {
				day, floor = day[:0], true
				return nil
			}
			t.Time = e.Time
			day = append(day, t)
			return nil
		})
		if err != nil {
			return nil, err
		}
		after = append(day, after...)
		if floor {
			break
		}
	}
	return after, nil
}

// logDays lists the UTC days that have a log file, oldest first.
func logDays(dir string) ([]time.Time, error) {
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var days []time.Time
	for _, f := range files {
		if f.kind != tmpLog && (len(days) == 0 || !days[len(days)-1].Equal(f.day)) {
			days = append(days, f.day)
		}
	}
	return days, nil
}

// removeStaleTemps deletes the temporary files that writes of path left
// behind when a crash stopped them before their rename. Under the lock no
// write is in flight, so every such file is stale.
func removeStaleTemps(path string) error {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return &fs.PathError{Op: "list state dir", Path: dir, Err: unwrapPath(err)}
	}
	for _, e := range ents {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &fs.PathError{Op: "remove stale temp", Path: p, Err: unwrapPath(err)}
		}
	}
	return nil
}
