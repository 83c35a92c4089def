//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

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
// and a signal that WriteWakeSignal reported written survives a crash; the
// entries of dir and of its parents are synced first, whoever made them.
//
// Several writers may run at once, in any processes: each renames its own
// file, and signals not yet consumed coalesce into one (waking is
// idempotent). A writer that crashes may leave a temporary file named
// ".wake.signal" plus digits; it is never taken for a signal.
func WriteWakeSignal(dir string) error {
	if err := mkdir(dir); err != nil {
		return err
	}
	// A directory that was there may be a killed process's (or one an
	// earlier call made and failed to sync), its entry never synced: make
	// it durable before the signal goes into it.
	if err := syncEntries(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, WakeSignalFile)
	return replaceFile(path, appendTimestamp(make([]byte, 0, 32), time.Now()))
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
	err := fsys.Unlink(path)
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
