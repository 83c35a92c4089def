//go:build unix

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = errors.New("is a symbolic link; refusing to follow it")
		}
		return nil, pathErr("open lock", path, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if err != nil {
		return nil, errors.Join(pathErr("open lock", path, err), f.Close())
	}
	return &lockFile{f: f, path: path}, nil
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

// lockContext retries tryLock until it succeeds or ctx ends. flock(2) has
// no timeout, and a blocking call cannot be cancelled, so it polls, backing
// off from 1 ms to 50 ms.
func (l *lockFile) lockContext(ctx context.Context) error {
	wait := time.Millisecond
	for {
		err := l.tryLock()
		if !errors.Is(err, ErrLocked) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &fs.PathError{Op: "lock", Path: l.path, Err: fmt.Errorf("%w: %w", ErrLocked, context.Cause(ctx))}
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
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
