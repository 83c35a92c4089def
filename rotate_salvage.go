//go:build unix

package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// salvageWait bounds how long a rotation waits for a process that opened a
// plain file just before its removal to close it again. (A variable for
// tests.)
var salvageWait = 5 * time.Second

// salvage runs after the removal of the plain file at path, whose first
// size bytes are in the .gz, with f still open on it. A writer that opened
// the file before the removal writes into the removed file: such bytes are
// copied to a plain file at path again, which readers read after the .gz.
// Under a lease, an open that found the file before its removal waits for
// the lease: salvage lets it go on and waits until no other process holds
// the file open, so that nothing can still be written to it.
func salvage(dir, path string, f *os.File, size int64, cl claim) error {
	if cl == claimHeld {
		wanted, err := claimBroken(f)
		if err != nil {
			return pathErr("lease log", path, err)
		}
		if wanted {
			if err := waitAlone(f, path, func() error {
				var err error
				size, err = copyTail(dir, path, f, size)
				return err
			}); err != nil {
				return err
			}
		}
	}
	for {
		next, err := copyTail(dir, path, f, size)
		if err != nil || next == size {
			return err
		}
		size = next
	}
}

// waitAlone gives up the lease on the removed file f, then takes it again
// once no other process holds f open, copying what was written meanwhile
// with copied.
func waitAlone(f *os.File, path string, copied func() error) error {
	if err := releaseClaim(f); err != nil {
		return pathErr("lease log", path, err)
	}
	deadline := time.Now().Add(salvageWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		cl, err := claimLog(f)
		if err != nil {
			return pathErr("lease log", path, err)
		}
		if cl != claimBusy {
			return nil
		}
		if err := copied(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return &fs.PathError{Op: "rotate log", Path: path, Err: fmt.Errorf(
				"another process still holds the file open %v after its removal: what it writes to it from now on is lost", salvageWait)}
		}
		time.Sleep(pause)
	}
}

// copyTail appends what the removed file f holds past from to the plain
// file at path (made again if need be), synced with its directory entry,
// and returns f's size.
func copyTail(dir, path string, f *os.File, from int64) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, pathErr("stat log", path, err)
	}
	end := fi.Size()
	if end <= from {
		return from, nil
	}
	w, err := openPlain(path)
	if err != nil {
		return 0, err
	}
	err = appendLines(w, path, io.NewSectionReader(f, from, end-from))
	if err == nil {
		if serr := fsys.Sync(w); serr != nil {
			err = pathErr("sync log", path, serr)
		}
	}
	closeFile(w, path, &err)
	if err != nil {
		return 0, err
	}
	return end, syncDir(dir)
}

// openPlain opens the plain log file at path for appending, creating it,
// under its flock, as an append does.
func openPlain(path string) (*os.File, error) {
	for range logOpenAttempts {
		w, err := fsys.OpenFile(path, logAppendFlags, logFileMode)
		if err != nil {
			return nil, pathErr("open log", path, err)
		}
		if err := flockLog(w); err != nil {
			return nil, errors.Join(pathErr("lock log", path, err), w.Close())
		}
		fi, err := w.Stat()
		if err != nil {
			return nil, errors.Join(pathErr("stat log", path, err), w.Close())
		}
		if !unlinked(fi) {
			return w, nil
		}
		// Rotated meanwhile: open the path again.
		if err := w.Close(); err != nil {
			return nil, pathErr("close log", path, err)
		}
	}
	return nil, &fs.PathError{Op: "open log", Path: path, Err: errors.New("removed again and again while waiting for its lock")}
}

// appendLines appends r's bytes to w, in writes that end at line ends, so
// that a writer appending without the flock meanwhile cannot land inside
// a line. A torn last line of w is ended first, so nothing is glued to it.
func appendLines(w *os.File, path string, r io.Reader) error {
	fi, err := w.Stat()
	if err != nil {
		return pathErr("stat log", path, err)
	}
	var buf []byte
	if fi.Size() > 0 {
		var last [1]byte
		if _, err := w.ReadAt(last[:], fi.Size()-1); err != nil {
			return pathErr("read log", path, err)
		}
		if last[0] != '\n' {
			buf = append(buf, '\n')
		}
	}
	chunk := make([]byte, logBufSize)
	for {
		n, rerr := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if rerr == io.EOF || len(buf) > maxLogLine {
			cut = len(buf) // a torn last line, or one too long to keep whole
		}
		if cut > 0 {
			if _, err := fsys.Write(w, buf[:cut]); err != nil {
				return pathErr("write log", path, err)
			}
			buf = append(buf[:0], buf[cut:]...)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return pathErr("read log", path, rerr)
		}
	}
}
