//go:build unix

package lifecycle

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LogEntry is one well-formed line of the event log.
type LogEntry struct {
	Time   time.Time       // the line's "ts"
	Event  string          // the line's "event": state_transition, wrapper_event, ...
	Raw    json.RawMessage // the whole line as written, without its newline
	File   string          // path of the file it was read from
	Offset int64           // byte offset of the line in the (uncompressed) file
}

// MalformedLine is a line a reader skipped.
type MalformedLine struct {
	File   string
	Offset int64
	Torn   bool  // the last line of a file with no newline: a crash mid-append
	Err    error // what is wrong with it
}

// LogQuery selects what ReadLog streams. Zero values select everything.
type LogQuery struct {
	Since, Until time.Time           // Since <= ts < Until; zero means unbounded
	Kind         string              // only entries whose "event" is Kind
	OnMalformed  func(MalformedLine) // told of each skipped line

	// ctx, if not nil, is checked before each line: a read of a long log
	// stops, with ctx's error, soon after ctx ends.
	ctx context.Context
}

// LogStats counts what ReadLog saw.
type LogStats struct {
	Files     int // files opened
	Entries   int // well-formed lines delivered to the callback
	Malformed int // lines skipped
	Torn      int // of those, torn last lines
}

// Log file names: one plain file per UTC day, its rotated .gz, and the
// temporary file a rotation writes the .gz to.
const (
	logPrefix   = "lifecycle-events-"
	logSuffix   = ".jsonl"
	gzSuffix    = ".gz"
	gzTmpSuffix = ".gz.tmp"
)

const (
	logDay     = 24 * time.Hour
	maxLogLine = 1 << 20 // longer lines are skipped, so a reader's memory stays bounded
	logBufSize = 64 << 10

	logFileMode    = 0o600
	logDirMode     = 0o700
	logAppendFlags = os.O_RDWR | os.O_APPEND | os.O_CREATE | unix.O_CLOEXEC | unix.O_NOFOLLOW
	logReadFlags   = os.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW

	// How often append reopens a file that a rotation removed while it
	// waited for the lock, before it gives up.
	logOpenAttempts = 3
)

// LogFileName is the base name of the log file for t's UTC day: where a
// program that appends lines of its own kinds (as the Python wrapper
// appends wrapper_event lines) writes a line stamped t.
func LogFileName(t time.Time) string {
	return logPrefix + t.UTC().Format(time.DateOnly) + logSuffix
}

// LogFile is a file of an event log directory.
type LogFile struct {
	Path string    // dir joined with the file's name
	Day  time.Time // the UTC day it holds
	Gzip bool      // rotated: a .jsonl.gz
}

// LogFiles lists the log files of dir, oldest day first, a day's plain file
// before its .gz, for readers that follow the log themselves (as
// lifecyclectl log --follow does; ReadLog reads a log once). Names are not
// write order: a clock set back writes to an earlier day's file. A missing
// dir has none.
func LogFiles(dir string) ([]LogFile, error) {
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr("read log dir", dir, err)
	}
	out := make([]LogFile, 0, len(files))
	for _, f := range files {
		if f.kind != tmpLog {
			out = append(out, LogFile{Path: filepath.Join(dir, f.name), Day: f.day, Gzip: f.kind == gzLog})
		}
	}
	return out, nil
}

// ReadLog streams the entries of the log directory dir, oldest day first, in
// file order within a day, plain and gzip-compressed files alike, calling fn
// for each one that matches q. It never holds a whole file in memory.
//
// Only regular files named like LogFileName, with or without ".gz", are
// read; files whose day lies outside [q.Since, q.Until) are not opened. A
// day may have both: a rotation stopped by a crash (the plain file starts
// with the .gz's content, or is its tail), or a plain file made again after
// the day was rotated (a clock that ran ahead, then was set right). Each
// record is read once: from the plain file alone, the .gz alone, or the .gz
// then the plain file. A missing dir reads as empty.
//
// A line that is not valid UTF-8, not a JSON object with a non-empty string
// "event" and a timestamp "ts", or longer than 1 MiB is skipped, counted and
// reported to q.OnMalformed; empty lines are skipped silently. A corrupt
// gzip stream counts as one malformed line at the offset where it breaks,
// and reading goes on with the next file. An unterminated last line that is
// a complete record is delivered; a line being appended while ReadLog runs
// may be reported as torn.
//
// An error from fn stops the read and is returned as it is; other errors
// are *fs.PathError values naming the file.
func ReadLog(dir string, q LogQuery, fn func(LogEntry) error) (LogStats, error) {
	var st LogStats
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, pathErr("read log dir", dir, err)
	}
	for i, lf := range files {
		if lf.kind == tmpLog || lf.kind == gzLog && i > 0 && files[i-1].kind == plainLog && files[i-1].day.Equal(lf.day) {
			continue // a day's .gz is read with its plain file, which comes first
		}
		if !q.Until.IsZero() && !lf.day.Before(q.Until) ||
			!q.Since.IsZero() && !lf.day.Add(logDay).After(q.Since) {
			continue
		}
		path := filepath.Join(dir, lf.name)
		if lf.kind == gzLog {
			if err := readLogPath(path, true, q, fn, &st); err != nil {
				return st, err
			}
			continue
		}
		withGz := i+1 < len(files) && files[i+1].kind == gzLog && files[i+1].day.Equal(lf.day)
		if err := readLogDay(path, withGz, q, fn, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// readLogDay reads a day's plain file at path, and its .gz when withGz,
// each record once. Each file is opened once, so that the relation between
// the two and the read are of the same versions, whatever a rotation does
// meanwhile.
func readLogDay(path string, withGz bool, q LogQuery, fn func(LogEntry) error, st *LogStats) (err error) {
	f, err := os.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Rotated since the listing: its records are in the .gz now.
		return readLogPath(path+gzSuffix, true, q, fn, st)
	}
	if err != nil {
		return pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err)
	var g *os.File
	if withGz {
		gzPath := path + gzSuffix
		g, err = os.OpenFile(gzPath, logReadFlags, 0)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			g = nil
		case err != nil:
			return pathErr("open log", gzPath, err)
		default:
			defer closeFile(g, gzPath, &err)
		}
	}
	from, readGz := int64(0), false
	if g != nil {
		rel, held, rerr := relate(g, f)
		switch {
		case rerr != nil, rel == gzDiffers:
			readGz = true // a corrupt .gz is read too: its lines count as malformed
		case rel == gzHolds:
			readGz, from = true, held
		}
	}
	if readGz {
		if _, err := g.Seek(0, io.SeekStart); err != nil {
			return pathErr("read log", g.Name(), err)
		}
		st.Files++
		if err := readLogFile(g, g.Name(), true, q, fn, st); err != nil {
			return err
		}
	}
	if fi, err := f.Stat(); err != nil {
		return pathErr("stat log", path, err)
	} else if from >= fi.Size() && readGz {
		return nil // the .gz holds it all
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return pathErr("read log", path, err)
	}
	st.Files++
	return readLogFileAt(f, path, false, from, q, fn, st)
}

// readLogPath opens and reads one log file; a file removed since the
// listing reads as empty.
func readLogPath(path string, gz bool, q LogQuery, fn func(LogEntry) error, st *LogStats) (err error) {
	f, err := os.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err)
	st.Files++
	return readLogFile(f, path, gz, q, fn, st)
}

// readLogFile streams the lines of one open log file to fn.
func readLogFile(f *os.File, path string, gz bool, q LogQuery, fn func(LogEntry) error, st *LogStats) error {
	return readLogFileAt(f, path, gz, 0, q, fn, st)
}

// readLogFileAt is readLogFile for a file read from offset start on (f is
// there already), whose offsets it reports.
func readLogFileAt(f *os.File, path string, gz bool, start int64, q LogQuery, fn func(LogEntry) error, st *LogStats) error {
	malformed := func(off int64, torn bool, err error) {
		st.Malformed++
		if torn {
			st.Torn++
		}
		if q.OnMalformed != nil {
			q.OnMalformed(MalformedLine{File: path, Offset: off, Torn: torn, Err: err})
		}
	}
	// Errors from the file itself are *fs.PathError; any other error from a
	// gzip stream means the stream is corrupt.
	failed := func(off int64, err error) error {
		var pe *fs.PathError
		if !gz || errors.As(err, &pe) {
			return pathErr("read log", path, err)
		}
		malformed(off, false, fmt.Errorf("corrupt gzip stream: %w", err))
		return nil
	}
	var src io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return failed(0, err)
		}
		src = zr
	}
	lr := lineReader{r: bufio.NewReaderSize(src, logBufSize), off: start}
	for {
		if q.ctx != nil {
			if err := q.ctx.Err(); err != nil {
				return err
			}
		}
		line, off, ended, long, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return failed(off, err)
		}
		if long {
			malformed(off, !ended, fmt.Errorf("line longer than %d bytes", maxLogLine))
			continue
		}
		if len(line) == 0 {
			continue
		}
		t, kind, err := parseLogLine(line)
		if err != nil {
			malformed(off, !ended, err)
			continue
		}
		if !q.Since.IsZero() && t.Before(q.Since) || !q.Until.IsZero() && !t.Before(q.Until) ||
			q.Kind != "" && kind != q.Kind {
			continue
		}
		st.Entries++
		if err := fn(LogEntry{Time: t, Event: kind, Raw: bytes.Clone(line), File: path, Offset: off}); err != nil {
			return err
		}
	}
}

// ParseLogLine checks one line of the event log, without its newline, as
// ReadLog does, for a reader that tails a file itself. The entry's Raw is a
// copy of line; File and Offset are left for the caller.
func ParseLogLine(line []byte) (LogEntry, error) {
	t, ev, err := parseLogLine(line)
	if err != nil {
		return LogEntry{}, err
	}
	return LogEntry{Time: t, Event: ev, Raw: bytes.Clone(line)}, nil
}

// lineReader splits a stream into lines of at most maxLogLine bytes,
// keeping track of their offsets.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
	off int64 // where the next line starts
}

// next returns the next line without its newline, valid until the next
// call, and the offset where it starts. ended is false for a last line with
// no newline. A line longer than maxLogLine is consumed but not returned:
// long is set instead. At the end of the stream err is io.EOF; any other
// error comes with the offset of the line it broke.
func (r *lineReader) next() (line []byte, start int64, ended, long bool, err error) {
	start = r.off
	r.buf = r.buf[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		r.off += int64(len(chunk))
		if err == nil && len(r.buf) == 0 && !long {
			// The common case: the whole line is in the reader's buffer.
			line = chunk[:len(chunk)-1]
			return line, start, true, len(line) > maxLogLine, nil
		}
		if !long {
			r.buf = append(r.buf, chunk...)
			if len(r.buf) > maxLogLine+1 {
				long, r.buf = true, r.buf[:0]
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == nil:
			ended = true
			if !long {
				line = r.buf[:len(r.buf)-1]
			}
		case err == io.EOF:
			if r.off == start {
				return nil, start, false, false, io.EOF
			}
			line = r.buf
		default:
			return nil, start, false, long, err
		}
		if long || len(line) > maxLogLine {
			return nil, start, ended, true, nil
		}
		return line, start, ended, false, nil
	}
}

type logKind int

const (
	plainLog logKind = iota
	gzLog
	tmpLog
)

// logFile is a file of a log directory, named for its UTC day.
type logFile struct {
	name string
	day  time.Time
	kind logKind
}

// listLogs returns the regular files of dir that have log file names, in
// name order: by day, and within a day plain, .gz, .gz.tmp.
func listLogs(dir string) ([]logFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []logFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if lf, ok := parseLogName(e.Name()); ok {
			files = append(files, lf)
		}
	}
	return files, nil
}

func parseLogName(name string) (logFile, bool) {
	rest, ok := strings.CutPrefix(name, logPrefix)
	if !ok || len(rest) < len(time.DateOnly) {
		return logFile{}, false
	}
	date, suffix := rest[:len(time.DateOnly)], rest[len(time.DateOnly):]
	lf := logFile{name: name}
	switch suffix {
	case logSuffix:
		lf.kind = plainLog
	case logSuffix + gzSuffix:
		lf.kind = gzLog
	case logSuffix + gzTmpSuffix:
		lf.kind = tmpLog
	default:
		return logFile{}, false
	}
	d, err := time.Parse(time.DateOnly, date)
	lf.day = d
	return lf, err == nil
}

// eventLog appends to the daily files of one log directory.
type eventLog struct {
	dir string
	// synced is the file whose directory entry this eventLog has made
	// durable, held open, and its identity: a file another process made may
	// lack a durable entry (its maker stopped before its directory sync, or
	// is a Python tool), so each file is synced once before an append to it
	// is acknowledged. It is held open so that its inode number cannot be
	// given to another file meanwhile: equal identities are the same file.
	synced     *os.File
	syncedInfo fs.FileInfo
	// dirHeld is the log directory whose own entry, in its parent, this
	// eventLog has made durable, held open for the same reason: another
	// process may remove the directory and make it again (the Python
	// tools' makedirs does not sync the parent).
	dirHeld *os.File
	dirInfo fs.FileInfo
	// ownSeq is the seq of the last state_transition line this eventLog
	// appended and synced in the file held as synced, 0 if none: bytes it
	// wrote itself, which recovery may trust (see settleLine).
	ownSeq int64
}

// wrote reports whether the file fi describes is the one held as synced
// and this eventLog appended the line seq to it.
func (l *eventLog) wrote(fi fs.FileInfo, seq int64) bool {
	return l.ownSeq == seq && seq > 0 && l.syncedInfo != nil && os.SameFile(fi, l.syncedInfo)
}

// own records that a appended the line seq and synced it.
func (l *eventLog) own(a *logAppender, seq int64) {
	if l.syncedInfo != nil && os.SameFile(a.fi, l.syncedInfo) {
		l.ownSeq = seq
	}
}

// appendOwn is append, for the line seq (and the lines that go with it).
func (l *eventLog) appendOwn(now time.Time, seq int64, lines ...[]byte) error {
	if err := checkLines(filepath.Join(l.dir, LogFileName(now)), lines); err != nil {
		return err
	}
	a, err := l.openAppender(now)
	if err != nil {
		return err
	}
	err = a.append(lines...)
	if err == nil {
		l.own(a, seq)
	}
	return errors.Join(err, a.close())
}

// close releases the files held as synced.
func (l *eventLog) close() error {
	err := l.closeSynced()
	if l.dirHeld != nil {
		if cerr := l.dirHeld.Close(); cerr != nil && err == nil {
			err = pathErr("close log dir", l.dir, cerr)
		}
		l.dirHeld, l.dirInfo = nil, nil
	}
	return err
}

// closeSynced releases the file held as synced.
func (l *eventLog) closeSynced() error {
	if l.synced == nil {
		return nil
	}
	err := l.synced.Close()
	l.synced, l.syncedInfo, l.ownSeq = nil, nil, 0
	if err != nil {
		return pathErr("close log", l.dir, err)
	}
	return nil
}

// syncOwnEntry makes the log directory's entry in its parent durable, once
// per directory: a directory made (again) by another process may lack it.
// An error is a failed sync or a directory that cannot be opened.
func (l *eventLog) syncOwnEntry() error {
	d, err := os.OpenFile(l.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathErr("open log dir", l.dir, err)
	}
	fi, err := d.Stat()
	if err == nil && l.dirInfo != nil && os.SameFile(fi, l.dirInfo) {
		err = d.Close()
		if err != nil {
			return pathErr("close log dir", l.dir, err)
		}
		return nil
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.dir))
	} else {
		err = pathErr("stat log dir", l.dir, err)
	}
	if err != nil {
		return errors.Join(err, d.Close())
	}
	if l.dirHeld != nil {
		if err := l.dirHeld.Close(); err != nil {
			return errors.Join(pathErr("close log dir", l.dir, err), d.Close())
		}
	}
	l.dirHeld, l.dirInfo = d, fi
	return nil
}

// append writes each line (compact JSON, no newline) to the file for now's
// UTC day; see logAppender.
func (l *eventLog) append(now time.Time, lines ...[]byte) error {
	if err := checkLines(filepath.Join(l.dir, LogFileName(now)), lines); err != nil {
		return err
	}
	a, err := l.openAppender(now)
	if err != nil {
		return err
	}
	return errors.Join(a.append(lines...), a.close())
}

// logAppender is a log file open for appending, under an exclusive flock on
// the file, so that a rotation waits for it.
type logAppender struct {
	log  *eventLog
	f    *os.File
	fi   fs.FileInfo // when opened
	path string
	size int64 // when opened
	// pad starts the append in a block the file does not have yet: see
	// relocate.
	pad bool
}

// openAppender opens (creating it and the log directory as needed) and
// locks the file for now's UTC day. A dispatch opens it before it changes
// the state file, so that a log it cannot write fails it before anything
// has changed.
func (l *eventLog) openAppender(now time.Time) (*logAppender, error) {
	path := filepath.Join(l.dir, LogFileName(now))
	f, fi, err := l.open(path)
	if err != nil {
		return nil, err
	}
	return &logAppender{log: l, f: f, fi: fi, path: path, size: fi.Size()}, nil
}

// append writes each line, one write per line, then syncs the file, and the
// directory too when the file is new. A torn last line left by a crash is
// ended first so that no record is glued onto it. Once synced, the path
// must still name the file written: one removed or renamed meanwhile (by
// hand, by logrotate; a rotation waits for the flock) holds the lines in an
// inode no log file name names, so they are appended again to the file
// the path names now. Errors are *fs.PathError values naming the file.
func (a *logAppender) append(lines ...[]byte) error {
	if err := checkLines(a.path, lines); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		if err := a.write(lines); err != nil {
			return err
		}
		named, err := a.named()
		if err != nil {
			return err
		}
		if named {
			break
		}
		if attempt == logOpenAttempts {
			return &fs.PathError{Op: "write log", Path: a.path, Err: errors.New("removed or replaced again and again while lines were appended to it")}
		}
		if err := a.reopen(); err != nil {
			return err
		}
	}
	return a.syncEntry()
}

// write appends lines to the open file and syncs it.
func (a *logAppender) write(lines [][]byte) error {
	var buf []byte
	if a.pad {
		fi, err := a.f.Stat()
		if err != nil {
			return pathErr("stat log", a.path, err)
		}
		buf = padding(fi)
	} else if a.size > 0 {
		var last [1]byte
		if _, err := a.f.ReadAt(last[:], a.size-1); err != nil {
			return pathErr("read log", a.path, err)
		}
		if last[0] != '\n' {
			buf = append(buf, '\n')
		}
	}
	for _, ln := range lines {
		buf = append(append(buf, ln...), '\n')
		if _, err := fsys.Write(a.f, buf); err != nil {
			return pathErr("write log", a.path, err)
		}
		buf = buf[:0]
	}
	if err := hook(stepLogWrite); err != nil {
		return pathErr("write log", a.path, err)
	}
	if err := fsys.Sync(a.f); err != nil {
		return pathErr("sync log", a.path, err)
	}
	if err := hook(stepLogSync); err != nil {
		return pathErr("sync log", a.path, err)
	}
	return nil
}

// padding is the newlines that take an append to a file like fi to the
// start of a new block, and one more: if the blocks before it are lost
// (zeros after a failed writeback), that newline still ends their line.
func padding(fi fs.FileInfo) []byte {
	blk := int64(4096)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blksize >= 512 && st.Blksize <= 1<<20 {
		blk = int64(st.Blksize)
	}
	n := (blk-fi.Size()%blk)%blk + 1
	return bytes.Repeat([]byte{'\n'}, int(n))
}

// named reports whether the path still names the open file.
func (a *logAppender) named() (bool, error) {
	fi, err := os.Lstat(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, pathErr("stat log", a.path, err)
	}
	return os.SameFile(fi, a.fi), nil
}

// reopen closes the file, which the path no longer names, and opens and
// locks the one it names now, creating it if need be.
func (a *logAppender) reopen() error {
	if err := a.close(); err != nil {
		return err
	}
	f, fi, err := a.log.open(a.path)
	if err != nil {
		a.f = nil
		return err
	}
	a.f, a.fi, a.size = f, fi, fi.Size()
	return nil
}

// syncEntry makes the directory entry of the file written durable, the
// first time this eventLog appends to that file.
func (a *logAppender) syncEntry() error {
	if a.size > 0 && a.log.syncedInfo != nil && os.SameFile(a.fi, a.log.syncedInfo) {
		return nil
	}
	// A new directory entry is not durable until its directory is synced,
	// nor the directory's own entry until its parent is.
	if err := syncDir(a.log.dir); err != nil {
		return err
	}
	if err := a.log.syncOwnEntry(); err != nil {
		return err
	}
	// Hold the file (a descriptor of its own, without the flock) as the
	// one whose entry is durable. Under the flock the path is this file.
	held, err := os.OpenFile(a.path, logReadFlags, 0)
	if err != nil {
		return nil // only the next append's sync is lost: it will sync again
	}
	if fi, err := held.Stat(); err != nil || !os.SameFile(fi, a.fi) {
		return held.Close()
	}
	if err := a.log.closeSynced(); err != nil {
		return errors.Join(err, held.Close())
	}
	a.log.synced, a.log.syncedInfo = held, a.fi
	return nil
}

// checkLines refuses an empty line or one with a newline: either would
// break the one-record-per-line format for every reader.
func checkLines(path string, lines [][]byte) error {
	for _, ln := range lines {
		if len(ln) == 0 || bytes.IndexByte(ln, '\n') >= 0 {
			return &fs.PathError{Op: "write log", Path: path, Err: errors.New("record is empty or contains a newline")}
		}
	}
	return nil
}

// close releases the file and its flock.
func (a *logAppender) close() error {
	if a.f == nil {
		return nil // a reopen failed
	}
	f := a.f
	a.f = nil
	if err := f.Close(); err != nil {
		return pathErr("close log", a.path, err)
	}
	return nil
}

// open opens the log file at path for appending, creating it and the log
// directory as needed, and returns it locked, with its size.
func (l *eventLog) open(path string) (*os.File, fs.FileInfo, error) {
	for range logOpenAttempts {
		f, err := fsys.OpenFile(path, logAppendFlags, logFileMode)
		if errors.Is(err, fs.ErrNotExist) {
			if err := l.mkdir(); err != nil {
				return nil, nil, err
			}
			f, err = fsys.OpenFile(path, logAppendFlags, logFileMode)
		}
		if err != nil {
			return nil, nil, l.openErr(path, err)
		}
		if err := flockLog(f); err != nil {
			return nil, nil, errors.Join(pathErr("lock log", path, err), f.Close())
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = errNotRegular(fi.Mode().Type())
		}
		if err != nil {
			return nil, nil, errors.Join(pathErr("open log", path, err), f.Close())
		}
		if unlinked(fi) {
			// A rotation removed it while we waited for the lock: what we
			// wrote would be lost, so open the path again.
			if err := f.Close(); err != nil {
				return nil, nil, pathErr("close log", path, err)
			}
			continue
		}
		return f, fi, nil
	}
	return nil, nil, &fs.PathError{Op: "open log", Path: path, Err: errors.New("removed again and again while waiting for its lock")}
}

func (l *eventLog) openErr(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return &fs.PathError{Op: "open log", Path: path, Err: errors.New("is a symbolic link; refusing to follow it")}
	case errors.Is(err, syscall.ENOTDIR):
		if fi, serr := os.Stat(l.dir); serr == nil && !fi.IsDir() {
			return &fs.PathError{Op: "open log dir", Path: l.dir, Err: syscall.ENOTDIR}
		}
	}
	return pathErr("open log", path, err)
}

// mkdir creates the log directory 0700 and makes its entry durable.
func (l *eventLog) mkdir() error {
	if err := mkdirAll(l.dir); err != nil { // syncs each entry it makes
		return pathErr("create log dir", l.dir, err)
	}
	return nil
}

// flockLog takes an exclusive flock on f, waiting as long as it takes.
func flockLog(f *os.File) error {
	return flock(f, unix.LOCK_EX)
}

// unlinked reports whether the open file fi describes has been removed.
func unlinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// closeFile closes f and reports its error into *err unless one is there.
func closeFile(f *os.File, path string, err *error) {
	if cerr := f.Close(); cerr != nil && *err == nil {
		*err = pathErr("close log", path, cerr)
	}
}
