//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"
	"os"
)

// Sentinel errors, matched with errors.Is. Errors that concern a file are
// *fs.PathError values naming it, wrapping one of these.
var (
	// ErrLocked: another process holds the lifecycle lock.
	ErrLocked = errors.New("lifecycle lock held by another process")
	// ErrCorruptState: the state file's content is not a record: not JSON,
	// invalid, too large, or not a regular file. A file the system will not
	// let be read (permissions, no descriptors, a disk error) is not corrupt:
	// that error is the system call's, an *fs.PathError naming its call.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrUnknownState: a string that is not a state.
	ErrUnknownState = errors.New("unknown state")
	// ErrUnknownEvent: a string that is not an event.
	ErrUnknownEvent = errors.New("unknown event")
	// ErrInvalidRecord: a Record that may not be saved as it is.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrPoisoned: an earlier write or sync failed; make a new Machine.
	ErrPoisoned = errors.New("machine poisoned by an earlier write error")
	// ErrInvalidTable: a transition table that NewTable, LoadTable or
	// UnmarshalJSON refuses.
	ErrInvalidTable = errors.New("invalid transition table")
	// ErrInvalidReason: a dispatch's reason that is not a short line of
	// printable UTF-8.
	ErrInvalidReason = errors.New("invalid dispatch reason")
	// ErrDaemonRunning: another daemon holds the directory's daemon lock.
	ErrDaemonRunning = errors.New("a daemon already runs on this directory")
)

// pathErr reports err as an *fs.PathError naming path. A system error the
// os package already wrapped (naming, say, a temporary file) is unwrapped
// first, so the error names the file the caller knows.
func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: unwrapPath(err)}
}

// unwrapPath strips the *fs.PathError or *os.LinkError around a system error.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
