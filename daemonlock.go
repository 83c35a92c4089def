//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// DaemonLockFile is the file in a lifecycle directory whose flock marks the
// one daemon running on it. Like the lifecycle lock it is never renamed or
// deleted.
const DaemonLockFile = ".daemon.lock"

// PythonDaemonLockFile is the file with which the Python daemon keeps itself
// the one daemon of its store directory: JSON naming its pid, host and start
// time, replaced or removed by that daemon. See AcquireDaemon.
const PythonDaemonLockFile = ".locked"

// DaemonLock is held by the one daemon of a lifecycle directory; see
// AcquireDaemon.
type DaemonLock struct {
	path string
	mu   sync.Mutex
	lock *lockFile // nil once released
}

// heldDaemonLocks keeps every acquired lock reachable until Release, so a
// caller that drops its *DaemonLock still holds the lock for the life of the
// process: otherwise the garbage collector would close the file, and with it
// release the flock, behind the daemon's back.
var heldDaemonLocks = struct {
	sync.Mutex
	m map[*DaemonLock]struct{}
}{m: map[*DaemonLock]struct{}{}}

// AcquireDaemon makes this process the one daemon of dir. It takes an
// exclusive flock on dir/.daemon.lock (created 0600, opened O_NOFOLLOW and
// O_CLOEXEC; dir is created 0700 if missing) and keeps it until Release or
// the end of the process, whatever ends it: the kernel releases the lock of
// a process that dies, even by SIGKILL, so there is no stale lock to clean
// up and no guess about whether a recorded pid is alive.
//
// When another process (or another AcquireDaemon in this one) holds the
// lock, it fails at once with an *fs.PathError naming the file and wrapping
// ErrDaemonRunning, whose message names the holder's pid. The holder writes
// its pid into the file after locking, for that message only: the flock
// alone decides who runs. A file that holds no whole pid (the holder is
// between its lock and its write, or the file was written by something else)
// gives "pid unknown".
//
// The lock is independent of the lifecycle lock that Dispatch takes: it keeps
// out a second daemon, not tools that dispatch or read. It is not inherited
// by programs the daemon runs.
//
// The Python daemon does not see this flock; it keeps itself single with
// the file .locked in its store directory (PythonDaemonLockFile: JSON
// naming its pid, host and start time). Holding the flock, AcquireDaemon
// reads dir/.locked as the Python daemon would and refuses, with an
// *fs.PathError naming .locked and wrapping ErrDaemonRunning whose message
// names the pid, when it names a live process on this host (other than this
// one). A .locked that is missing, unreadable, not a valid payload (read
// again for up to half a second first, as the Python daemon may be between
// creating and writing it), from another host, or naming a dead pid holds
// nothing, as for the Python daemon, which would take it over. AcquireDaemon
// never writes, replaces or removes .locked, and writes no .locked of its
// own: a Python daemon started after a Go daemon does not see it (see
// docs/python.md for why, and what to do about it).
func AcquireDaemon(dir string) (*DaemonLock, error) {
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DaemonLockFile)
	l, err := openLock(path)
	if err != nil {
		return nil, err
	}
	switch err := l.tryLock(); {
	case errors.Is(err, ErrLocked):
		running := &fs.PathError{Op: "acquire daemon lock", Path: path,
			Err: fmt.Errorf("%w (%s)", ErrDaemonRunning, holderPID(l.f))}
		return nil, errors.Join(running, l.close())
	case err != nil:
		return nil, errors.Join(err, l.close())
	}
	if err := checkPythonDaemon(dir); err != nil {
		return nil, errors.Join(err, l.unlock(), l.close())
	}
	if err := writePID(l.f, path); err != nil {
		return nil, errors.Join(err, l.unlock(), l.close())
	}
	d := &DaemonLock{path: path, lock: l}
	heldDaemonLocks.Lock()
	heldDaemonLocks.m[d] = struct{}{}
	heldDaemonLocks.Unlock()
	return d, nil
}

// Path is the lock file's path.
func (d *DaemonLock) Path() string { return d.path }

// Release gives up the lock, so that another daemon may start. The file stays
// (deleting it would let the next two daemons lock two different files), with
// the last holder's pid in it. Release is safe for concurrent use; calls
// after the first, and on a nil *DaemonLock, do nothing and return nil.
func (d *DaemonLock) Release() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lock == nil {
		return nil
	}
	l := d.lock
	d.lock = nil
	heldDaemonLocks.Lock()
	delete(heldDaemonLocks.m, d)
	heldDaemonLocks.Unlock()
	// Closing alone would release the flock; the explicit unlock makes the
	// release not depend on there being no other descriptor of the file.
	return errors.Join(l.unlock(), l.close())
}

// writePID replaces the content of the locked file with "PID\n" and syncs it.
func writePID(f *os.File, path string) error {
	line := strconv.AppendInt(nil, int64(os.Getpid()), 10)
	line = append(line, '\n')
	if err := fsys.Truncate(f, 0); err != nil {
		return pathErr("write daemon pid", path, err)
	}
	if _, err := fsys.WriteAt(f, line, 0); err != nil {
		return pathErr("write daemon pid", path, err)
	}
	if err := fsys.Sync(f); err != nil {
		return pathErr("sync daemon pid", path, err)
	}
	return nil
}

// holderPID reads the pid the holder wrote: "pid N", or "pid unknown" when
// the file is not exactly one line of decimal digits (empty, half written,
// garbage, unreadable). It is for a message only, so it never fails.
func holderPID(f *os.File) string {
	const unknown = "pid unknown"
	var buf [24]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) || n == len(buf) {
		return unknown
	}
	s, ok := strings.CutSuffix(string(buf[:n]), "\n")
	if !ok || s == "" || strings.Trim(s, "0123456789") != "" {
		return unknown
	}
	pid, err := strconv.ParseInt(s, 10, 32)
	if err != nil || pid <= 0 {
		return unknown
	}
	return "pid " + strconv.FormatInt(pid, 10)
}
