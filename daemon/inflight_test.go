package daemon_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// idleDays is long enough for a daemon on the fast timings to sleep and
// hibernate many times over, were nothing in flight.
const idleDays = 300 * time.Millisecond

// noSleep requires that the daemon has not left WAKE or DROWSY.
func noSleep(t *testing.T, r *running) {
	t.Helper()
	for _, l := range r.lines.all() {
		require.NotContains(t, l, "-> SLEEP", "in flight, yet asleep")
		require.NotContains(t, l, "-> HIBERNATION", "in flight, yet hibernated")
	}
}

// A request between Begin and End keeps the daemon out of SLEEP and
// HIBERNATION, whatever the idle clock says; after End it hibernates.
func TestBeginKeepsAwake(t *testing.T) {
	dir := t.TempDir()
	var s steps
	r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithSleepCycle(s.cycle(2)))...)
	<-r.d.Ready()
	st, err := r.d.Begin(t.Context())
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, st)
	time.Sleep(idleDays)
	noSleep(t, r)
	require.Empty(t, s.all(), "no sleep step ran")
	r.d.End()
	r.waitFor(t, "exit: HIBERNATION")
	o, err := r.end(t)
	require.NoError(t, err)
	require.Equal(t, daemon.Hibernated, o)
}

// A connection accepted through Listener is in flight until it is closed,
// even when its client sends nothing: the daemon does not sleep with it
// open, and hibernates once it is closed.
func TestConnectionKeepsAwake(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, dir, fast...)
	ln := listen(t, r.d)
	<-r.d.Ready()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, err := ln.Accept()
	require.NoError(t, err)
	time.Sleep(idleDays) // the client sends nothing
	noSleep(t, r)
	require.NoError(t, client.Close())
	require.NoError(t, server.Close())
	r.waitFor(t, "exit: HIBERNATION")
	o, err := r.end(t)
	require.NoError(t, err)
	require.Equal(t, daemon.Hibernated, o)
}

// Another process hibernating the machine while this daemon serves a
// client does not end the daemon: it wakes the machine instead, and the
// client's request is answered WAKE. (The daemon is held in a sleep step
// meanwhile, so that it does not wake the machine before the other
// process has hibernated it.)
func TestAnotherProcessHibernatesWhileServing(t *testing.T) {
	dir := t.TempDir()
	dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
	entered, release := make(chan struct{}), make(chan struct{})
	cycle := daemon.SleepCycle{Steps: 1, Step: func(ctx context.Context, _ int) error {
		close(entered)
		<-release
		return nil
	}}
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond), daemon.WithSleepCycle(cycle),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Hour, Sleep: 2 * time.Hour}))
	ln := listen(t, r.d)
	<-entered
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer func() { require.NoError(t, client.Close()) }()
	server, err := ln.Accept()
	require.NoError(t, err)
	dispatchAll(t, dir, lifecycle.SleepCycleDone)
	close(release)
	r.waitFor(t, "SLEEP -> HIBERNATION (by another process)")
	r.waitFor(t, "HIBERNATION: a client is being served; waking")
	r.waitFor(t, "HIBERNATION -> WAKE (request_arrived)")
	_, err = client.Write([]byte("hello\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(server).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "hello\n", line)
	st, err := r.d.Request(t.Context())
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, st)
	require.NoError(t, server.Close())
	r.stop(t)
}

// listen is a loopback listener wrapped by d.Listener, closed when the
// test ends.
func listen(t *testing.T, d *daemon.Daemon) net.Listener {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln, err := d.Listener(raw)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := ln.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
			t.Error(err)
		}
	})
	return ln
}
