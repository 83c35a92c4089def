//go:build unix

package lifecycle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RotateLogs replaces each plain log file in dir whose day ended more than
// retention before now by its .jsonl.gz (0600), written and synced before
// the plain file is removed, so that no record is lost at any point. It
// holds the plain file's flock meanwhile, so a racing append either lands
// before the copy or in a new file. A .gz already there (a rotation stopped
// by a crash, or a day rotated before and written again since) is never
// overwritten with less than it holds: what the plain file adds is merged
// into it. retention <= 0 does nothing. It returns the paths of the plain
// files it replaced; a file that fails does not stop the others, and the
// errors are joined.
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
			if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, pathErr("remove stale log", path, err))
			}
		}
	}
	return done, errors.Join(errs...)
}

// How a day's .gz relates to its plain file.
type gzRelation int

const (
	gzMissing gzRelation = iota
	// The .gz holds the plain file's first n bytes (and maybe more before
	// them): read it, then the plain file from n on.
	gzHolds
	// The .gz is the plain file, or a prefix of it (a rotation of an
	// earlier version stopped after its rename): read the plain file.
	gzPrefix
	// Nothing in common: the plain file was made again after the day was
	// rotated. Read the .gz, then the plain file.
	gzDiffers
)

// coverPrefix starts the gzip header comment by which a .gz says how much
// of its day's plain file it holds: "...first N bytes, sha256 HEX". With
// it, a rotation stopped between its rename and the plain file's removal,
// with lines appended since, is read and merged without a line twice.
const coverPrefix = "lifecycle-events: holds the plain file's first "

// cover is the header comment for a .gz that holds plain[:n], whose
// sha256 is sum.
func cover(n int64, sum []byte) string {
	return fmt.Sprintf("%s%d bytes, sha256 %x", coverPrefix, n, sum)
}

// parseCover reads a comment cover wrote.
func parseCover(comment string) (n int64, sum string, ok bool) {
	rest, ok := strings.CutPrefix(comment, coverPrefix)
	if !ok {
		return 0, "", false
	}
	num, sum, ok := strings.Cut(rest, " bytes, sha256 ")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, sum, err == nil && n >= 0
}

// prefixSum is the sha256 of f's first n bytes.
func prefixSum(f *os.File, n int64) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return nil, pathErr("read log", f.Name(), err)
	}
	return h.Sum(nil), nil
}

// relate tells how the open .gz g relates to the open plain file f of its
// day, and for gzHolds how many bytes of f it holds. Offsets are left
// anywhere. An error means g cannot be read (a corrupt stream) or f failed.
func relate(g, f *os.File) (gzRelation, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, pathErr("stat log", f.Name(), err)
	}
	zr, err := gzReader(g)
	if err != nil {
		return 0, 0, err
	}
	if n, sum, ok := parseCover(zr.Header.Comment); ok {
		if n > fi.Size() {
			return gzDiffers, 0, nil
		}
		got, err := prefixSum(f, n)
		if err != nil {
			return 0, 0, err
		}
		if fmt.Sprintf("%x", got) != sum {
			return gzDiffers, 0, nil
		}
		return gzHolds, n, nil
	}
	// A .gz of an earlier version, without the comment: compare contents.
	rel, err := compareGz(g, f)
	if err != nil || rel != gzDiffers {
		return rel, 0, err
	}
	ends, err := gzEndsWith(g, f, fi.Size())
	if err != nil || !ends {
		return gzDiffers, 0, err
	}
	return gzHolds, fi.Size(), nil
}

// gzReader reads g's gzip stream from its start.
func gzReader(g *os.File) (*gzip.Reader, error) {
	if _, err := g.Seek(0, io.SeekStart); err != nil {
		return nil, pathErr("read log", g.Name(), err)
	}
	zr, err := gzip.NewReader(g)
	if err != nil {
		return nil, gzReadErr(g.Name(), err)
	}
	return zr, nil
}

// compareGz reads the .gz g and the plain file f side by side: gzPrefix
// when g's content is f's or a prefix of it, else gzDiffers.
func compareGz(g, f *os.File) (gzRelation, error) {
	zr, err := gzReader(g)
	if err != nil {
		return 0, err
	}
	plain := io.NewSectionReader(f, 0, 1<<62)
	a, b := make([]byte, logBufSize), make([]byte, logBufSize)
	for {
		n, err := zr.Read(a)
		if n > 0 {
			m, perr := io.ReadFull(plain, b[:n])
			if perr != nil && perr != io.EOF && perr != io.ErrUnexpectedEOF {
				return 0, pathErr("read log", f.Name(), perr)
			}
			if m < n || !bytes.Equal(a[:n], b[:n]) {
				return gzDiffers, nil
			}
		}
		if err == io.EOF {
			return gzPrefix, nil
		}
		if err != nil {
			return 0, gzReadErr(g.Name(), err)
		}
	}
}

// gzEndsWith reports whether the decompressed .gz g ends with the whole of
// f, size bytes: an earlier version's merge stopped before it removed the
// plain file. It reads g twice: once for its length, once to compare.
func gzEndsWith(g, f *os.File, size int64) (bool, error) {
	zr, err := gzReader(g)
	if err != nil {
		return false, err
	}
	total, err := io.Copy(io.Discard, zr)
	if err != nil {
		return false, gzReadErr(g.Name(), err)
	}
	if size > total {
		return false, nil
	}
	if zr, err = gzReader(g); err != nil {
		return false, err
	}
	if _, err := io.CopyN(io.Discard, zr, total-size); err != nil {
		return false, gzReadErr(g.Name(), err)
	}
	a, b := make([]byte, logBufSize), make([]byte, logBufSize)
	for off := int64(0); ; {
		n, rerr := io.ReadFull(zr, a)
		if n > 0 {
			if _, err := f.ReadAt(b[:n], off); err != nil {
				return false, pathErr("read log", f.Name(), err)
			}
			if !bytes.Equal(a[:n], b[:n]) {
				return false, nil
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return true, nil
		}
		if rerr != nil {
			return false, gzReadErr(g.Name(), rerr)
		}
	}
}

// rotateLog compresses the plain log file at path into path.gz and removes
// it. ok is false when another rotation removed it first.
func rotateLog(dir, path string) (ok bool, err error) {
	f, err := fsys.OpenFile(path, logReadFlags, 0)
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
	size := fi.Size() // appends wait for the flock: it stays
	// What the .gz will say it holds must be on disk in the plain file too,
	// or a power loss between the .gz's rename and the plain file's removal
	// brings back a shorter plain file than the .gz says (a writer that
	// does not sync, as the Python wrapper does not, leaves such a tail).
	if err := fsys.Sync(f); err != nil {
		return false, pathErr("sync log", path, err)
	}
	gzPath := path + gzSuffix
	g, err := fsys.OpenFile(gzPath, logReadFlags, 0)
	rel, held := gzMissing, int64(0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, pathErr("open log", gzPath, err)
	default:
		defer closeFile(g, gzPath, &err)
		if rel, held, err = relate(g, f); err != nil {
			// A corrupt .gz is left as it is, with its plain file, for
			// someone to look at.
			return false, err
		}
	}
	switch {
	case rel == gzHolds && held == size:
		// Complete: whoever wrote it may not have synced it; do so before
		// the plain file goes.
		if err := fsys.Sync(g); err != nil {
			return false, pathErr("sync log", gzPath, err)
		}
	case rel == gzHolds:
		err = writeGz(gzPath, g, f, held, size)
	case rel == gzDiffers:
		err = writeGz(gzPath, g, f, 0, size)
	default: // missing, or a prefix of the plain file
		err = writeGz(gzPath, nil, f, 0, size)
	}
	if err != nil {
		return false, err
	}
	// The rename must be durable before the removal is.
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if err := fsys.Remove(path); err != nil {
		return false, pathErr("remove log", path, err)
	}
	return true, syncDir(dir)
}

// writeGz writes gzPath anew through a temporary file, synced and renamed
// over it: the decompressed content of old (when not nil) ended by a
// newline, then plain's bytes from..size; its header says it holds plain's
// first size bytes.
func writeGz(gzPath string, old, plain *os.File, from, size int64) (err error) {
	sum, err := prefixSum(plain, size)
	if err != nil {
		return err
	}
	tmp := gzPath + ".tmp"
	// O_EXCL after removing a stale one, so that the mode is surely ours.
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("remove stale log", tmp, err)
	}
	t, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, logFileMode)
	if err != nil {
		return pathErr("create log", tmp, err)
	}
	defer func() {
		if err != nil {
			if t != nil {
				err = errors.Join(err, t.Close())
			}
			if rerr := fsys.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	zw := gzip.NewWriter(fileWriter{t})
	zw.Comment = cover(size, sum)
	if old != nil {
		if err := copyGz(zw, old); err != nil {
			return err
		}
	}
	if _, err := io.Copy(zw, io.NewSectionReader(plain, from, size-from)); err != nil {
		return err // from the file that failed: plain or tmp
	}
	if err := zw.Close(); err != nil {
		return pathErr("write log", tmp, err)
	}
	if err := fsys.Sync(t); err != nil {
		return pathErr("sync log", tmp, err)
	}
	cerr := t.Close()
	t = nil
	if cerr != nil {
		return pathErr("close log", tmp, cerr)
	}
	if err := fsys.Rename(tmp, gzPath); err != nil {
		return pathErr("rename log", tmp, err)
	}
	return nil
}

// copyGz writes the decompressed content of the .gz g to w, ending it with
// a newline if it lacks one, so no record is glued to the next.
func copyGz(w io.Writer, g *os.File) error {
	zr, err := gzReader(g)
	if err != nil {
		return err
	}
	lw := lastByteWriter{w: w}
	if _, err := io.Copy(&lw, zr); err != nil {
		return gzReadErr(g.Name(), err)
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
