package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// When stdout's reader goes away, writing the narration fails (EPIPE)
// instead of killing the daemon with SIGPIPE: it goes on, and a stop still
// sends STOPPING=1 and exits 0. The failure is reported once.
func TestDaemonSurvivesSIGPIPE(t *testing.T) {
	ctx := testContext(t)
	nd, err := os.MkdirTemp("", "lc")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(nd)) })
	sock, err := daemontest.ListenNotify(nd)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sock.Close()) })
	rctx, stopReading := context.WithCancel(ctx)
	msgs := make(chan string, 64)
	go func() {
		defer close(msgs)
		for {
			m, err := sock.Read(rctx)
			if err != nil {
				return
			}
			msgs <- m
		}
	}()

	r, w, err := os.Pipe()
	require.NoError(t, err)
	// WAKE -> DROWSY comes after the test has closed the pipe: that line's
	// write is the one that meets no reader.
	cmd := exec.Command(os.Args[0], "--dir="+t.TempDir(), "--tick=5ms", "--drowsy-after=500ms", "--sleep-after=1h")
	cmd.Env = append(os.Environ(), daemonEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0", sock.Env())
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = w, &stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // it may have exited
	line, err := bufio.NewReader(r).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "boot WAKE\n", line)
	require.NoError(t, r.Close())

	// Before the stop, nothing ends the daemon: an exit is a failure.
	for drowsy := false; !drowsy; {
		select {
		case m := <-msgs:
			drowsy = m == "STATUS=DROWSY"
		case err := <-waited:
			t.Fatalf("the daemon ended (%v) before STATUS=DROWSY; stderr:\n%s", err, &stderr)
		case <-ctx.Done():
			t.Fatalf("no STATUS=DROWSY within %v", overall)
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-waited:
		require.NoError(t, err, "exit 0; stderr:\n%s", &stderr)
	case <-ctx.Done():
		t.Fatalf("still running after %v", overall)
	}
	stopReading()
	var rest []string
	for m := range msgs {
		rest = append(rest, m)
	}
	pending, err := sock.Pending()
	require.NoError(t, err)
	require.Contains(t, append(rest, pending...), "STOPPING=1")
	require.Equal(t, 1, strings.Count(stderr.String(), "cannot write to stdout"), stderr.String())
}
