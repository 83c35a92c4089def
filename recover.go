//go:build unix

package lifecycle

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
		m.seqRead = true
		return nil
	}
	lt := rec.LastTransition
	if lt == nil || lt.Seq != rec.TransitionSeq {
		// No transition of this version's in the file: written by an
		// earlier version, which logged a transition before its state
		// file, or by hand. Its log may be a line ahead; look at the end of
		// the newest day's file, where such a line is.
		// An error reading, writing or syncing the log poisons the Machine:
		// a sync that failed may report success when tried again, for data
		// that is lost.
		day, err := m.log.seqFloor(rec)
		if err != nil {
			return m.write(err)
		}
		return m.raiseToLaterLines(rec, 0, day)
	}
	found, err := m.log.settleLine(lt.Time, lt.Seq)
	if err != nil {
		return m.write(err)
	}
	if err := m.raiseToLaterLines(rec, found.above, lt.Time); err != nil {
		return err
	}
	if found.moved {
		m.cfg.logger.Info("lifecycle log line another writer left written again", "file", found.file, "seq", lt.Seq)
	}
	if found.ok {
		return nil
	}
	if err := m.write(m.log.appendOwn(lt.Time, lt.Seq, transitionLines(lt, rec.ShadowRun)...)); err != nil {
		return err
	}
	m.cfg.logger.Info("lifecycle log line restored from the state file", "state", m.cfg.statePath,
		"seq", lt.Seq, "from", lt.From, "to", lt.To, "event", lt.Event)
	return nil
}

// seqFloor raises rec's transition_seq to the highest seq at the end of the
// newest day's log file, should that be above it, and writes again the line
// of rec's own seq there, as settleLine does. It returns the day it read.
func (l *eventLog) seqFloor(rec *Record) (time.Time, error) {
	days, err := logDays(l.dir)
	if err != nil || len(days) == 0 {
		return time.Time{}, err
	}
	day := days[len(days)-1]
	found, err := l.settleLine(day, rec.TransitionSeq)
	rec.TransitionSeq = max(rec.TransitionSeq, found.above)
	return day, err
}

// raiseToLaterLines makes rec's next seq above every seq in the log when
// the log went on after rec: a state file restored from a backup, or lines
// an earlier version logged before its state file. above is the highest
// seq found after rec's own line in the files of its day, day. The record stays; its next transition takes the next free seq.
//
// Later lines may be in any file, whatever its name (a clock set back
// writes to an earlier day). Each file's highest seq is its last, since
// seqs are written in order, so the end of every plain file is read, and
// the .gz files of days from rec's own on (reading a .gz means reading it
// whole); only if one of them is above rec is the whole log read, for the
// highest seq of all. So New on an intact directory reads only ends.
func (m *Machine) raiseToLaterLines(rec *Record, above int64, day time.Time) error {
	top := above
	if top <= rec.TransitionSeq {
		var err error
		if top, err = m.log.tailSeq(day); err != nil {
			return m.write(err)
		}
	}
	if top <= rec.TransitionSeq {
		return nil
	}
	all, err := maxLoggedSeq(m.cfg.logDir)
	if err != nil {
		return m.write(err)
	}
	m.seqRead = true
	m.cfg.logger.Warn("lifecycle log holds transitions after the state file's; not replaying them",
		"state", m.cfg.statePath, "transition_seq", rec.TransitionSeq, "log_seq", max(top, all))
	rec.TransitionSeq = max(top, all)
	return nil
}

// tailSeq is the highest seq among the last state_transition line with a
// seq of each plain log file, and the lines of the .gz files of days after
// since. The files of since's own day, which settleLine read, are skipped.
func (l *eventLog) tailSeq(since time.Time) (int64, error) {
	files, err := listLogs(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, pathErr("read log dir", l.dir, err)
	}
	sinceDay := since.UTC().Truncate(logDay)
	var top int64
	for _, lf := range files {
		path := filepath.Join(l.dir, lf.name)
		if lf.day.Equal(sinceDay) {
			continue
		}
		var seq int64
		switch {
		case lf.kind == plainLog:
			seq, err = lastSeq(path)
		case lf.kind == gzLog && lf.day.After(sinceDay):
			_, seq, err = gzHasSeq(path, 0)
		}
		if err != nil {
			return 0, err
		}
		top = max(top, seq)
	}
	return top, nil
}

// lastSeq is the seq of the last state_transition line with one in the
// plain log file at path; 0 if none, or if the file is gone.
func lastSeq(path string) (seq int64, err error) {
	f, err := os.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err)
	err = scanBackward(f, func(line []byte, _ int64) bool {
		_, ev, perr := parseLogLine(line)
		if perr != nil || ev != "state_transition" {
			return true
		}
		s, ok := lineSeq(line)
		seq = s
		return !ok
	})
	if err != nil {
		return 0, pathErr("read log", path, err)
	}
	return seq, nil
}

// errStateChanged is rewriteState's report that the state file no longer
// holds the bytes it was to rewrite.
var errStateChanged = errors.New("replaced by another writer while it was being rewritten")

// rewriteState writes data, the bytes just read from the state file at
// path, into a new temporary file, synced, renamed over path, its directory
// synced: the path of every write of the state file. A state file another
// writer left may be in the page cache only (its writer stopped before its
// fsync, or its fsync failed, and a second fsync reports success for bytes
// the disk lacks), so it is not synced again but written again, into new
// blocks, before anything is built on it. The record is the writer's, byte
// for byte. If the file holds other bytes by the rename (a writer that takes
// no lock replaced it), nothing is renamed and the error wraps
// errStateChanged: the caller reads it again. A writer that replaces it in
// the instant between that check and the rename loses its write, as it can
// to any dispatch.
func rewriteState(path string, data []byte) error {
	return replaceFileIf(path, data, func() error {
		now, exists, err := readStateInto(path, nil, func([]byte) bool { return false })
		switch {
		case err != nil:
			return err
		case !exists:
			return &fs.PathError{Op: "rewrite state", Path: path, Err: fs.ErrNotExist}
		case !bytes.Equal(now, data):
			return &fs.PathError{Op: "rewrite state", Path: path, Err: errStateChanged}
		}
		return nil
	})
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

// lineFound is what settleLine found of a state_transition line.
type lineFound struct {
	ok    bool   // the log holds it
	above int64  // the highest seq passed on the way, if any was above it
	moved bool   // it was in bytes another writer left, and is written again
	file  string // where it was found
}

// settleLine looks for the state_transition line seq in the file of day's
// UTC day, which is where it was written if at all: in its plain file, read
// from the end back to the first line with a seq not above seq, and in its
// rotated .gz.
//
// A line found in the plain file that this eventLog did not write and sync
// itself is not trusted to be on disk: its writer may have stopped before
// its fsync, or its fsync may have failed, and then the page cache holds
// bytes that the disk lacks while a second fsync reports success (and
// after a failed writeback ext4 keeps zeros in those blocks whatever is
// written over them). So it is written again (see relocate) before
// settleLine reports it. A line followed by lines of higher seqs is left
// where it is: a state file restored from a backup, whose next seq is
// above them. The .gz was written, synced and renamed by a rotation whole,
// and is trusted.
func (l *eventLog) settleLine(day time.Time, seq int64) (lineFound, error) {
	path := filepath.Join(l.dir, LogFileName(day))
	gz := path + gzSuffix
	// The .gz first: a line it holds may also be in the part of the plain
	// file that the .gz says it holds (a rotation stopped before it removed
	// the plain file), which must not change.
	inGz, above, err := gzHasSeq(gz, seq)
	if err != nil {
		return lineFound{}, err
	}
	found := lineFound{ok: inGz, above: above, file: path}
	if inGz {
		found.file = gz
	}
	_, err = os.Lstat(path)
	switch {
	case err == nil:
		return found, l.settlePlain(path, seq, &found)
	case !errors.Is(err, fs.ErrNotExist):
		return found, pathErr("open log", path, err)
	}
	return found, nil
}

// settlePlain is settleLine's look in the plain file at path, under the
// file's flock.
func (l *eventLog) settlePlain(path string, seq int64, found *lineFound) (err error) {
	f, fi, err := l.open(path)
	if err != nil {
		return err
	}
	a := &logAppender{log: l, f: f, fi: fi, path: path, size: fi.Size()}
	defer func() {
		if cerr := a.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	spans, dups, above, err := findTransition(f, seq)
	if err != nil {
		return pathErr("read log", path, err)
	}
	found.above = max(found.above, above)
	if spans == nil || found.ok {
		return nil // missing, or held by the .gz
	}
	found.ok, found.file = true, path
	if above > seq || l.wrote(fi, seq) {
		return nil
	}
	if err := a.relocate(spans, dups); err != nil {
		return err
	}
	l.own(a, seq)
	found.moved = true
	return nil
}

// lineSpan is a line of a log file: its offset and its bytes, without the
// newline.
type lineSpan struct {
	off  int64
	line []byte
}

// findTransition reads f from the end back to the first state_transition
// line with a seq not above seq. If that line has seq, spans is it, then
// the shadow_run_warning right after it if there is one (written with it);
// dups are the earlier copies of those lines, byte for byte, that a crash
// in the middle of a relocation left (see relocate); above is the highest
// seq passed on the way, if any was above seq.
func findTransition(f *os.File, seq int64) (spans, dups []lineSpan, above int64, err error) {
	var next *lineSpan // the line after the current one, if a shadow_run_warning
	err = scanBackward(f, func(line []byte, off int64) bool {
		_, ev, perr := parseLogLine(line)
		if perr != nil || ev != "state_transition" {
			next = nil
			if perr == nil && ev == "shadow_run_warning" {
				next = &lineSpan{off: off, line: bytes.Clone(line)}
			}
			return true
		}
		s, ok := lineSeq(line)
		if !ok {
			next = nil
			return true
		}
		if s > seq {
			above, next = max(above, s), nil
			return true
		}
		if s != seq || (spans != nil && !bytes.Equal(line, spans[0].line)) {
			return false
		}
		found := []lineSpan{{off: off, line: bytes.Clone(line)}}
		if next != nil {
			found = append(found, *next)
		}
		next = nil
		if spans == nil {
			spans = found
		} else {
			dups = append(dups, found...)
		}
		return true // on to an earlier copy, if any
	})
	return spans, dups, above, err
}

// relocate writes the lines of spans again, at the end of the file, into
// blocks the file did not have, then blanks them where they were, and the
// copies dups an earlier relocation left: their bytes become newlines,
// which readers skip. Both are synced, the append first, so that the line
// is on disk at every moment: a crash between the two leaves it twice,
// byte for byte, and the next relocation blanks the earlier copy. New
// blocks, because after a failed writeback the old ones may never hold
// anything again: the append starts with newlines up to the next block
// boundary (see write). Nothing but the lines' own bytes is rewritten, and
// only by appending and by writing over those bytes, so a writer that takes
// no lock and appends meanwhile (every Python writer) loses nothing.
func (a *logAppender) relocate(spans, dups []lineSpan) error {
	lines := make([][]byte, len(spans))
	for i, s := range spans {
		lines[i] = s.line
	}
	a.pad = true
	if err := a.append(lines...); err != nil {
		return err
	}
	w, err := fsys.OpenFile(a.path, os.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return pathErr("open log", a.path, err)
	}
	err = blank(w, a.fi, append(spans, dups...))
	if cerr := w.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return pathErr("rewrite log", a.path, err)
	}
	return nil
}

// blank writes newlines over spans in w, which must be the file fi
// describes, and syncs it.
func blank(w *os.File, fi fs.FileInfo, spans []lineSpan) error {
	if wi, err := w.Stat(); err != nil {
		return err
	} else if !os.SameFile(wi, fi) {
		return errors.New("replaced while it was read")
	}
	for _, s := range spans {
		if _, err := fsys.WriteAt(w, bytes.Repeat([]byte{'\n'}, len(s.line)), s.off); err != nil {
			return err
		}
	}
	return fsys.Sync(w)
}

// gzHasSeq reports whether the rotated file gz holds the state_transition
// line seq, and the highest seq above it that it holds. A missing gz holds
// nothing.
func gzHasSeq(gz string, seq int64) (found bool, above int64, err error) {
	g, err := os.OpenFile(gz, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
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
// behind when a crash stopped them before their rename. A writer holds its
// temporary file's flock from its creation to its rename (see createTemp),
// writers that take no lifecycle lock (SaveState, WriteWakeSignal) among
// them: a file whose flock is free has no live writer, and only such a file
// is removed, holding the flock while it does.
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
		if err := removeStaleTemp(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// removeStaleTemp removes the temporary file p unless a writer holds its
// flock, or p names another file by the time the flock is taken.
func removeStaleTemp(p string) (err error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // renamed or removed by its writer meanwhile
	}
	if err != nil {
		return pathErr("open stale temp", p, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = pathErr("close stale temp", p, cerr)
		}
	}()
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return nil // a live writer's
	} else if err != nil {
		return pathErr("lock stale temp", p, err)
	}
	held, err := f.Stat()
	if err != nil {
		return pathErr("stat stale temp", p, err)
	}
	now, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(held, now) {
		return nil
	}
	if err != nil {
		return pathErr("stat stale temp", p, err)
	}
	if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("remove stale temp", p, err)
	}
	return nil
}
