package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// notifications collects what a notify socket receives, as it comes, until
// the returned function is called: that one returns the messages not yet
// taken from the channel, and those still queued.
func notifications(t *testing.T, ctx context.Context, sock *daemontest.NotifySocket) (<-chan string, func() []string) {
	t.Helper()
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
	return msgs, func() []string {
		stopReading()
		var rest []string
		for m := range msgs {
			rest = append(rest, m)
		}
		pending, err := sock.Pending()
		require.NoError(t, err)
		return append(rest, pending...)
	}
}

// waitMsg waits for a notification equal to want. The process ending
// first is a failure; its wait result is put back for the cleanup.
func waitMsg(t *testing.T, ctx context.Context, msgs <-chan string, waited chan error, want string) {
	t.Helper()
	for {
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "the notify socket closed before %q", want)
			if m == want {
				return
			}
		case err := <-waited:
			waited <- err
			t.Fatalf("the server ended (%v) before %q", err, want)
		case <-ctx.Done():
			t.Fatalf("no %q within %v", want, overall)
		}
	}
}

// When stdout's reader goes away, writing the narration fails (EPIPE)
// instead of killing the server with SIGPIPE: it goes on, and a stop still
// sends STOPPING=1, drains and exits 0. The failure is reported once.
func TestServerSurvivesSIGPIPE(t *testing.T) {
	ctx := testContext(t)
	sock, err := daemontest.ListenNotify(shortTempDir(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sock.Close()) })
	msgs, rest := notifications(t, ctx, sock)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	// WAKE -> DROWSY comes after the test has closed the pipe: that line's
	// write is the one that meets no reader.
	cmd := serverCmd("--dir="+t.TempDir(), "--listen=127.0.0.1:0", "--tick=5ms", "--drowsy-after=500ms", "--sleep-after=1h")
	cmd.Env = append(cmd.Env, sock.Env())
	stderr := newLines()
	cmd.Stdout, cmd.Stderr = w, stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited
		if t.Failed() {
			t.Logf("stderr:\n%s", strings.Join(stderr.complete(), "\n"))
		}
	})
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, "listening on ") {
			break
		}
	}
	require.NoError(t, r.Close())

	waitMsg(t, ctx, msgs, waited, "STATUS=DROWSY")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-waited:
		require.NoError(t, err, "exit 0")
	case <-ctx.Done():
		t.Fatalf("still running after %v", overall)
	}
	require.Contains(t, rest(), "STOPPING=1")
	require.Equal(t, 1, strings.Count(strings.Join(stderr.complete(), "\n"), "cannot write to stdout"))
}

// A second stop signal during the drain ends the server at once, killed by
// that signal; the first one only starts the drain.
func TestServerSecondSignal(t *testing.T) {
	for _, sigs := range [][2]syscall.Signal{
		{syscall.SIGTERM, syscall.SIGTERM},
		{syscall.SIGINT, syscall.SIGINT},
		{syscall.SIGTERM, syscall.SIGINT},
	} {
		t.Run(sigs[0].String()+", "+sigs[1].String(), func(t *testing.T) {
			ctx := testContext(t)
			// The drain outlasts the test: only the second signal can end it.
			p := startServer(t, append([]string{"--dir=" + t.TempDir(), "--listen=127.0.0.1:0", "--drain=1h"}, awake...)...)
			addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			// Answered, so accepted: the drain waits for this connection.
			_, err = c.Write([]byte("hello\n"))
			require.NoError(t, err)
			_, err = bufio.NewReader(c).ReadString('\n')
			require.NoError(t, err)

			require.NoError(t, p.cmd.Process.Signal(sigs[0]))
			p.stdout.waitFor(t, ctx, "stopped: ...")
			require.NoError(t, p.cmd.Process.Signal(sigs[1]))
			select {
			case err := <-p.waited:
				p.waited <- err
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee), "%v", err)
				ws := ee.Sys().(syscall.WaitStatus)
				require.True(t, ws.Signaled(), "%v", err)
				require.Equal(t, sigs[1], ws.Signal())
			case <-ctx.Done():
				t.Fatalf("still draining %v after the second signal", overall)
			}
		})
	}
}
