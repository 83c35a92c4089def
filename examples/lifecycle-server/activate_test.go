package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// socketActivate is systemd's tool for socket activation by hand: it
// listens, and on the first connection execs the service with the socket
// as fd 3, LISTEN_FDS and LISTEN_PID, as a systemd socket unit would.
const socketActivate = "/usr/bin/systemd-socket-activate"

// The first connection starts the server, which answers it; idle, it then
// hibernates and exits 0.
func TestServerSocketActivated(t *testing.T) {
	if _, err := os.Stat(socketActivate); err != nil {
		t.Skipf("%s is missing (Debian and Ubuntu ship it in the systemd package): %v", socketActivate, err)
	}
	ctx := testContext(t)
	dir := t.TempDir()
	sock := filepath.Join(shortTempDir(t), "s.sock")
	// The tool passes on only the variables it is told to (-E), and
	// TERM, PATH and HOME.
	args := []string{"-l", sock,
		"-E", serverEnv + "=1", "-E", "GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0",
		os.Args[0], "--dir=" + dir, "--listen=127.0.0.1:1", "--drain=0s"}
	// Awake long enough for the test's second request, then to sleep.
	args = append(args, "--tick=2ms", "--drowsy-after=50ms", "--sleep-after=100ms", "--sleep-steps=2", "--sleep-step=2ms")
	cmd := exec.Command(socketActivate, args...)
	stdout, stderr := newLines(), newLines()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited
		<-waited
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", strings.Join(stdout.complete(), "\n"), strings.Join(stderr.complete(), "\n"))
		}
	})
	stderr.waitFor(t, ctx, "Listening on "+sock+" as 3.")
	// Nothing runs until a client comes.
	require.Empty(t, stdout.complete())
	_, err := os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.ErrorIs(t, err, os.ErrNotExist, "the server has not started")

	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	require.NoError(t, err)
	r := bufio.NewReader(c)
	for range 2 {
		_, err = c.Write([]byte("hello\n"))
		require.NoError(t, err)
		answer, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "WAKE\n", answer)
	}
	stdout.waitFor(t, ctx, "listening on "+sock+" (socket from the service manager)")
	// A connected client keeps the server up; once it has gone, the
	// server is idle.
	require.NoError(t, c.Close())
	stdout.waitFor(t, ctx, "exit: HIBERNATION")
	select {
	case err := <-waited:
		waited <- err
		require.Equal(t, 0, exitCode(t, err))
	case <-ctx.Done():
		t.Fatalf("server still running after %v", overall)
	}
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	// Two requests, recorded by one request_arrived dispatch or two:
	// they are coalesced per tick.
	require.Contains(t, []int64{1, 2}, rec.WrapperEventSeq)
}
