//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
// Python tools write). It reads days from the newest back, and each day's
// plain file from its end back, and stops at the first such line: a
// recovery reads what follows the state file, not the whole log.
func transitionsAfter(dir string, seq int64) ([]loggedTransition, error) {
	days, err := logDays(dir)
	if err != nil {
		return nil, err
	}
	var after []loggedTransition
	for i := len(days) - 1; i >= 0; i-- {
		day, floor, err := dayTransitionsAfter(dir, days[i], seq)
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

// dayTransitionsAfter returns the day's state_transition lines after its
// last one with a seq of at most seq; floor reports whether the day has
// such a line.
func dayTransitionsAfter(dir string, day time.Time, seq int64) (after []loggedTransition, floor bool, err error) {
	// keep sorts one line: false once it is the floor.
	keep := func(e LogEntry) bool {
		var t loggedTransition
		if json.Unmarshal(e.Raw, &t) != nil || t.Seq == nil || *t.Seq <= seq {
			return false
		}
		t.Time = e.Time
		after = append(after, t)
		return true
	}
	path := filepath.Join(dir, LogFileName(day))
	f, err := os.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Only the .gz is left, which cannot be read backwards: read it all.
		q := LogQuery{Since: day, Until: day.Add(24 * time.Hour), Kind: "state_transition"}
		_, err := ReadLog(dir, q, func(e LogEntry) error {
			if !keep(e) {
				after, floor = after[:0], true
			}
			return nil
		})
		return after, floor, err
	}
	if err != nil {
		return nil, false, pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err)
	err = scanBackward(f, func(line []byte) bool {
		t, ev, perr := parseLogLine(line)
		if perr != nil || ev != "state_transition" {
			return true
		}
		floor = !keep(LogEntry{Time: t, Event: ev, Raw: line})
		return !floor
	})
	if err != nil {
		return nil, false, pathErr("read log", path, err)
	}
	slices.Reverse(after)
	return after, floor, nil
}

// scanBackward calls fn with each line of f, the last first, without its
// newline, until fn returns false. Lines longer than maxLogLine are skipped,
// so memory stays bounded whatever the file holds.
func scanBackward(f *os.File, fn func(line []byte) bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const chunk = 64 << 10
	var carry []byte // the start of the file's part not yet split into lines: a line's tail
	long := false    // carry's line is too long and is being skipped
	for pos := fi.Size(); pos > 0; {
		n := min(int64(chunk), pos)
		pos -= n
		data := make([]byte, n, n+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil {
			return err
		}
		data = append(data, carry...)
		end := len(data)
		for {
			i := bytes.LastIndexByte(data[:end], '\n')
			if i < 0 {
				break
			}
			line := data[i+1 : end]
			if !long && len(line) > 0 && len(line) <= maxLogLine && !fn(line) {
				return nil
			}
			end, long = i, false
		}
		carry = data[:end]
		if len(carry) > maxLogLine {
			carry, long = nil, true
		}
	}
	if !long && len(carry) > 0 && len(carry) <= maxLogLine {
		fn(carry)
	}
	return nil
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
		return pathErr("list state dir", dir, err)
	}
	for _, e := range ents {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pathErr("remove stale temp", p, err)
		}
	}
	return nil
}
