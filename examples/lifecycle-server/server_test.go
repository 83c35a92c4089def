package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// awake keeps the server in WAKE for the length of any test.
var awake = []string{"--tick=5ms", "--drowsy-after=1h", "--sleep-after=2h"}

// fast walks an idle server to hibernation in milliseconds.
var fast = []string{"--tick=2ms", "--drowsy-after=20ms", "--sleep-after=40ms", "--sleep-steps=2", "--sleep-step=2ms"}

// listenAddr reads the address from the server's "listening on" line.
func listenAddr(t *testing.T, line string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "listening on ")
	require.True(t, ok, line)
	addr, _, ok := strings.Cut(rest, " (")
	require.True(t, ok, line)
	return addr
}

// Started by hand, it listens on --listen, answers every line of a
// connection with the state, and stops cleanly on each stop signal.
func TestServerByHand(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			p := startServer(t, append([]string{"--dir=" + dir, "--listen=127.0.0.1:0"}, awake...)...)
			addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, err = c.Write([]byte("one\ntwo\n\nfour\n"))
			require.NoError(t, err)
			r := bufio.NewReader(c)
			for range 4 {
				answer, err := r.ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, "WAKE\n", answer)
			}
			require.NoError(t, c.Close())

			require.NoError(t, p.cmd.Process.Signal(sig))
			p.stdout.waitFor(t, ctx, "stopped: "+sig.String()+" signal received")
			require.Equal(t, 0, p.exit(t, ctx))
			rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, rec.CurrentState)
		})
	}
}

// Idle, it hibernates and exits 0 having closed its listener: started by
// hand, nothing holds the socket any more.
func TestServerHibernatesAndExits(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	sock := filepath.Join(shortTempDir(t), "s.sock")
	p := startServer(t, append([]string{"--dir=" + dir, "--listen=unix:" + sock}, fast...)...)
	p.stdout.waitFor(t, ctx, "listening on "+sock+" (own socket)")
	p.stdout.waitFor(t, ctx, "SLEEP -> HIBERNATION (sleep_cycle_done)")
	p.stdout.waitFor(t, ctx, "exit: HIBERNATION")
	require.Equal(t, 0, p.exit(t, ctx))
	_, err := ask(ctx, "unix", sock)
	require.True(t, isRefused(err), "%v", err)
	require.NotContains(t, strings.Join(p.stderr.complete(), "\n"), "level=WARN")
	require.NotContains(t, strings.Join(p.stderr.complete(), "\n"), "level=ERROR")
}

// A client that sends a line longer than the limit is disconnected; the
// server goes on serving others.
func TestServerLongLine(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := startServer(t, append([]string{"--dir=" + dir, "--listen=127.0.0.1:0"}, awake...)...)
	addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	// The server may disconnect before the whole line is written.
	_, _ = c.Write(bytes.Repeat([]byte("x"), maxLine+1))
	_, err = bufio.NewReader(c).ReadString('\n')
	require.Error(t, err, "no answer, the connection is closed")
	require.NoError(t, c.Close())
	answer, err := ask(ctx, "tcp", addr)
	require.NoError(t, err)
	require.Equal(t, "WAKE", answer)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exit(t, ctx))
}

func TestServerFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string // in stderr
		code int
	}{
		{"help", []string{"-h"}, "--listen", 0},
		{"no dir", nil, "--dir", exitUsage},
		{"zero tick", []string{"--dir=" + dir, "--tick=0"}, "--tick", exitUsage},
		{"negative drowsy", []string{"--dir=" + dir, "--drowsy-after=-1s"}, "--drowsy-after", exitUsage},
		{"zero sleep", []string{"--dir=" + dir, "--sleep-after=0s"}, "--sleep-after", exitUsage},
		{"no steps", []string{"--dir=" + dir, "--sleep-steps=0"}, "--sleep-steps", exitUsage},
		{"negative step", []string{"--dir=" + dir, "--sleep-step=-1ms"}, "--sleep-step", exitUsage},
		{"negative drain", []string{"--dir=" + dir, "--drain=-1s"}, "--drain", exitUsage},
		{"negative line timeout", []string{"--dir=" + dir, "--line-timeout=-1s"}, "--line-timeout", exitUsage},
		{"negative idle timeout", []string{"--dir=" + dir, "--idle-timeout=-1s"}, "--idle-timeout", exitUsage},
		{"max conns below -1", []string{"--dir=" + dir, "--max-conns=-2"}, "--max-conns", exitUsage},
		{"stray argument", []string{"--dir=" + dir, "extra"}, "extra", exitUsage},
		// Not socket-activated, and no address: a bad command line too.
		{"nothing to listen on", []string{"--dir=" + filepath.Join(dir, "lc")}, "no socket from the service manager (LISTEN_FDS) and no --listen", exitUsage},
		{"passed to another process", []string{"--dir=" + filepath.Join(dir, "lc")}, "LISTEN_FDS", exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "passed to another process" {
				t.Setenv("LISTEN_FDS", "1")
				t.Setenv("LISTEN_PID", "1")
			}
			var out, errb bytes.Buffer
			require.Equal(t, tt.code, run(tt.args, &out, &errb))
			require.Contains(t, errb.String(), tt.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing created")
		})
	}
}

// shortTempDir is a temporary directory whose path is short enough for a
// Unix socket (t.TempDir's carries the test's name).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lc")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(dir)) })
	return dir
}

// A second server on a directory whose daemon runs exits 3 at once, having
// touched nothing: it has not even listened.
func TestServerSecondRefused(t *testing.T) {
	dir := t.TempDir()
	held, err := lifecycle.AcquireDaemon(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, held.Release()) }()
	var out, errb bytes.Buffer
	require.Equal(t, exitRunning, run([]string{"--dir=" + dir, "--listen=127.0.0.1:0"}, &out, &errb))
	require.Contains(t, errb.String(), "another daemon runs on this directory")
	require.Empty(t, out.String(), "no listening line")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the daemon lock")
}

// A client that sends and never reads its answers fills the socket, and
// the server's write to it blocks: on the way out the drain's deadline
// covers writes too, so the server still exits.
func TestServerExitsPastAClientThatDoesNotRead(t *testing.T) {
	ctx := testContext(t)
	p := startServer(t, append([]string{"--dir=" + t.TempDir(), "--listen=127.0.0.1:0", "--drain=200ms"}, awake...)...)
	addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	// Send until the socket is full both ways: the server's answers (five
	// bytes for each two sent) queue up unread, then its reads stop.
	line := []byte(strings.Repeat("x\n", 32<<10))
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(3*time.Second)))
	for {
		if _, err := c.Write(line); err != nil {
			break
		}
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.stdout.waitFor(t, ctx, "stopped: terminated signal received")
	require.Equal(t, 0, p.exit(t, ctx))
}

// A server killed without a chance to clean up leaves its Unix socket file
// behind; the next one started on the same path replaces it and serves.
func TestServerRestartsAfterACrash(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	sock := filepath.Join(shortTempDir(t), "s.sock")
	args := append([]string{"--dir=" + dir, "--listen=unix:" + sock}, awake...)
	crashed := startServer(t, args...)
	crashed.stdout.waitFor(t, ctx, "listening on "+sock+" (own socket)")
	require.NoError(t, crashed.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, crashed.exit(t, ctx))
	_, err := os.Lstat(sock)
	require.NoError(t, err, "the socket file outlives its server")

	p := startServer(t, args...)
	p.stdout.waitFor(t, ctx, "listening on "+sock+" (own socket)")
	answer, err := ask(ctx, "unix", sock)
	require.NoError(t, err)
	require.Equal(t, "WAKE", answer)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exit(t, ctx))
}

// A line left unfinished when the drain ends is not a request: it is
// neither answered nor recorded (a request served after Run has returned
// is recorded when the daemon closes). A last line the client ends by
// closing its side (no newline, then EOF) is one, as a whole line is.
func TestServerDrainCutsAnUnfinishedLine(t *testing.T) {
	tests := []struct {
		name      string
		send      string
		closeSend bool   // the client then shuts its side down, before the stop
		answer    string // to send, before the stop if closeSend, else after
	}{
		{"unfinished", "hel", false, ""},
		{"last line ended by EOF", "hello", true, "WAKE\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			// No tick: the requests are recorded once, on the way out, and
			// wrapper_event_seq says whether one came after that.
			p := startServer(t, "--dir="+dir, "--listen=127.0.0.1:0", "--drain=300ms",
				"--tick=1h", "--drowsy-after=1h", "--sleep-after=2h")
			addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(overall)))
			r := bufio.NewReader(c)
			_, err = c.Write([]byte("first\n"))
			require.NoError(t, err)
			answer, err := r.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "WAKE\n", answer)
			_, err = c.Write([]byte(tt.send))
			require.NoError(t, err)
			var got string
			if tt.closeSend {
				require.NoError(t, c.(*net.TCPConn).CloseWrite())
				all, err := io.ReadAll(r) // the server closes once it has answered
				require.NoError(t, err)
				got = string(all)
			}
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			if !tt.closeSend {
				all, _ := io.ReadAll(r) // until the drain ends
				got = string(all)
			}
			require.Equal(t, tt.answer, got)
			require.Equal(t, 0, p.exit(t, ctx))
			require.Equal(t, int64(1), seq(t, dir), "recorded once, on the way out: nothing came after")
		})
	}
}

// seq is the wrapper_event_seq of the state file in dir: how many times
// requests were recorded.
func seq(t *testing.T, dir string) int64 {
	t.Helper()
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	return rec.WrapperEventSeq
}
