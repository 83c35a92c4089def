package main

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// Clients that connect at the moment a server decides to hibernate are
// answered by the next server, never by the one on its way out: each time
// a server says "sleep cycle done: still_idle=true" (it has stopped
// accepting, and decides under the lock), a burst of clients is fired at
// it, some at once and the rest spread over the next milliseconds, while
// it makes HIBERNATION durable and exits. Over every burst, no client is
// answered HIBERNATION, refused, or left unanswered. With two sockets (a
// unit with two ListenStream= lines) the clients alternate between them:
// the server stops accepting on both.
func TestServerBoundaryBursts(t *testing.T) {
	if testing.Short() {
		t.Skip("fires thousands of clients at ten hibernations")
	}
	tests := []struct {
		name    string
		sockets func(dir string) []daemontest.Socket
	}{
		{"one socket", func(string) []daemontest.Socket {
			return []daemontest.Socket{{Network: "tcp", Address: "127.0.0.1:0"}}
		}},
		{"two sockets", func(dir string) []daemontest.Socket {
			return []daemontest.Socket{
				{Network: "tcp", Address: "127.0.0.1:0", Name: "inet"},
				{Network: "unix", Address: filepath.Join(dir, "s.sock"), Name: "local"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			sup := supervise(t, tt.sockets(shortTempDir(t)), nil, "--dir="+t.TempDir(), "--tick=2ms",
				"--drowsy-after=10ms", "--sleep-after=20ms", "--sleep-steps=2", "--sleep-step=1ms")
			stdout := sup.stdout
			exits := make(chan error, 64)
			go func() {
				for ev := range sup.Events() {
					if ev.Kind == daemontest.Exited {
						exits <- ev.Err
					}
				}
				close(exits)
			}()
			var next atomic.Int64
			askNext := func() (string, error) { // the sockets in turn
				a := sup.Addrs[int(next.Add(1))%len(sup.Addrs)]
				return ask(ctx, a.Network(), a.String())
			}

			const bursts, atOnce, spread = 10, 100, 100
			got := &tally{answers: map[string]int{}}
			for range bursts {
				// One client first: it starts a server if none runs (when the
				// last burst was answered by the server on its way out, none
				// waits in the queue to start the next).
				got.add(askNext())
				stdout.waitFor(t, ctx, "sleep cycle done: still_idle=true")
				var wg sync.WaitGroup
				for range atOnce {
					wg.Go(func() { got.add(askNext()) })
				}
				for range spread {
					time.Sleep(50 * time.Microsecond)
					wg.Go(func() { got.add(askNext()) })
				}
				wg.Wait()
				// The server the burst met has gone, with exit 0.
				select {
				case err := <-exits:
					require.NoError(t, err, "the server exits 0")
				case <-ctx.Done():
					t.Fatalf("the server did not exit within %v", overall)
				}
			}
			t.Logf("%d bursts of %d clients at the hibernation moment over %d socket(s): answers %v, %d refused, %d unanswered",
				bursts, atOnce+spread, len(sup.Addrs), got.answers, got.refused, len(got.unanswered))
			require.Zero(t, got.answers["HIBERNATION"], "answered by a server on its way out")
			require.Zero(t, got.refused, "refused")
			require.Empty(t, got.unanswered, "unanswered")
			require.Equal(t, bursts*(1+atOnce+spread), got.answers["WAKE"])
		})
	}
}

// A client whose first line is slow to come, or half sent, is not lost:
// the server does not hibernate while it is connected, and answers the
// line once it is complete. Once the client has gone, the server
// hibernates.
func TestServerKeepsSlowClient(t *testing.T) {
	tests := []struct {
		name  string
		first string // sent at once; the rest of "hello\n" comes later
	}{
		{"slow first line", ""},
		{"half-sent line", "hel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			addr := freeAddr(t)
			p := startServer(t, "--dir="+t.TempDir(), "--listen="+addr, "--tick=2ms",
				"--drowsy-after=10ms", "--sleep-after=20ms", "--sleep-steps=2", "--sleep-step=1ms")
			p.stdout.waitFor(t, ctx, "listening on ...")
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			require.NoError(t, err)
			_, err = c.Write([]byte(tt.first))
			require.NoError(t, err)
			time.Sleep(300 * time.Millisecond) // ten times the idle thresholds
			require.NotContains(t, p.stdout.complete(), "exit: HIBERNATION", "hibernated with a client connected")
			_, err = c.Write([]byte(strings.TrimPrefix("hello\n", tt.first)))
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(overall)))
			answer, err := bufio.NewReader(c).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "WAKE\n", answer)
			require.NoError(t, c.Close())
			p.stdout.waitFor(t, ctx, "exit: HIBERNATION")
			require.Equal(t, 0, p.exit(t, ctx))
		})
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
