//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The state file is written before the log, so after any crash the log
// lacks at most the line of the state file's own last transition, and never
// holds a transition the state file did not take. reconcile is what a
// Machine does with a state file it did not write itself (the first it
// reads, or one another process wrote): it appends that line if the log
// lacks it, and after a reset learns the log's highest seq. It never
// changes the state file: the record stays as its writer left it.
func (m *Machine) reconcile(rec *Record, exists, hasSeq bool) error {
	if !exists || !hasSeq {
		// A reset: no state file, or one that lost count (a default record
		// the Python tools wrote). The next transition's seq must still be
		// above every seq in the log, and nothing but the log knows them.
		top, err := maxLoggedSeq(m.cfg.logDir)
		if err != nil {
			return err
		}
		rec.TransitionSeq = max(rec.TransitionSeq, top)
		return nil
	}
	lt := rec.LastTransition
	if lt == nil || lt.Seq != rec.TransitionSeq {
		// No transition of this version's in the file: written by an
		// earlier version, which logged a transition before its state
		// file, or by hand. Its log may be a line ahead; look at the end of
		// the newest day's file, where such a line is.
		// An error reading or syncing the log poisons the Machine: a sync
		// that failed may report success when tried again, for data that is
		// lost.
		return m.write(m.log.seqFloor(rec))
	}
	logged, above, err := m.log.hasSeq(lt.Time, lt.Seq)
	if err != nil {
		return m.write(err)
	}
	if above > rec.TransitionSeq {
		// The log went on after this record: a state file restored from a
		// backup, or lines an earlier version logged before its state file.
		// The record stays; its next transition takes the next free seq.
		m.cfg.logger.Warn("lifecycle log holds transitions after the state file's; not replaying them",
			"state", m.cfg.statePath, "transition_seq", rec.TransitionSeq, "log_seq", above)
		rec.TransitionSeq = above
	}
	if logged {
		return nil
	}
	if err := m.write(m.log.append(lt.Time, transitionLines(lt, rec.ShadowRun)...)); err != nil {
		return err
	}
	m.cfg.logger.Info("lifecycle log line restored from the state file", "state", m.cfg.statePath,
		"seq", lt.Seq, "from", lt.From, "to", lt.To, "event", lt.Event)
	return nil
}

// seqFloor raises rec's transition_seq to the highest seq at the end of the
// newest day's log file, should that be above it.
func (l *eventLog) seqFloor(rec *Record) error {
	days, err := logDays(l.dir)
	if err != nil || len(days) == 0 {
		return err
	}
	_, above, err := l.hasSeq(days[len(days)-1], rec.TransitionSeq)
	rec.TransitionSeq = max(rec.TransitionSeq, above)
	return err
}

// logDays lists the UTC days that have a log file, oldest first.
func logDays(dir string) ([]time.Time, error) {
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr("read log dir", dir, err)
	}
	var days []time.Time
	for _, f := range files {
		if f.kind != tmpLog && (len(days) == 0 || !days[len(days)-1].Equal(f.day)) {
			days = append(days, f.day)
		}
	}
	return days, nil
}

// maxLoggedSeq is the highest seq of the state_transition lines in dir,
// read from every file, plain and compressed, whatever their names' order:
// a clock set back writes to a day already past.
func maxLoggedSeq(dir string) (int64, error) {
	if onWholeLogRead != nil {
		onWholeLogRead()
	}
	var top int64
	_, err := ReadLog(dir, LogQuery{Kind: "state_transition"}, func(e LogEntry) error {
		if seq, ok := lineSeq(e.Raw); ok {
			top = max(top, seq)
		}
		return nil
	})
	return top, err
}

// onWholeLogRead, when a test sets it, is called each time a Machine reads
// the whole log; nil in production.
var onWholeLogRead func()

// hasSeq reports whether the log holds the state_transition line seq, which
// was written (if at all) to the file of day's UTC day: its plain file, read
// from the end back to the first line with a seq not above seq, and its
// rotated .gz. above is the highest seq it passed on the way, if any was
// above seq. A line found in the plain file is made durable (the file
// synced, and its entry) before hasSeq reports it.
func (l *eventLog) hasSeq(day time.Time, seq int64) (found bool, above int64, err error) {
	path := filepath.Join(l.dir, LogFileName(day))
	f, err := fsys.OpenFile(path, logReadFlags, 0)
	switch {
	case err == nil:
		serr := scanBackward(f, func(line []byte) bool {
			_, ev, perr := parseLogLine(line)
			if perr != nil || ev != "state_transition" {
				return true
			}
			s, ok := lineSeq(line)
			if !ok {
				return true
			}
			if s > seq {
				above = max(above, s)
				return true
			}
			found = s == seq
			return false
		})
		if serr == nil && found {
			// It may be in the page cache only, its writer stopped before
			// its fsync: make it durable before a line follows it.
			if serr = fsys.Sync(f); serr == nil {
				serr = fsys.SyncDir(l.dir)
			}
		}
		closeFile(f, path, &serr)
		if serr != nil {
			return false, 0, pathErr("read log", path, serr)
		}
		if found {
			return true, above, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, 0, pathErr("open log", path, err)
	}
	gz := path + gzSuffix
	g, err := os.OpenFile(gz, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, above, nil
	}
	if err != nil {
		return false, 0, pathErr("open log", gz, err)
	}
	var st LogStats
	err = readLogFile(g, gz, true, LogQuery{Kind: "state_transition"}, func(e LogEntry) error {
		if s, ok := lineSeq(e.Raw); ok && s == seq {
			found = true
		} else if ok && s > seq {
			above = max(above, s)
		}
		return nil
	}, &st)
	closeFile(g, gz, &err)
	return found, above, err
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
		if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pathErr("remove stale temp", p, err)
		}
	}
	return nil
}
