//go:build unix

package lifecycle

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
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

// saveState validates r (its current_state against t) and replaces path
// with it; see replaceFile.
func saveState(path string, r Record, t *Table, syncDir bool) error {
	if err := r.validate(t); err != nil {
		return &fs.PathError{Op: "save state", Path: path, Err: err}
	}
	data, err := r.fileBytes()
	if err != nil {
		return &fs.PathError{Op: "save state", Path: path, Err: fmt.Errorf("%w: %w", ErrInvalidRecord, err)}
	}
	return replaceFile(path, data, syncDir)
}

// replaceFile writes data to a temporary file beside path (created 0600, so
// never readable by others), syncs it and renames it over path, then, if
// syncDirectory, syncs the directory. The directory sync is what renameio
// leaves out: rename(2)
// changes the directory, and until the directory is synced a power loss may
// bring back the old entry (fsync(2): "Calling fsync() does not necessarily
// ensure that the entry in the directory containing the file has also
// reached disk. For that an explicit fsync() on a file descriptor for the
// directory is also needed.").
func replaceFile(path string, data []byte, syncDirectory bool) (err error) {
	dir := filepath.Dir(path)
	// WithTempDir keeps the temp file on path's file system: renameio would
	// otherwise use os.TempDir() when it shares the device, and a rename is
	// only atomic within one directory's file system.
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return pathErr("create temp file", path, err)
	}
	defer func() {
		if cerr := t.Cleanup(); cerr != nil && err == nil {
			err = pathErr("remove temp file", t.Name(), cerr)
		}
	}()
	if _, err := t.Write(data); err != nil {
		return pathErr("write", path, err)
	}
	if err := hook(stepTempWrite); err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	// CloseAtomicallyReplace syncs the temporary file before its rename
	// (without the sync, a crash could leave the new name on an empty
	// file). Only a failure-injection test, which must stop between the
	// sync and the rename, syncs it here first.
	if afterStep != nil {
		if err := t.Sync(); err != nil {
			return pathErr("sync", path, err)
		}
		if err := hook(stepTempSync); err != nil {
			return &fs.PathError{Op: "sync", Path: path, Err: err}
		}
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return pathErr("replace", path, err)
	}
	if err := hook(stepRename); err != nil {
		return &fs.PathError{Op: "replace", Path: path, Err: err}
	}
	if !syncDirectory {
		return nil
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := hook(stepDirSync); err != nil {
		return &fs.PathError{Op: "sync dir", Path: dir, Err: err}
	}
	return nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_CLOEXEC|syscall.O_DIRECTORY, 0)
	if err != nil {
		return pathErr("sync dir", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return pathErr("sync dir", dir, serr)
	}
	if cerr != nil {
		return pathErr("close dir", dir, cerr)
	}
	return nil
}
