package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// nofile is the descriptor limit the flood tests give the server: a few
// dozen connections exhaust it.
const nofile = "48"

// Clients that connect, send part of a line and never finish it hold a
// descriptor each, more than the server has. The server neither floods
// its log nor dies nor starves the client that comes after them: each
// unfinished line is cut off after --line-timeout, and that client is
// answered.
//
//   - "cap": the default --max-conns keeps descriptors in reserve, so the
//     server never runs out, and its loop (which opens the state file each
//     tick) goes on;
//   - "no cap": with the cap lifted accepts fail with EMFILE; the server
//     backs off, and logs one line for the first failure and then one per
//     interval, not one per failure. (No ticks: the loop's own opens would
//     fail too.)
func TestServerDescriptorExhaustion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		logs int // most "accept" warnings on stderr
	}{
		{"cap", []string{"--tick=5ms", "--drowsy-after=1h", "--sleep-after=2h"}, 0},
		{"no cap", []string{"--tick=1h", "--drowsy-after=1h", "--sleep-after=2h", "--max-conns=1000"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			sock, err := daemontest.ListenNotify(shortTempDir(t))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, sock.Close()) })
			msgs, _ := notifications(t, ctx, sock)
			args := append([]string{"--dir=" + t.TempDir(), "--listen=127.0.0.1:0", "--line-timeout=1s"}, tt.args...)
			cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -n ` + nofile + ` && exec "$0" "$@"`, os.Args[0]}, args...)...)
			cmd.Env = append(serverEnviron(), sock.Env())
			p := &proc{cmd: cmd, stdout: newLines(), stderr: newLines(), waited: make(chan error, 1)}
			cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
			require.NoError(t, cmd.Start())
			go func() { p.waited <- cmd.Wait() }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill() // it may have exited
				<-p.waited
				p.waited <- nil
				if t.Failed() {
					t.Logf("server stdout:\n%s\nserver stderr:\n%s",
						strings.Join(p.stdout.complete(), "\n"), strings.Join(p.stderr.complete(), "\n"))
				}
			})
			addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
			// Booted (its files read) before the flood: without the cap,
			// the flood leaves the loop no descriptor to read them with.
			waitMsg(t, ctx, msgs, p.waited, "READY=1\nSTATUS=WAKE")

			var d net.Dialer
			for range 80 {
				c, err := d.DialContext(ctx, "tcp", addr)
				require.NoError(t, err)
				t.Cleanup(func() { _ = c.Close() })
				_, err = c.Write([]byte("unfinished"))
				require.NoError(t, err)
			}
			answer, err := ask(ctx, "tcp", addr)
			require.NoError(t, err)
			require.Equal(t, "WAKE", answer)

			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, p.exit(t, ctx))
			stderr := strings.Join(p.stderr.complete(), "\n")
			require.LessOrEqual(t, strings.Count(stderr, "accept"), tt.logs, stderr)
			require.NotContains(t, stderr, "level=ERROR")
		})
	}
}

// An unfinished line is cut off after --line-timeout; a connection that
// has sent whole lines, or nothing yet, waits for --idle-timeout.
func TestServerLineTimeout(t *testing.T) {
	ctx := testContext(t)
	p := startServer(t, append([]string{"--dir=" + t.TempDir(), "--listen=127.0.0.1:0",
		"--line-timeout=300ms", "--idle-timeout=1h"}, awake...)...)
	addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		require.NoError(t, c.SetDeadline(time.Now().Add(overall)))
		return c, bufio.NewReader(c)
	}
	partial, pr := dial()
	quiet, qr := dial()
	served, sr := dial()
	_, err := partial.Write([]byte("hel"))
	require.NoError(t, err)
	_, err = served.Write([]byte("hello\n"))
	require.NoError(t, err)
	answer, err := sr.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "WAKE\n", answer)

	got, err := pr.ReadString('\n')
	require.Error(t, err, "cut off; got %q", got)
	// Past the line timeout, the others are still served.
	for _, c := range []struct {
		conn net.Conn
		r    *bufio.Reader
	}{{quiet, qr}, {served, sr}} {
		_, err := c.conn.Write([]byte("again\n"))
		require.NoError(t, err)
		answer, err := c.r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "WAKE\n", answer)
	}
}
