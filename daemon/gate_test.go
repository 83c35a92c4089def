package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// gateChildEnv makes the listen child (listenChild) a server on the kit:
// its value is the daemon's directory (gateChild).
const gateChildEnv = "LIFECYCLE_KIT_GATE_CHILD"

// gateChild serves the sockets Listen returns through d.Listener, answering
// each connection with the address it came to. A request in flight (Begin)
// keeps it awake until a first line on stdin; then it hibernates, as it has
// no other clients. Then, as a server on its way out would, it reads a
// second line and closes the listener; its accept loop reports every
// connection accepted after the hibernation.
func gateChild(ln net.Listener, dir string) int {
	d, err := daemon.Open(dir, daemon.WithTick(time.Millisecond),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: 20 * time.Millisecond, Sleep: 40 * time.Millisecond}))
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	gated, err := d.Listener(ln)
	if err != nil {
		fmt.Println("listener:", err)
		return 1
	}
	done := make(chan struct{})
	hibernated := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := gated.Accept()
			if err != nil {
				fmt.Println("accept ends with net.ErrClosed:", errors.Is(err, net.ErrClosed))
				return
			}
			select {
			case <-hibernated:
				fmt.Println("accepted after the hibernation:", c.LocalAddr())
			default:
			}
			_, werr := fmt.Fprintln(c, c.LocalAddr())
			if err := errors.Join(werr, c.Close()); err != nil {
				fmt.Println("answer:", err)
			}
		}
	}()
	// In flight before Run starts, so that nothing hibernates first: with
	// a context already done, Begin does not wait for the boot.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = d.Begin(cancelled)
	type result struct {
		o   daemon.Outcome
		err error
	}
	ran := make(chan result, 1)
	go func() {
		o, err := d.Run(context.Background())
		ran <- result{o, err}
	}()
	<-d.Ready()
	fmt.Println("serving in", d.State())
	stdin := bufio.NewReader(os.Stdin)
	if _, err := stdin.ReadString('\n'); err != nil {
		fmt.Println("stdin:", err)
	}
	d.End()
	res := <-ran
	close(hibernated)
	fmt.Println("outcome:", res.o, res.err)
	if _, err := stdin.ReadString('\n'); err != nil {
		fmt.Println("stdin:", err)
	}
	if err := errors.Join(gated.Close(), d.Close()); err != nil {
		fmt.Println("close:", err)
	}
	<-done
	return 0
}

// A daemon that hibernates accepts nothing more, on any of its sockets:
// a client that connects after the decision waits in the socket's queue
// for the next instance (here the sockets are closed in the end, and the
// clients reset), rather than being accepted by a process on its way out.
// With several sockets the kit's gate stands between each socket and the
// goroutine that accepts from it.
func TestListenerAcceptsNothingAfterHibernation(t *testing.T) {
	tests := []struct {
		name  string
		files func(s *sockets) []*os.File
	}{
		{"one socket", func(s *sockets) []*os.File { return []*os.File{s.stream()} }},
		{"two sockets", func(s *sockets) []*os.File { return []*os.File{s.stream(), s.tcp()} }},
		{"three sockets", func(s *sockets) []*os.File { return []*os.File{s.tcp(), s.stream(), s.stream()} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sockets{t: t, dir: shortTempDir(t)}
			files := tt.files(s)
			addrs := make([]net.Addr, len(files))
			for i, f := range files {
				ln, err := net.FileListener(f)
				require.NoError(t, err)
				addrs[i] = ln.Addr()
				require.NoError(t, ln.Close()) // f stays open
			}
			cmd := listenCmd("", files, []string{gateChildEnv + "=" + t.TempDir()}, "")
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			cmd.Stderr = os.Stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { // after a failure; a second Wait does nothing
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			// A child that hangs fails the test rather than hanging it.
			require.NoError(t, out.(*os.File).SetReadDeadline(time.Now().Add(overall)))
			r := bufio.NewReader(out)
			readLine := func() string {
				line, err := r.ReadString('\n')
				require.NoError(t, err)
				return strings.TrimSuffix(line, "\n")
			}
			require.Contains(t, readLine(), "passed=true")
			require.Equal(t, "serving in WAKE", readLine())
			// Awake (a request in flight), every socket is served.
			for _, a := range addrs {
				c, err := net.DialTimeout(a.Network(), a.String(), overall)
				require.NoError(t, err)
				require.NoError(t, c.SetDeadline(time.Now().Add(overall)))
				line, err := bufio.NewReader(c).ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, a.String()+"\n", line)
				require.NoError(t, c.Close())
			}
			_, err = io.WriteString(stdin, "sleep\n")
			require.NoError(t, err)
			require.Equal(t, "outcome: hibernated <nil>", readLine())
			// After the decision, clients on every socket: none is accepted.
			var clients []net.Conn
			for _, a := range addrs {
				c, err := net.DialTimeout(a.Network(), a.String(), overall)
				require.NoError(t, err)
				clients = append(clients, c)
			}
			// An accepting goroutine not behind the gate takes a queued
			// connection within microseconds; this leaves it ample time.
			time.Sleep(100 * time.Millisecond)
			_, err = io.WriteString(stdin, "close\n")
			require.NoError(t, err)
			rest, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, "accept ends with net.ErrClosed: true\n", string(rest))
			require.NoError(t, cmd.Wait())
			// Every client still waits in its socket's queue, for the next
			// instance: here the test's own copy of the socket.
			for i, f := range files {
				ln, err := net.FileListener(f)
				require.NoError(t, err)
				require.NoError(t, ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(overall)))
				c, err := ln.Accept()
				require.NoError(t, err, "the client of %s is still queued", addrs[i])
				require.NoError(t, errors.Join(c.Close(), ln.Close()))
			}
			for _, c := range clients {
				require.NoError(t, c.Close())
			}
		})
	}
}
