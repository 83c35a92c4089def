//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// step names a point inside a durable write, for failure injection in tests.
type step string

const (
	stepLogWrite  step = "log write"
	stepLogSync   step = "log fsync"
	stepTempWrite step = "temp write"
	stepTempSync  step = "temp fsync"
	stepRename    step = "rename"
	stepDirSync   step = "dir fsync"
)

// afterStep, when set by a test, runs after each step; an error it returns
// is treated as that step's failure. It is nil in production.
var afterStep func(step) error

func hook(s step) error {
	if afterStep == nil {
		return nil
	}
	return afterStep(s)
}

// replaceFile writes data to a temporary file beside path (created 0600, so
// never readable by others), syncs it and renames it over path, then syncs
// the directory. The temporary file is synced before
// the rename, or a crash could leave the new name on an empty file; the
// directory after it, or a power loss could bring back the old entry. The
// temporary file is held open, and flocked, until it has its new name: the
// flock tells removeStaleTemps that its writer is alive.
func replaceFile(path string, data []byte) error {
	return replaceFileIf(path, data, nil)
}

// replaceFileIf is replaceFile, but calls check, if not nil, right before
// the rename: an error from it removes the temporary file and is returned,
// nothing renamed.
func replaceFileIf(path string, data []byte, check func() error) (err error) {
	dir := filepath.Dir(path)
	f, tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if f != nil {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = pathErr("close temp file", tmp, cerr)
			}
		}
		if err == nil || renamed {
			return
		}
		if rerr := fsys.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, pathErr("remove temp file", tmp, rerr))
		}
	}()
	if _, err := fsys.Write(f, data); err != nil {
		return pathErr("write", path, err)
	}
	if err := hook(stepTempWrite); err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	if err := fsys.Sync(f); err != nil {
		return pathErr("sync", path, err)
	}
	if err := hook(stepTempSync); err != nil {
		return &fs.PathError{Op: "sync", Path: path, Err: err}
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return pathErr("replace", path, err)
	}
	renamed = true
	cerr := f.Close()
	f = nil
	if cerr != nil {
		return pathErr("close", path, cerr)
	}
	if err := hook(stepRename); err != nil {
		return &fs.PathError{Op: "replace", Path: path, Err: err}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := hook(stepDirSync); err != nil {
		return &fs.PathError{Op: "sync dir", Path: dir, Err: err}
	}
	return nil
}

// createTemp creates a new file beside path named "." + its base name +
// random digits (the pattern removeStaleTemps looks for), 0600, with
// O_EXCL so that it is surely new and surely ours, and returns it flocked.
// A name whose flock is taken, or that is gone once the flock is ours, was
// met by removeStaleTemps in the instant between the create and the flock:
// another name is tried.
func createTemp(path string) (*os.File, string, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		tmp := filepath.Join(dir, "."+base+strconv.FormatUint(rand.Uint64(), 10))
		f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", pathErr("create temp file", path, err)
		}
		ok, err := lockTemp(f)
		if err != nil {
			return nil, "", errors.Join(pathErr("lock temp file", tmp, err), f.Close())
		}
		if !ok {
			if err := f.Close(); err != nil {
				return nil, "", pathErr("close temp file", tmp, err)
			}
			continue
		}
		return f, tmp, nil
	}
	return nil, "", &fs.PathError{Op: "create temp file", Path: path, Err: errors.New("no free temporary name")}
}

// lockTemp takes the flock of a temporary file just created, without
// waiting, and reports whether it is still linked: ok is false when a
// remover holds the flock or has removed the file.
func lockTemp(f *os.File) (ok bool, err error) {
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	return !unlinked(fi), nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return pathErr("sync dir", dir, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents, 0700, like os.MkdirAll,
// and fails if it exists and is not a directory. Each directory it creates
// is made durable (its parent synced) before anything goes into it: a file
// synced inside a directory whose own entry a power loss undoes is lost
// with it.
func mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return syscall.ENOTDIR
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	// Made meanwhile by another process (ErrExist), its entry is synced
	// too: that process may stop before it syncs it.
	err = fsys.Mkdir(dir, 0o700)
	made := err == nil
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
		// A directory this call made and could not make durable is
		// removed again: left there, the next call would take it for a
		// durable one and put files in it.
		serr := error(&syncError{dir: filepath.Dir(dir), err: unwrapPath(err)})
		if made {
			if rerr := fsys.Remove(dir); rerr != nil {
				serr = errors.Join(serr, rerr)
			}
		}
		return serr
	}
	return nil
}

// syncError is a failed fsync of a directory. A Machine that meets one is
// poisoned, whatever it was doing: the kernel may have dropped the entries
// it could not write, and a second fsync can report success for them.
type syncError struct {
	dir string
	err error
}

func (e *syncError) Error() string { return "sync " + e.dir + ": " + e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

// isSyncError reports whether err comes from a failed directory fsync.
func isSyncError(err error) bool {
	var se *syncError
	return errors.As(err, &se)
}

// syncEntries makes the entries of dirs and of their ancestors durable: it
// syncs each one's parent, up to the root. A parent that cannot be synced
// fails it; an ancestor further up that this process may not open ends the
// walk there, but any other error (EIO, ENOSPC, EMFILE, ...) fails it too:
// the entry it was to make durable may not be.
func syncEntries(dirs ...string) error {
	done := map[string]bool{}
	for _, d := range dirs {
		for p, first := filepath.Clean(d), true; ; first = false {
			parent := filepath.Dir(p)
			if parent == p || done[parent] {
				break
			}
			if err := syncDir(parent); err != nil {
				if first || !errors.Is(err, fs.ErrPermission) {
					return err
				}
				break
			}
			done[parent] = true
			p = parent
		}
	}
	return nil
}

// mkdir creates dir 0700 if it is missing, with its missing parents, each
// made durable, and fails if it is not a directory.
func mkdir(dir string) error {
	if err := mkdirAll(dir); err != nil {
		return pathErr("mkdir", dir, err)
	}
	return nil
}
