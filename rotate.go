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

// RotateReport is what a rotation did with the plain log files old enough
// to rotate.
type RotateReport struct {
	Rotated []string  // replaced by their .gz
	Left    []LeftLog // left in place for a later rotation, nothing lost
}

// LeftLog is a plain log file a rotation left in place, and why.
type LeftLog struct {
	Path   string
	Reason string
}

// Why a rotation leaves a plain file.
const (
	leftInUse   = "held open by another reader or writer"
	leftRecent  = "written to in the last hour"
	leftChanged = "written to while it was compressed"
)

// useLeases is false only in tests of the grace period, which is what a
// rotation falls back on where no lease can be taken.
var useLeases = true

// rotationGrace is how long a plain file must have been left unwritten
// before it is rotated, where no lease can tell whether another process
// holds it open.
const rotationGrace = time.Hour

// RotateLogsReport replaces each plain log file in dir whose day ended more
// than retention before now by its .jsonl.gz (0600), written and synced
// before the plain file is removed. retention <= 0 does nothing.
//
// Writers that append without the log file's flock (every Python writer)
// lose nothing to it:
//   - A plain file held open elsewhere (any other descriptor, this
//     process's too) is left: on Linux a write lease tells; elsewhere, or
//     where a lease is refused, a file written to in the last hour is left
//     instead. While the lease is held, an open of the file waits.
//   - Just before its removal the plain file must still have the size and
//     the sha256 of what was compressed, and no open may be waiting;
//     otherwise it stays, and the .gz, whose header says how much of it it
//     holds, is read with it, each record once.
//   - Bytes a writer puts into the removed file afterwards, through a
//     descriptor it opened before the removal, are copied to a plain file
//     of the same name, which is read after the .gz; under a lease the
//     rotation waits (up to 5 s, else an error naming the file) until no
//     one else holds the removed file open.
//
// A .gz already there (a rotation stopped by a crash, or a day rotated
// before and written again since) is trusted only once its whole stream
// decompresses, its CRC and length check, and it ends with the bytes its
// header says it holds; what the plain file adds is merged into it. A .gz
// that fails is reported as a corrupt file and left, with its plain file.
// A file that fails does not stop the others; the errors are joined.
func RotateLogsReport(dir string, retention time.Duration, now time.Time) (RotateReport, error) {
	var r RotateReport
	if retention <= 0 {
		return r, nil
	}
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, pathErr("read log dir", dir, err)
	}
	cutoff := now.Add(-retention)
	var errs []error
	for _, lf := range files {
		path := filepath.Join(dir, lf.name)
		switch {
		case lf.kind == plainLog && !lf.day.Add(logDay).After(cutoff):
			rotated, left, err := rotateLog(dir, path)
			if err != nil {
				errs = append(errs, err)
			}
			switch {
			case rotated:
				r.Rotated = append(r.Rotated, path)
			case left != "":
				r.Left = append(r.Left, LeftLog{Path: path, Reason: left})
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
	return r, errors.Join(errs...)
}

// A claim on a plain log file: whether a rotation has it to itself.
type claim int

const (
	// No other open file description of it exists, and opens wait.
	claimHeld claim = iota
	// Another one exists: a writer may be about to append.
	claimBusy
	// Cannot tell: the grace period decides.
	claimUnknown
)

// How a day's .gz relates to its plain file.
type gzRelation int

const (
	_ gzRelation = iota // the zero value: none known (an error)
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
		// Not on the header's word: the whole stream must decompress, its
		// CRC and length check, and it must end with those n bytes.
		ends, err := gzEndsWith(g, f, n)
		if err != nil {
			return 0, 0, err
		}
		if !ends {
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
// it. rotated is false when it did not remove it: left says why, or
// another rotation removed it first (left is empty then).
func rotateLog(dir, path string) (rotated bool, left string, err error) {
	f, err := fsys.OpenFile(path, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", pathErr("open log", path, err)
	}
	defer closeFile(f, path, &err) // releases the flock and the lease
	if err := flockLog(f); err != nil {
		return false, "", pathErr("lock log", path, err)
	}
	// Claimed before its size is read: under the lease nothing can write.
	cl, err := claimLog(f)
	if err != nil {
		return false, "", pathErr("lease log", path, err)
	}
	if cl == claimBusy {
		return false, leftInUse, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return false, "", pathErr("stat log", path, err)
	}
	if unlinked(fi) {
		return false, "", nil
	}
	// The file's time is the system clock's, whatever clock chose the day.
	if cl == claimUnknown && time.Since(fi.ModTime()) < rotationGrace {
		return false, leftRecent, nil
	}
	size := fi.Size()
	// What the .gz will say it holds must be on disk in the plain file too,
	// or a power loss between the .gz's rename and the plain file's removal
	// brings back a shorter plain file than the .gz says (a writer that
	// does not sync, as the Python wrapper does not, leaves such a tail).
	if err := fsys.Sync(f); err != nil {
		return false, "", pathErr("sync log", path, err)
	}
	sum, err := prefixSum(f, size)
	if err != nil {
		return false, "", err
	}
	if err := compressLog(path, f, size, sum); err != nil {
		return false, "", err
	}
	// The rename must be durable before the removal is.
	if err := syncDir(dir); err != nil {
		return false, "", err
	}
	if left, err := changedSince(f, size, sum, cl); left != "" || err != nil {
		return false, left, err
	}
	if err := fsys.Remove(path); err != nil {
		return false, "", pathErr("remove log", path, err)
	}
	// Whatever the directory's sync says, what a writer put into the
	// removed file is copied out.
	derr := syncDir(dir)
	return true, "", errors.Join(derr, salvage(dir, path, f, size, cl))
}

// compressLog makes path.gz hold the plain file f's first size bytes,
// whose sha256 is sum, and everything the .gz held before.
func compressLog(path string, f *os.File, size int64, sum []byte) (err error) {
	gzPath := path + gzSuffix
	g, err := fsys.OpenFile(gzPath, logReadFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return writeGzSum(gzPath, nil, f, 0, size, sum)
	}
	if err != nil {
		return pathErr("open log", gzPath, err)
	}
	defer closeFile(g, gzPath, &err)
	rel, held, err := relate(g, f)
	if err != nil {
		// A corrupt .gz is left as it is, with its plain file, for
		// someone to look at.
		return err
	}
	switch {
	case rel == gzHolds && held == size:
		// Complete: whoever wrote it may not have synced it; do so before
		// the plain file goes.
		if err := fsys.Sync(g); err != nil {
			return pathErr("sync log", gzPath, err)
		}
		return nil
	case rel == gzHolds:
		return writeGzSum(gzPath, g, f, held, size, sum)
	case rel == gzDiffers:
		return writeGzSum(gzPath, g, f, 0, size, sum)
	default: // a prefix of the plain file
		return writeGzSum(gzPath, nil, f, 0, size, sum)
	}
}

// changedSince tells why the plain file f may not be removed now that its
// first size bytes, whose sha256 is sum, are in the .gz: it grew or
// changed (a writer without the flock), or, under a lease, an open of it
// waits. Empty: it may go.
func changedSince(f *os.File, size int64, sum []byte, cl claim) (string, error) {
	if cl == claimHeld {
		wanted, err := claimBroken(f)
		if err != nil {
			return "", pathErr("lease log", f.Name(), err)
		}
		if wanted {
			return leftInUse, nil
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return "", pathErr("stat log", f.Name(), err)
	}
	if fi.Size() != size {
		return leftChanged, nil
	}
	now, err := prefixSum(f, size)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(now, sum) {
		return leftChanged, nil
	}
	return "", nil
}

// writeGz writes gzPath anew through a temporary file, synced and renamed
// over it: the decompressed content of old (when not nil) ended by a
// newline, then plain's bytes from..size; its header says it holds plain's
// first size bytes.
func writeGz(gzPath string, old, plain *os.File, from, size int64) error {
	sum, err := prefixSum(plain, size)
	if err != nil {
		return err
	}
	return writeGzSum(gzPath, old, plain, from, size, sum)
}

// writeGzSum is writeGz for plain's first size bytes of sha256 sum.
func writeGzSum(gzPath string, old, plain *os.File, from, size int64, sum []byte) (err error) {
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
