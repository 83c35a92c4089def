package lifecycle_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func init() {
	childRoles["daemon"] = childDaemon
}

// childDaemon runs "daemon" or "daemon race". It calls AcquireDaemon and
// prints "won", then holds the lock until its stdin closes; or it prints
// "lost: " and the error. With "race" it first prints "ready" and waits for
// a line on stdin, so that two children can be let go at the same moment.
func childDaemon(dir string, args []string) error {
	in := bufio.NewReader(os.Stdin)
	if len(args) > 0 && args[0] == "race" {
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
	}
	l, err := lifecycle.AcquireDaemon(dir)
	if errors.Is(err, lifecycle.ErrDaemonRunning) {
		fmt.Println("lost:", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Println("won")
	if _, err := io.Copy(io.Discard, in); err != nil {
		return err
	}
	return l.Release()
}

// line reads the child's next line.
func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.stdout.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSuffix(s, "\n")
}

func daemonLockPath(dir string) string { return filepath.Join(dir, lifecycle.DaemonLockFile) }

// quickExit spares the children this test starts the second that a race
// detector build sleeps before exiting, for tests that wait for many exits.
func quickExit(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// TestAcquireDaemonRace lets two starters go at once, 50 times on the same
// directory: exactly one wins each time, and the loser is told why.
func TestAcquireDaemonRace(t *testing.T) {
	quickExit(t)
	dir := t.TempDir()
	for round := range 50 {
		cs := []*child{startChild(t, dir, "daemon race"), startChild(t, dir, "daemon race")}
		for _, c := range cs {
			c.expect(t, "ready")
		}
		for _, c := range cs {
			_, err := io.WriteString(c.stdin, "go\n")
			require.NoError(t, err)
		}
		won, lost := 0, 0
		for _, c := range cs {
			switch line := c.line(t); {
			case line == "won":
				won++
			case strings.HasPrefix(line, "lost: "):
				lost++
				require.Contains(t, line, lifecycle.ErrDaemonRunning.Error(), "round %d", round)
				require.Contains(t, line, daemonLockPath(dir), "round %d", round)
			default:
				require.Failf(t, "unexpected line", "round %d: %q", round, line)
			}
		}
		require.Equal(t, 1, won, "round %d: winners", round)
		require.Equal(t, 1, lost, "round %d: losers", round)
		for _, c := range cs {
			c.wait(t) // the winner releases; the next round starts from a free lock
		}
	}
}

// TestAcquireDaemonNamesHolder: the loser's error wraps ErrDaemonRunning,
// is an *fs.PathError naming the lock file, and names the holder's pid.
func TestAcquireDaemonNamesHolder(t *testing.T) {
	quickExit(t)
	dir := t.TempDir()
	c := startChild(t, dir, "daemon")
	c.expect(t, "won")

	l, err := lifecycle.AcquireDaemon(dir)
	require.Nil(t, l)
	require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, daemonLockPath(dir), pe.Path)
	require.Contains(t, err.Error(), fmt.Sprintf("(pid %d)", c.cmd.Process.Pid))

	c.wait(t)
	l, err = lifecycle.AcquireDaemon(dir)
	require.NoError(t, err)
	require.NoError(t, l.Release())
}

// TestAcquireDaemonAfterKill: the kernel releases a killed holder's lock, so
// the first AcquireDaemon after the holder is reaped succeeds, with no retry.
func TestAcquireDaemonAfterKill(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir, "daemon")
	c.expect(t, "won")
	_, err := lifecycle.AcquireDaemon(dir)
	require.ErrorIs(t, err, lifecycle.ErrDaemonRunning, "the child holds the lock")

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	var exit *exec.ExitError
	require.ErrorAs(t, c.cmd.Wait(), &exit)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	l, err := lifecycle.AcquireDaemon(dir)
	require.NoError(t, err)
	data, err := os.ReadFile(daemonLockPath(dir))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d\n", os.Getpid()), string(data), "the new holder wrote its pid over the dead one's")
	require.NoError(t, l.Release())
}

func TestAcquireDaemonInProcess(t *testing.T) {
	t.Run("a second acquire in the same process is refused", func(t *testing.T) {
		dir := t.TempDir()
		l, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, err)
		_, err = lifecycle.AcquireDaemon(dir)
		require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
		require.Contains(t, err.Error(), fmt.Sprintf("(pid %d)", os.Getpid()))
		require.NoError(t, l.Release())
	})
	t.Run("creates the directory 0700 and the file 0600 holding the pid", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		l, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, err)
		require.Equal(t, daemonLockPath(dir), l.Path())
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
		fi, err = os.Stat(l.Path())
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
		data, err := os.ReadFile(l.Path())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d\n", os.Getpid()), string(data))
		require.NoError(t, l.Release())
	})
	t.Run("release is idempotent, frees the lock and keeps the file", func(t *testing.T) {
		dir := t.TempDir()
		l, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, err)
		before, err := os.Stat(l.Path())
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = l.Release()
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, l.Release())
		after, err := os.Stat(l.Path())
		require.NoError(t, err)
		require.True(t, os.SameFile(before, after), "the lock file is the same inode")

		l2, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, err)
		require.NoError(t, l2.Release())
	})
	t.Run("a lock whose handle is dropped stays held", func(t *testing.T) {
		dir := t.TempDir()
		func() {
			_, err := lifecycle.AcquireDaemon(dir)
			require.NoError(t, err)
		}()
		// Without the library keeping it, the collector would finalize the
		// file and close it, releasing the flock.
		for range 3 {
			runtime.GC()
			runtime.Gosched()
		}
		_, err := lifecycle.AcquireDaemon(dir)
		require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
	})
	t.Run("release of a nil lock", func(t *testing.T) {
		var l *lifecycle.DaemonLock
		require.NoError(t, l.Release())
	})
}

// TestAcquireDaemonPidUnknown: the pid in the file is for the message only;
// whatever the file holds, the flock decides, and a pid that cannot be read
// is "pid unknown".
func TestAcquireDaemonPidUnknown(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "(pid unknown)"},
		{"garbage", "not a pid\n", "(pid unknown)"},
		{"no newline: maybe half written", "4242", "(pid unknown)"},
		{"zero", "0\n", "(pid unknown)"},
		{"negative", "-7\n", "(pid unknown)"},
		{"overflow", "99999999999999999999999\n", "(pid unknown)"},
		{"two lines", "4242\n17\n", "(pid unknown)"},
		{"binary", "\x00\xff\n", "(pid unknown)"},
		{"long", strings.Repeat("1", 4096) + "\n", "(pid unknown)"},
		{"a pid", "4242\n", "(pid 4242)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			holder, err := os.OpenFile(daemonLockPath(dir), os.O_RDWR|os.O_CREATE, 0o600)
			require.NoError(t, err)
			defer func() { require.NoError(t, holder.Close()) }()
			_, err = holder.WriteString(tc.content)
			require.NoError(t, err)
			require.NoError(t, unix.Flock(int(holder.Fd()), unix.LOCK_EX|unix.LOCK_NB))

			_, err = lifecycle.AcquireDaemon(dir)
			require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
			require.Contains(t, err.Error(), tc.want)
			data, err := os.ReadFile(daemonLockPath(dir))
			require.NoError(t, err)
			require.Equal(t, tc.content, string(data), "the loser writes nothing")
		})
	}
}

func TestAcquireDaemonRefusesBadPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) (path string)
		want  string
	}{
		{
			name: "lock path is a symlink",
			setup: func(t *testing.T, dir string) string {
				target := filepath.Join(dir, "target")
				require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
				require.NoError(t, os.Symlink(target, daemonLockPath(dir)))
				t.Cleanup(func() {
					data, err := os.ReadFile(target)
					require.NoError(t, err)
					require.Equal(t, "keep", string(data), "the symlink's target is untouched")
				})
				return daemonLockPath(dir)
			},
			want: "symbolic link",
		},
		{
			name: "lock path is a dangling symlink",
			setup: func(t *testing.T, dir string) string {
				target := filepath.Join(dir, "nowhere")
				require.NoError(t, os.Symlink(target, daemonLockPath(dir)))
				t.Cleanup(func() {
					_, err := os.Lstat(target)
					require.ErrorIs(t, err, fs.ErrNotExist, "no file was created through the symlink")
				})
				return daemonLockPath(dir)
			},
			want: "symbolic link",
		},
		{
			name: "lock path is a directory",
			setup: func(t *testing.T, dir string) string {
				require.NoError(t, os.Mkdir(daemonLockPath(dir), 0o700))
				return daemonLockPath(dir)
			},
			want: "directory",
		},
		{
			name: "lock path is a FIFO",
			setup: func(t *testing.T, dir string) string {
				require.NoError(t, unix.Mkfifo(daemonLockPath(dir), 0o600))
				return daemonLockPath(dir)
			},
			want: "is a named pipe (FIFO), not a regular file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			l, err := lifecycle.AcquireDaemon(dir)
			require.Nil(t, l)
			require.Error(t, err)
			require.NotErrorIs(t, err, lifecycle.ErrDaemonRunning)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, path, pe.Path)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("directory is a file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(dir, nil, 0o600))
		_, err := lifecycle.AcquireDaemon(dir)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, dir, pe.Path)
	})
}
