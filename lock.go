//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile is the sibling file whose flock serialises writers across
// processes. It is never renamed or deleted: the state file is replaced by
// rename, and a lock held on a replaced inode would protect nothing.
type lockFile struct {
	f    *os.File
	path string
}

// openLock opens (creating 0600) the lock file. O_NOFOLLOW refuses a symlink
// planted at path, so the lock never touches a file somewhere else.
func openLock(path string) (*lockFile, error) {
	f, err := openOrCreate(path)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = errors.New("is a symbolic link; refusing to follow it")
		}
		return nil, pathErr("open lock", path, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotRegular(fi.Mode().Type())
	}
	if err != nil {
		return nil, errors.Join(pathErr("open lock", path, err), f.Close())
	}
	return &lockFile{f: f, path: path}, nil
}

// openOrCreate opens the file at path for reading and writing, creating it
// 0600 if it is missing; a file it creates is made durable (its directory
// synced) before it is used.
func openOrCreate(path string) (*os.File, error) {
	const flags = os.O_RDWR | syscall.O_CLOEXEC | unix.O_NOFOLLOW
	for {
		f, err := fsys.OpenFile(path, flags, 0)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		f, err = fsys.OpenFile(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // created meanwhile by another process
		}
		if err != nil {
			return nil, err
		}
		if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
			return nil, errors.Join(err, f.Close())
		}
		return f, nil
	}
}

// tryLock takes the exclusive lock or fails at once with ErrLocked.
func (l *lockFile) tryLock() error {
	switch err := flock(l.f, unix.LOCK_EX|unix.LOCK_NB); err {
	case nil:
		return nil
	case unix.EWOULDBLOCK:
		return &fs.PathError{Op: "lock", Path: l.path, Err: ErrLocked}
	default:
		return &fs.PathError{Op: "lock", Path: l.path, Err: err}
	}
}

// busy is the error for a lock another process holds: ErrLocked, the
// holder's pid where the system tells, and, after a wait that ctxErr ended,
// how long it waited.
func (l *lockFile) busy(ctxErr error, waited time.Duration) error {
	msg := "%w"
	args := []any{ErrLocked}
	if pid := lockHolder(l.f); pid > 0 {
		msg += " (pid %d)"
		args = append(args, pid)
	}
	if ctxErr != nil {
		msg += "; waited %v: %w"
		args = append(args, waited.Round(time.Millisecond), ctxErr)
	}
	return &fs.PathError{Op: "lock", Path: l.path, Err: fmt.Errorf(msg, args...)}
}

func (l *lockFile) unlock() error {
	if err := flock(l.f, unix.LOCK_UN); err != nil {
		return &fs.PathError{Op: "unlock", Path: l.path, Err: err}
	}
	return nil
}

func (l *lockFile) close() error {
	if err := l.f.Close(); err != nil {
		return pathErr("close lock", l.path, err)
	}
	return nil
}

// flock applies flock(2) to f, retrying when a signal interrupts it. It
// reaches the descriptor through SyscallConn: f.Fd() would also switch the
// file to blocking mode, an fcntl(2) on every call.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if ferr = unix.Flock(int(fd), how); ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
