//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The Python daemon creates .locked (O_CREAT|O_EXCL) and then writes its
// payload, so a reader can find the file empty or half written. A payload
// that does not parse is read again, this often, before it is taken for a
// file that the Python daemon would itself overwrite.
const (
	pythonLockReads    = 25
	pythonLockReadWait = 20 * time.Millisecond
	maxPythonLockSize  = 64 << 10
)

// pythonLock is the payload of the Python daemon's .locked.
type pythonLock struct {
	pid       int
	hostname  string
	startedAt string
}

// checkPythonDaemon fails with ErrDaemonRunning, naming dir's .locked and
// the pid in it, when a live Python daemon on this host holds it. It judges
// the file as the Python daemon does: a file that is missing, unreadable or
// not a valid payload, names another host, or names a pid that is not alive
// (or is this process's own) holds nothing. It never writes or removes the
// file.
func checkPythonDaemon(dir string) error {
	path := filepath.Join(dir, PythonDaemonLockFile)
	var p pythonLock
	for read := 1; ; read++ {
		data, err := readPythonLock(path)
		if err != nil {
			return nil // missing or unreadable: the Python daemon reads no lock either
		}
		var ok bool
		if p, ok = parsePythonLock(data); ok {
			break
		}
		if read == pythonLockReads {
			return nil
		}
		time.Sleep(pythonLockReadWait)
	}
	host, err := os.Hostname()
	if err == nil && p.hostname != host {
		return nil // another host's daemon, on a shared or synced directory
	}
	if p.pid == os.Getpid() || !pidAlive(p.pid) {
		return nil
	}
	return &fs.PathError{Op: "acquire daemon lock", Path: path, Err: fmt.Errorf(
		"%w: a Python daemon, pid %d on %s since %s, holds it (if no such daemon runs, remove the file)",
		ErrDaemonRunning, p.pid, p.hostname, p.startedAt)}
}

// readPythonLock reads .locked, at most maxPythonLockSize bytes of a
// regular file.
func readPythonLock(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	data, err := readRegular(f, maxPythonLockSize)
	return data, errors.Join(err, f.Close())
}

// parsePythonLock accepts what the Python daemon's own reader accepts: a
// JSON object with a positive integer pid, non-empty hostname and
// started_at strings, and a positive integer schema_version (any version:
// a later one is taken to be compatible). Other keys are ignored.
func parsePythonLock(data []byte) (pythonLock, bool) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return pythonLock{}, false
	}
	positive := func(v json.RawMessage) (int64, bool) {
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil && n > 0
	}
	str := func(v json.RawMessage) (string, bool) {
		var s string
		return s, json.Unmarshal(v, &s) == nil && !isNull(v) && s != ""
	}
	pid, okPID := positive(raw["pid"])
	_, okVersion := positive(raw["schema_version"])
	host, okHost := str(raw["hostname"])
	started, okStarted := str(raw["started_at"])
	if !okPID || pid > math.MaxInt32 || !okVersion || !okHost || !okStarted {
		return pythonLock{}, false
	}
	return pythonLock{pid: int(pid), hostname: host, startedAt: started}, true
}

// pidAlive reports whether a process with this pid exists: kill(pid, 0)
// succeeds, or fails only for want of permission to signal it.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	for err == unix.EINTR {
		err = unix.Kill(pid, 0)
	}
	return err == nil || err == unix.EPERM
}
