package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// shortTempDir is a temporary directory whose path is short enough for a
// Unix socket (t.TempDir's carries the test's name).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lc")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(dir)) })
	return dir
}

// child is a run of this test binary as a kit daemon (childMain).
type child struct {
	env   []string
	args  []string
	shell string // if set, the child is run through /bin/sh -c shell
	sock  *daemontest.NotifySocket
}

// childRun is what a child left behind.
type childRun struct {
	stdout, stderr string
	msgs           []string // what the notify socket received, in order
	ran            time.Duration
}

// run runs the child on dir to its end. Like a service manager, it reads
// the notify socket while the child runs: a unixgram socket queues only a
// few datagrams.
func (c child) run(t *testing.T, dir string) childRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), overall)
	defer cancel()
	args := append([]string{os.Args[0], "--dir=" + dir}, c.args...)
	if c.shell != "" {
		args = append([]string{"/bin/sh", "-c", c.shell}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// Under -race a process sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, c.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb

	var r childRun
	collected := make(chan error, 1)
	cctx, stopCollecting := context.WithCancel(ctx)
	go func() {
		if c.sock == nil {
			collected <- nil
			return
		}
		for {
			m, err := c.sock.Read(cctx)
			if err != nil {
				if cctx.Err() != nil {
					err = nil
				}
				collected <- err
				return
			}
			r.msgs = append(r.msgs, m)
		}
	}()
	start := time.Now()
	err := cmd.Run()
	r.ran = time.Since(start)
	stopCollecting()
	require.NoError(t, <-collected)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", &out, &errb)
	if c.sock != nil {
		rest, err := c.sock.Pending()
		require.NoError(t, err)
		r.msgs = append(r.msgs, rest...)
	}
	r.stdout, r.stderr = out.String(), errb.String()
	return r
}

// The child walks to hibernation and exits; the notify socket hears READY,
// a STATUS per transition, watchdog pings at the rate asked, and STOPPING,
// in that order.
func TestNotifications(t *testing.T) {
	tests := []struct {
		name     string
		watchdog time.Duration // 0: none asked
		pid      string        // WATCHDOG_PID: "self", "other" or none
		pings    bool
	}{
		{"no watchdog", 0, "", false},
		{"watchdog", 40 * time.Millisecond, "", true},
		{"watchdog for this pid", 40 * time.Millisecond, "self", true},
		{"watchdog for another pid", 40 * time.Millisecond, "other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortTempDir(t)
			sock, err := daemontest.ListenNotify(dir)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, sock.Close()) })
			env := []string{sock.Env()}
			if tt.watchdog > 0 {
				env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(tt.watchdog.Microseconds(), 10))
			}
			// Twenty steps of 10 ms: long enough for pings to come.
			c := child{env: env, args: []string{"--sleep-steps=20", "--sleep-step=10ms"}, sock: sock}
			switch tt.pid {
			case "self":
				// As systemd sets it: the shell's pid, which exec keeps.
				c.shell = `WATCHDOG_PID=$$ exec "$0" "$@"`
			case "other":
				c.env = append(c.env, "WATCHDOG_PID=1")
			}
			r := c.run(t, dir)
			require.Contains(t, r.stdout, "outcome: hibernated")
			require.Empty(t, r.stderr)
			msgs, ran := r.msgs, r.ran

			var order []string
			pings := 0
			for _, m := range msgs {
				if m == "WATCHDOG=1" {
					pings++
					require.NotEqual(t, "STOPPING=1", last(order), "a ping after STOPPING")
					continue
				}
				order = append(order, m)
			}
			require.Equal(t, []string{"READY=1\nSTATUS=WAKE", "STATUS=DROWSY", "STATUS=SLEEP", "STATUS=HIBERNATION", "STOPPING=1"}, order)
			require.Equal(t, "READY=1\nSTATUS=WAKE", firstNonPing(msgs), "nothing before READY")
			if !tt.pings {
				require.Zero(t, pings)
				return
			}
			// A ticker never runs ahead of its period: at most one ping per
			// half interval of the child's whole life. (No lower bound
			// beyond one: a loaded machine may delay them.)
			require.GreaterOrEqual(t, pings, 1)
			require.LessOrEqual(t, pings, int(ran/(tt.watchdog/2))+1)
			t.Logf("%d pings in %v, one per %v asked", pings, ran, tt.watchdog/2)
		})
	}
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func firstNonPing(msgs []string) string {
	for _, m := range msgs {
		if m != "WATCHDOG=1" {
			return m
		}
	}
	return ""
}

// Without NOTIFY_SOCKET the daemon sends nothing, even with a watchdog
// asked; with one it cannot reach, or whose manager stopped reading, it
// says so once and carries on to its end.
func TestNotificationsOff(t *testing.T) {
	tests := []struct {
		name    string
		env     func(sock *daemontest.NotifySocket) []string
		stuck   bool // the test does not read the socket
		warning int  // "cannot notify" lines on stderr
	}{
		{"unset", func(*daemontest.NotifySocket) []string { return []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=20000"} }, false, 0},
		{"unreachable", func(s *daemontest.NotifySocket) []string {
			return []string{"NOTIFY_SOCKET=" + s.Path + ".missing", "WATCHDOG_USEC=20000"}
		}, false, 1},
		// The test fills the socket's queue before the child starts: its
		// first send gives up after a second, the next ones sooner, and it
		// still hibernates and exits.
		{"manager not reading", func(s *daemontest.NotifySocket) []string {
			return []string{s.Env(), "WATCHDOG_USEC=2000"}
		}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortTempDir(t)
			sock, err := daemontest.ListenNotify(dir)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, sock.Close()) })
			c := child{env: tt.env(sock), sock: sock}
			if tt.stuck {
				c.sock = nil
				fill(t, sock.Path)
			}
			r := c.run(t, dir)
			require.Contains(t, r.stdout, "outcome: hibernated")
			require.Equal(t, tt.warning, strings.Count(r.stderr, "cannot notify the service manager"), r.stderr)
			if !tt.stuck {
				require.Empty(t, r.msgs)
			}
		})
	}
}

// fill sends datagrams to the socket at path until its queue is full.
func fill(t *testing.T, path string) {
	t.Helper()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close()) }()
	for {
		require.NoError(t, conn.SetWriteDeadline(time.Now().Add(10*time.Millisecond)))
		_, err := conn.Write([]byte("FILLER=1"))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		require.NoError(t, err)
	}
}
