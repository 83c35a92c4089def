//go:build unix

package lifecycle

import (
	"bufio"
	"bytes"
	"compress/gzip"
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

// LogFileName is the base name of the log file for t's UTC day.
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
// before its .gz, for readers that follow the log themselves. A missing dir
// has none.
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
// read. When a day has both (a rotation stopped by a crash), the plain file
// is the original and the only one read; files whose day lies outside
// [q.Since, q.Until) are not opened. A missing dir reads as empty.
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
		if lf.kind == tmpLog {
			continue
		}
		// The listing is sorted by name, so a day's plain file comes right
		// before its .gz.
		if lf.kind == gzLog && i > 0 && files[i-1].kind == plainLog && files[i-1].day.Equal(lf.day) {
			continue
		}
		if !q.Until.IsZero() && !lf.day.Before(q.Until) ||
			!q.Since.IsZero() && !lf.day.Add(logDay).After(q.Since) {
			continue
		}
		path, gz := filepath.Join(dir, lf.name), lf.kind == gzLog
		f, err := os.OpenFile(path, logReadFlags, 0)
		if errors.Is(err, fs.ErrNotExist) && !gz {
			// Rotated since the listing: its records are in the .gz now.
			path, gz = path+gzSuffix, true
			f, err = os.OpenFile(path, logReadFlags, 0)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return st, pathErr("open log", path, err)
		}
		st.Files++
		err = readLogFile(f, path, gz, q, fn, &st)
		closeFile(f, path, &err)
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// readLogFile streams the lines of one open log file to fn.
func readLogFile(f *os.File, path string, gz bool, q LogQuery, fn func(LogEntry) error, st *LogStats) error {
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
	lr := lineReader{r: bufio.NewReaderSize(src, logBufSize)}
	for {
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

// RotateLogs replaces each plain log file in dir whose day ended more than
// retention before now by its .jsonl.gz (0600), written and synced before
// the plain file is removed, so that no record is lost at any point. It
// holds the plain file's flock meanwhile, so a racing append either lands
// before the copy or in a new file. A .gz already there (a rotation stopped
// by a crash) is never overwritten with less than it holds. retention <= 0
// does nothing. It returns the paths of the plain files it replaced; a file
// that fails does not stop the others, and the errors are joined.
func RotateLogs(dir string, retention time.Duration, now time.Time) ([]string, error) {
	if retention <= 0 {
		return nil, nil
	}
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr("read log dir", dir, err)
	}
	cutoff := now.Add(-retention)
	var done []string
	var errs []error
	for _, lf := range files {
		path := filepath.Join(dir, lf.name)
		switch {
		case lf.kind == plainLog && !lf.day.Add(logDay).After(cutoff):
			ok, err := rotateLog(dir, path)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				done = append(done, path)
			}
		case lf.kind == tmpLog:
			// Left by a crash before its rename, so its plain file is still
			// there. (A rotation of that day running in another process
			// would fail at its rename and keep its plain file.)
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, pathErr("remove stale log", path, err))
			}
		}
	}
	return done, errors.Join(errs...)
}

// How the contents of an existing .gz relate to its plain file.
type gzRelation int

const (
	gzMissing gzRelation = iota
	gzSame               // a crash after the rename: the .gz is complete
	gzPrefix             // the plain file grew after such a crash
	gzDiffers            // the plain file was made again after a rotation
)

// rotateLog compresses the plain log file at path into path.gz and removes
// it. ok is false when another rotation removed it first.
func rotateLog(dir, path string) (ok bool, err error) {
	f, err := os.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err) // closing releases the lock once the file is gone
	if err := flockLog(f); err != nil {
		return false, pathErr("lock log", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return false, pathErr("stat log", path, err)
	}
	if unlinked(fi) {
		return false, nil
	}
	gzPath := path + gzSuffix
	rel, err := compareGz(gzPath, f)
	if err != nil {
		return false, err
	}
	if rel != gzSame {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, pathErr("read log", path, err)
		}
		if err := writeGz(gzPath, f, rel == gzDiffers); err != nil {
			return false, err
		}
	}
	// The rename must be durable before the removal is.
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		return false, pathErr("remove log", path, err)
	}
	return true, syncDir(dir)
}

// compareGz reads the .gz at gzPath and the plain file f side by side.
func compareGz(gzPath string, f *os.File) (rel gzRelation, err error) {
	g, err := os.OpenFile(gzPath, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return gzMissing, nil
	}
	if err != nil {
		return 0, pathErr("open log", gzPath, err)
	}
	defer closeFile(g, gzPath, &err)
	zr, err := gzip.NewReader(g)
	if err != nil {
		return 0, gzReadErr(gzPath, err)
	}
	a, b := make([]byte, logBufSize), make([]byte, logBufSize)
	for {
		n, err := zr.Read(a)
		if n > 0 {
			m, perr := io.ReadFull(f, b[:n])
			if perr != nil && perr != io.EOF && perr != io.ErrUnexpectedEOF {
				return 0, pathErr("read log", f.Name(), perr)
			}
			if m < n || !bytes.Equal(a[:n], b[:n]) {
				return gzDiffers, nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, gzReadErr(gzPath, err)
		}
	}
	switch _, err := io.ReadFull(f, b[:1]); err {
	case nil:
		return gzPrefix, nil
	case io.EOF:
		// Whoever wrote it may not have synced it: do so before the plain
		// file goes.
		if err := g.Sync(); err != nil {
			return 0, pathErr("sync log", gzPath, err)
		}
		return gzSame, nil
	default:
		return 0, pathErr("read log", f.Name(), err)
	}
}

// writeGz compresses plain (first the contents of the existing .gz, when
// keepOld) into a temporary file, syncs it and renames it to gzPath.
func writeGz(gzPath string, plain *os.File, keepOld bool) (err error) {
	tmp := gzPath + ".tmp"
	// O_EXCL after removing a stale one, so that the mode is surely ours.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("remove stale log", tmp, err)
	}
	t, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, logFileMode)
	if err != nil {
		return pathErr("create log", tmp, err)
	}
	defer func() {
		if err != nil {
			if t != nil {
				err = errors.Join(err, t.Close())
			}
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	zw := gzip.NewWriter(t)
	if keepOld {
		if err := copyGz(zw, gzPath); err != nil {
			return err
		}
	}
	if _, err := io.Copy(zw, plain); err != nil {
		return err // from the file that failed: plain or tmp
	}
	if err := zw.Close(); err != nil {
		return pathErr("write log", tmp, err)
	}
	if err := t.Sync(); err != nil {
		return pathErr("sync log", tmp, err)
	}
	cerr := t.Close()
	t = nil
	if cerr != nil {
		return pathErr("close log", tmp, cerr)
	}
	if err := os.Rename(tmp, gzPath); err != nil {
		return pathErr("rename log", tmp, err)
	}
	return nil
}

// copyGz writes the decompressed contents of the .gz at path to w, ending
// them with a newline if they lack one, so no record is glued to the next.
func copyGz(w io.Writer, path string) (err error) {
	g, err := os.OpenFile(path, logReadFlags, 0)
	if err != nil {
		return pathErr("open log", path, err)
	}
	defer closeFile(g, path, &err)
	zr, err := gzip.NewReader(g)
	if err != nil {
		return gzReadErr(path, err)
	}
	lw := lastByteWriter{w: w}
	if _, err := io.Copy(&lw, zr); err != nil {
		return gzReadErr(path, err)
	}
	if lw.n > 0 && lw.last != '\n' {
		_, err = w.Write([]byte{'\n'})
	}
	return err
}

type lastByteWriter struct {
	w    io.Writer
	n    int64
	last byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.n += int64(n)
		l.last = p[n-1]
	}
	return n, err
}

// gzReadErr is the error for reading the .gz at path. A corrupt stream is
// left as it is, and so is its plain file, for someone to look at.
func gzReadErr(path string, err error) error {
	if _, ok := err.(*fs.PathError); ok {
		return err // an I/O error, naming the file that failed
	}
	return &fs.PathError{Op: "read log", Path: path, Err: fmt.Errorf("corrupt gzip stream: %w", err)}
}

// eventLog appends to the daily files of one log directory.
type eventLog struct {
	dir string
}

// append writes each line (compact JSON, no newline) to the file for now's
// UTC day, one write per line, under an exclusive flock on that file, then
// syncs it, and the directory too when the file is new. A torn last line
// left by a crash is ended first so that no record is glued onto it. Errors
// are *fs.PathError values naming the file.
func (l *eventLog) append(now time.Time, lines ...[]byte) (err error) {
	path := filepath.Join(l.dir, LogFileName(now))
	for _, ln := range lines {
		// Either would break the one-record-per-line format for every reader.
		if len(ln) == 0 || bytes.IndexByte(ln, '\n') >= 0 {
			return &fs.PathError{Op: "write log", Path: path, Err: errors.New("record is empty or contains a newline")}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	f, size, err := l.open(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = pathErr("close log", path, cerr)
		}
	}()
	var buf []byte
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			return pathErr("read log", path, err)
		}
		if last[0] != '\n' {
			buf = append(buf, '\n')
		}
	}
	for _, ln := range lines {
		buf = append(append(buf, ln...), '\n')
		if _, err := f.Write(buf); err != nil {
			return pathErr("write log", path, err)
		}
		buf = buf[:0]
	}
	if err := hook(stepLogWrite); err != nil {
		return pathErr("write log", path, err)
	}
	if err := f.Sync(); err != nil {
		return pathErr("sync log", path, err)
	}
	if err := hook(stepLogSync); err != nil {
		return pathErr("sync log", path, err)
	}
	if size == 0 {
		// A new directory entry is not durable until its directory is synced.
		return syncDir(l.dir)
	}
	return nil
}

// open opens the log file at path for appending, creating it and the log
// directory as needed, and returns it locked, with its size.
func (l *eventLog) open(path string) (*os.File, int64, error) {
	for range logOpenAttempts {
		f, err := os.OpenFile(path, logAppendFlags, logFileMode)
		if errors.Is(err, fs.ErrNotExist) {
			if err := l.mkdir(); err != nil {
				return nil, 0, err
			}
			f, err = os.OpenFile(path, logAppendFlags, logFileMode)
		}
		if err != nil {
			return nil, 0, l.openErr(path, err)
		}
		if err := flockLog(f); err != nil {
			return nil, 0, errors.Join(pathErr("lock log", path, err), f.Close())
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
		}
		if err != nil {
			return nil, 0, errors.Join(pathErr("open log", path, err), f.Close())
		}
		if unlinked(fi) {
			// A rotation removed it while we waited for the lock: what we
			// wrote would be lost, so open the path again.
			if err := f.Close(); err != nil {
				return nil, 0, pathErr("close log", path, err)
			}
			continue
		}
		return f, fi.Size(), nil
	}
	return nil, 0, &fs.PathError{Op: "open log", Path: path, Err: errors.New("removed again and again while waiting for its lock")}
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
	if err := os.MkdirAll(l.dir, logDirMode); err != nil {
		return pathErr("create log dir", l.dir, err)
	}
	return syncDir(filepath.Dir(l.dir))
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
