package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// Started by its socket while another daemon runs on the directory, the
// server waits for that daemon to leave (telling the service manager whom
// it waits for, and to extend its start timeout) instead of exiting: an
// exit would be started again at once by the connection still queued, in
// a loop that a service manager's start limit ends by failing the socket.
// Once the other daemon exits, the same server answers the client that
// woke it, with no one's help.
func TestServerWaitsForTheDirectory(t *testing.T) {
	ctx := testContext(t)
	dir, nd := t.TempDir(), shortTempDir(t)
	holder := startServer(t, append([]string{"--dir=" + dir, "--listen=127.0.0.1:0"}, awake...)...)
	holder.stdout.waitFor(t, ctx, "listening on ...")

	notify, err := daemontest.ListenNotify(nd)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, notify.Close()) })
	sup := supervise(t, nil, []string{notify.Env()}, append([]string{"--dir=" + dir}, awake...)...)
	stdout := sup.stdout
	answered := make(chan string, 1)
	go func() {
		answer, err := ask(ctx, "tcp", sup.Addr.String())
		if err != nil {
			answer = err.Error()
		}
		answered <- answer
	}()
	started := <-sup.Events()
	require.Equal(t, daemontest.Started, started.Kind)

	msg, err := notify.Read(ctx)
	require.NoError(t, err)
	status, extend, ok := strings.Cut(msg, "\n")
	require.True(t, ok, msg)
	require.Contains(t, status, "STATUS=waiting for another daemon to leave")
	require.Contains(t, status, fmt.Sprintf("(pid %d)", holder.cmd.Process.Pid))
	require.Regexp(t, `^EXTEND_TIMEOUT_USEC=[1-9][0-9]*$`, extend)
	stdout.waitFor(t, ctx, "waiting for another daemon to leave: ...")
	select {
	case a := <-answered:
		t.Fatalf("answered %q while the other daemon runs", a)
	case ev := <-sup.Events():
		t.Fatalf("%v while the other daemon runs", ev)
	default:
	}

	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, holder.exit(t, ctx))
	select {
	case a := <-answered:
		require.Equal(t, "WAKE", a)
	case <-ctx.Done():
		t.Fatal("unanswered")
	}
	for {
		msg, err := notify.Read(ctx)
		require.NoError(t, err)
		if strings.HasPrefix(msg, "READY=1") {
			break
		}
	}
	ok, err = sup.Signal(syscall.SIGTERM)
	require.NoError(t, err)
	require.True(t, ok, "the server that waited still runs")
	ev := <-sup.Events()
	require.Equal(t, daemontest.Exited, ev.Kind)
	require.Equal(t, started.Pid, ev.Pid, "one start")
	require.NoError(t, ev.Err)
}

// A stop while it waits ends the server at once, with exit 0.
func TestServerStoppedWhileWaiting(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	holder := startServer(t, append([]string{"--dir=" + dir, "--listen=127.0.0.1:0"}, awake...)...)
	holder.stdout.waitFor(t, ctx, "listening on ...")
	sup := supervise(t, nil, nil, append([]string{"--dir=" + dir}, awake...)...)
	stdout := sup.stdout
	go func() { _, _ = ask(ctx, "tcp", sup.Addr.String()) }() // wakes it; never answered here
	require.Equal(t, daemontest.Started, (<-sup.Events()).Kind)
	stdout.waitFor(t, ctx, "waiting for another daemon to leave: ...")
	ok, err := sup.Signal(syscall.SIGTERM)
	require.NoError(t, err)
	require.True(t, ok)
	ev := <-sup.Events()
	require.Equal(t, daemontest.Exited, ev.Kind)
	require.NoError(t, ev.Err, "exit 0")
	stdout.waitFor(t, ctx, "stopped: terminated signal received")
}
