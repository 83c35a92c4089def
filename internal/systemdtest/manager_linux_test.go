package systemdtest

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A manager boots as PID 1 of its namespaces, in a cgroup namespace rooted
// at its child cgroup, answers systemctl, logs on its console, starts a
// socket unit reachable through Dial, and leaves nothing behind.
func TestManager(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("no real systemd for this test: %v", err)
	}
	var m *Manager
	t.Run("boot", func(t *testing.T) {
		units := t.TempDir()
		require.NoError(t, CopyStockTargets(units))
		// An inetd-style echo of the first line, as a socket unit and its
		// service template: only the manager's own programs.
		require.NoError(t, os.WriteFile(filepath.Join(units, "echo.socket"),
			[]byte("[Socket]\nListenStream=127.0.0.1:7\nAccept=yes\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(units, "echo@.service"),
			[]byte("[Service]\nExecStart=/bin/sh -c 'read -r line; echo \"echo $line\"'\nStandardInput=socket\n"), 0o644))
		m = Start(t, Config{UnitDir: units})
		require.Positive(t, m.PID())

		comm, err := m.Exec(context.Background(), nil, "cat", "/proc/1/comm")
		require.NoError(t, err)
		require.Equal(t, "systemd\n", comm, "PID 1 is the manager")
		cgroups, err := m.Exec(context.Background(), nil, "cat", "/proc/1/cgroup")
		require.NoError(t, err)
		require.Contains(t, strings.Split(cgroups, "\n"), "0::/init.scope", "in a cgroup namespace rooted at its child cgroup")
		require.Equal(t, "running", m.Ctl("is-system-running"))
		_, err = m.Console().WaitCount(context.Background(), "Startup finished", 1)
		require.NoError(t, err)

		m.Ctl("start", "echo.socket")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := m.Dial(ctx, "tcp", "127.0.0.1:7")
		require.NoError(t, err)
		defer func() { require.NoError(t, c.Close()) }()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = c.Write([]byte("hello\n"))
		require.NoError(t, err)
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "echo hello\n", line)

		// Nothing listens there outside the manager's namespace.
		_, err = net.DialTimeout("tcp", "127.0.0.1:7", time.Second)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
	if m == nil || t.Failed() {
		return
	}
	// The subtest's cleanup has run.
	require.ErrorIs(t, syscall.Kill(m.PID(), 0), syscall.ESRCH, "the manager is gone")
	_, err := os.Stat(m.cgroup)
	require.ErrorIs(t, err, os.ErrNotExist, "its cgroup is removed")
	select {
	case <-m.exited:
	default:
		t.Fatal("unshare still runs")
	}
}
