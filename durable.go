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
// directory after it, or a power loss could bring back the old entry.
func replaceFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if f != nil {
			err = errors.Join(err, f.Close())
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
	cerr := f.Close()
	f = nil
	if cerr != nil {
		return pathErr("close temp file", tmp, cerr)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return pathErr("replace", path, err)
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
// O_EXCL so that it is surely new and surely ours.
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
		return f, tmp, nil
	}
	return nil, "", &fs.PathError{Op: "create temp file", Path: path, Err: errors.New("no free temporary name")}
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
		if made {
			if rerr := fsys.Remove(dir); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return err
	}
	return nil
}

// syncFileAndDir makes the file at path and its directory entry durable.
func syncFileAndDir(path string) error {
	f, err := fsys.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return pathErr("sync", path, err)
	}
	serr := fsys.Sync(f)
	cerr := f.Close()
	if serr != nil {
		return pathErr("sync", path, serr)
	}
	if cerr != nil {
		return pathErr("close", path, cerr)
	}
	return syncDir(filepath.Dir(path))
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
