package lifecycle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func init() {
	childRoles["idle"] = childIdle
}

// childIdle stands for a Python daemon: a live process that does nothing
// but print "up" and wait for its stdin to close.
func childIdle(string, []string) error {
	fmt.Println("up")
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

// pythonLocked is the content of a .locked file as the Python daemon
// writes it: json.dump(payload, f, indent=2).
func pythonLocked(pid int, host string) []byte {
	return fmt.Appendf(nil, "{\n  \"pid\": %d,\n  \"hostname\": %s,\n  \"started_at\": \"2026-11-25T08:00:00.123456+00:00\",\n  \"schema_version\": 1\n}",
		pid, strconv.Quote(host))
}

// livePID starts a process that stays alive until the test ends.
func livePID(t *testing.T) int {
	t.Helper()
	c := startChild(t, t.TempDir(), "idle")
	c.expect(t, "up")
	return c.cmd.Process.Pid
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	c := startChild(t, t.TempDir(), "idle")
	c.expect(t, "up")
	c.wait(t)
	return c.cmd.Process.Pid
}

// TestAcquireDaemonHonoursPythonDaemon: AcquireDaemon refuses, with
// ErrDaemonRunning naming the pid, when a live Python daemon on this host
// holds the directory's .locked; a .locked that the Python daemon itself
// would take over (dead pid, another host, not a valid payload) lets the
// Go daemon start. Either way .locked is left exactly as it was: the Go
// daemon never removes, replaces or writes it.
func TestAcquireDaemonHonoursPythonDaemon(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	tests := []struct {
		name    string
		locked  func(t *testing.T) []byte // nil: no .locked
		refused bool
	}{
		{"no .locked", nil, false},
		{"live pid on this host", func(t *testing.T) []byte { return pythonLocked(livePID(t), host) }, true},
		{"live pid on this host, compact JSON, more keys", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"schema_version":2,"pid":%d,"hostname":%q,"started_at":"x","extra":[1]}`, livePID(t), host)
		}, true},
		{"dead pid on this host", func(t *testing.T) []byte { return pythonLocked(deadPID(t), host) }, false},
		{"live pid on another host", func(t *testing.T) []byte { return pythonLocked(livePID(t), host+"-elsewhere") }, false},
		{"this process's own pid", func(*testing.T) []byte { return pythonLocked(os.Getpid(), host) }, false},
		{"pid 0", func(*testing.T) []byte { return pythonLocked(0, host) }, false},
		{"negative pid", func(*testing.T) []byte { return pythonLocked(-1, host) }, false},
		{"pid past any pid", func(*testing.T) []byte { return pythonLocked(1<<40, host) }, false},
		{"pid a string", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"pid":"%d","hostname":%q,"started_at":"x","schema_version":1}`, livePID(t), host)
		}, false},
		{"pid a float", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"pid":%d.0,"hostname":%q,"started_at":"x","schema_version":1}`, livePID(t), host)
		}, false},
		{"hostname missing", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"pid":%d,"started_at":"x","schema_version":1}`, livePID(t))
		}, false},
		{"hostname empty", func(t *testing.T) []byte { return pythonLocked(livePID(t), "") }, false},
		{"started_at missing", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"pid":%d,"hostname":%q,"schema_version":1}`, livePID(t), host)
		}, false},
		{"schema_version 0", func(t *testing.T) []byte {
			return fmt.Appendf(nil, `{"pid":%d,"hostname":%q,"started_at":"x","schema_version":0}`, livePID(t), host)
		}, false},
		{"not JSON", func(*testing.T) []byte { return []byte("pid=12") }, false},
		{"an array", func(*testing.T) []byte { return []byte("[1, 2]") }, false},
		{"empty", func(*testing.T) []byte { return []byte{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			locked := filepath.Join(dir, lifecycle.PythonDaemonLockFile)
			var content []byte
			if tt.locked != nil {
				content = tt.locked(t)
				require.NoError(t, os.WriteFile(locked, content, 0o600))
			}

			l, err := lifecycle.AcquireDaemon(dir)

			if tt.refused {
				require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
				var pe *fs.PathError
				require.True(t, errors.As(err, &pe), "want an *fs.PathError, got %T: %v", err, err)
				require.Equal(t, locked, pe.Path)
				require.Equal(t, "acquire daemon lock", pe.Op)
				var payload struct{ PID int }
				require.NoError(t, json.Unmarshal(content, &payload))
				require.ErrorContains(t, err, "pid "+strconv.Itoa(payload.PID))
				require.ErrorContains(t, err, "Python daemon")
				require.Nil(t, l)
			} else {
				require.NoError(t, err)
				require.NoError(t, l.Release())
			}
			if content == nil {
				require.NoFileExists(t, locked, "the Go daemon writes no .locked")
			} else {
				require.Equal(t, content, stRead(t, locked), ".locked is left as it was")
			}
			// A refusal released the daemon lock it had taken: with
			// .locked gone, the next daemon starts.
			require.NoError(t, os.RemoveAll(locked))
			l, err = lifecycle.AcquireDaemon(dir)
			require.NoError(t, err)
			require.NoError(t, l.Release())
		})
	}
}

// TestAcquireDaemonWaitsForPythonWrite: the Python daemon creates .locked
// (O_CREAT|O_EXCL) before it writes the payload, so a reader may find it
// empty or half written. AcquireDaemon reads it again for a moment before
// it takes it for a file the Python daemon would overwrite.
func TestAcquireDaemonWaitsForPythonWrite(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	dir := t.TempDir()
	locked := filepath.Join(dir, lifecycle.PythonDaemonLockFile)
	payload := pythonLocked(livePID(t), host)
	for _, partial := range [][]byte{{}, payload[:len(payload)/2]} {
		f, err := os.OpenFile(locked, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		require.NoError(t, err)
		_, err = f.Write(partial)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			time.Sleep(20 * time.Millisecond)
			_, err := f.WriteAt(payload, 0)
			done <- errors.Join(err, f.Close())
		}()
		l, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, <-done)
		if err == nil {
			require.NoError(t, l.Release())
		}
		require.ErrorIs(t, err, lifecycle.ErrDaemonRunning, "with %q in .locked at first", partial)
		require.Equal(t, payload, stRead(t, locked))
		require.NoError(t, os.Remove(locked))
	}
}
