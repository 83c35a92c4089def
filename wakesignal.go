package lifecycle

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"
)

// WakeSignalFile is the name of the wake signal inside a lifecycle
// directory. A program that wants a hibernated daemon back, and must not
// write the state file behind the daemon's lock, writes this file; the
// daemon consumes it at boot and on each tick and dispatches wake_signal.
const WakeSignalFile = "wake.signal"

// WriteWakeSignal leaves a wake signal in dir (created 0700 if missing):
// the file wake.signal, mode 0600, holding the time it was written. The file
// is written under a unique temporary name beside it, synced, renamed into
// place and the directory synced, so a reader never sees a partial signal
// and a signal that WriteWakeSignal reported written survives a crash.
//
// Several writers may run at once, in any processes: each renames its own
// file, and signals not yet consumed coalesce into one (waking is
// idempotent). A writer that crashes may leave a temporary file named
// ".wake.signal" plus digits; it is never taken for a signal.
func WriteWakeSignal(dir string) (err error) {
	if err := mkdir(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, WakeSignalFile)
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return &fs.PathError{Op: "create wake signal", Path: path, Err: sysErr(err)}
	}
	defer func() {
		if cerr := t.Cleanup(); cerr != nil && err == nil {
			err = &fs.PathError{Op: "remove temp wake signal", Path: t.Name(), Err: sysErr(cerr)}
		}
	}()
	if _, err := t.Write(appendTimestamp(make([]byte, 0, 32), time.Now())); err != nil {
		return &fs.PathError{Op: "write wake signal", Path: path, Err: sysErr(err)}
	}
	// Syncs the data, closes, renames.
	if err := t.CloseAtomicallyReplace(); err != nil {
		return &fs.PathError{Op: "write wake signal", Path: path, Err: sysErr(err)}
	}
	return syncDir(dir)
}

// ConsumeWakeSignal takes the wake signal in dir, if there is one, and
// reports whether it did. Of several consumers racing for one signal, in any
// processes, exactly one gets true: the signal is taken by unlink(2), which
// removes a directory entry atomically and succeeds for one caller only (a
// check for the file followed by a removal would let two callers both see
// it). The directory is then synced, so a consumed signal does not come back
// after a crash. Reading the signal's content first would race with a
// writer's rename, and nothing in it is needed, so it is not read.
//
// No signal, or no dir, is (false, nil). A directory named wake.signal is
// not a signal: it is left alone and reported as an error. (true, err) means
// the signal was taken but the directory sync failed: act on the signal; it
// may come back after a crash, which at worst wakes the daemon once more.
func ConsumeWakeSignal(dir string) (bool, error) {
	path := filepath.Join(dir, WakeSignalFile)
	err := unix.Unlink(path)
	for errors.Is(err, unix.EINTR) {
		err = unix.Unlink(path)
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case err != nil:
		return false, &fs.PathError{Op: "consume wake signal", Path: path, Err: err}
	}
	if err := syncDir(dir); err != nil {
		return true, err
	}
	return true, nil
}

// sysErr strips the *fs.PathError or *os.LinkError around a system error,
// so that the error returned names the file the caller knows rather than a
// temporary one.
func sysErr(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return unwrapPath(err)
}
