package daemontest_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// serverEnv makes this test binary a one-shot socket-activated server: it
// checks the activation variables, answers one connection and exits 0.
const serverEnv = "DAEMONTEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(oneShot())
	}
	os.Exit(m.Run())
}

// oneShot answers the first connection on any socket passed with its pid
// and the socket's LISTEN_FDNAMES name, and exits.
func oneShot() int {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "LISTEN_PID=%s (pid %d) LISTEN_FDS=%s\n", os.Getenv("LISTEN_PID"), os.Getpid(), os.Getenv("LISTEN_FDS"))
		return 1
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	if len(names) != n {
		fmt.Fprintf(os.Stderr, "LISTEN_FDNAMES=%s for %d sockets\n", os.Getenv("LISTEN_FDNAMES"), n)
		return 1
	}
	type accepted struct {
		c    net.Conn
		name string
		err  error
	}
	first := make(chan accepted, n)
	for i := range n {
		ln, err := net.FileListener(os.NewFile(uintptr(3+i), names[i]))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			c, err := ln.Accept()
			first <- accepted{c, names[i], err}
		}()
	}
	a := <-first
	if a.err != nil {
		fmt.Fprintln(os.Stderr, a.err)
		return 1
	}
	_, werr := fmt.Fprintf(a.c, "pid %d %s\n", os.Getpid(), a.name)
	if err := errors.Join(werr, a.c.Close()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A server starts only when a connection waits on one of the sockets, with
// the sockets and the activation variables; each connection that finds no
// server starts one.
func TestSupervisorStartsOnDemand(t *testing.T) {
	tests := []struct {
		name    string
		sockets func(dir string) []daemontest.Socket
		names   []string
	}{
		{"one socket", func(string) []daemontest.Socket {
			return []daemontest.Socket{{Network: "tcp", Address: "127.0.0.1:0"}}
		}, []string{"server"}},
		{"two sockets", func(dir string) []daemontest.Socket {
			return []daemontest.Socket{
				{Network: "tcp", Address: "127.0.0.1:0", Name: "inet"},
				{Network: "unix", Address: filepath.Join(dir, "s.sock"), Name: "local"},
			}
		}, []string{"inet", "local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			sup, err := daemontest.SuperviseSockets(tt.sockets(dir), func() *exec.Cmd {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), serverEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
				cmd.Stderr = os.Stderr
				return cmd
			})
			require.NoError(t, err)
			require.Len(t, sup.Addrs, len(tt.names))
			require.Equal(t, sup.Addrs[0], sup.Addr)
			select {
			case ev := <-sup.Events():
				t.Fatalf("%v before any connection", ev)
			default:
			}
			for round := range 3 {
				for i, addr := range sup.Addrs {
					c, err := net.Dial(addr.Network(), addr.String())
					require.NoError(t, err)
					started := <-sup.Events()
					require.Equal(t, daemontest.Started, started.Kind, "round %d", round)
					line, err := bufio.NewReader(c).ReadString('\n')
					require.NoError(t, err)
					require.Equal(t, fmt.Sprintf("pid %d %s\n", started.Pid, tt.names[i]), line,
						"LISTEN_PID is the server's own pid; the socket has its name")
					require.NoError(t, c.Close())
					exited := <-sup.Events()
					require.Equal(t, daemontest.Exited, exited.Kind)
					require.NoError(t, exited.Err)
				}
			}
			require.NoError(t, sup.CloseWhenIdle(t.Context()))
			_, ok := <-sup.Events()
			require.False(t, ok, "closed")
			require.NoError(t, sup.Close(), "a second close does nothing")
		})
	}
}

// Bad sockets are refused with an error that names them, and a failure
// leaves nothing behind: the sockets made before it are closed, their
// files removed, so that the same paths can be used again.
func TestSuperviseSocketsError(t *testing.T) {
	dir := shortDir(t)
	made := filepath.Join(dir, "made.sock")
	tests := []struct {
		name    string
		sockets []daemontest.Socket
		want    string
	}{
		{"none", nil, "no socket"},
		{"cannot listen", []daemontest.Socket{
			{Network: "unix", Address: made},
			{Network: "tcp", Address: "127.0.0.1:0"},
			{Network: "unix", Address: "/nonexistent/dir/s.sock"},
		}, "/nonexistent/dir/s.sock"},
		{"a colon in a name", []daemontest.Socket{{Network: "unix", Address: made, Name: "a:b"}}, `"a:b"`},
		{"a newline in a name", []daemontest.Socket{{Network: "unix", Address: made, Name: "a\nb"}}, `"a\nb"`},
		{"a name too long", []daemontest.Socket{{Network: "unix", Address: made, Name: strings.Repeat("n", 256)}}, "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := daemontest.SuperviseSockets(tt.sockets, nil)
			require.ErrorContains(t, err, tt.want)
			_, err = os.Lstat(made)
			require.ErrorIs(t, err, fs.ErrNotExist, "no socket file left")
		})
	}
	// Closed, a supervisor removes its socket files too.
	sup, err := daemontest.SuperviseSockets([]daemontest.Socket{{Network: "unix", Address: made}}, nil)
	require.NoError(t, err)
	_, err = os.Lstat(made)
	require.NoError(t, err)
	require.NoError(t, sup.Close())
	_, err = os.Lstat(made)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// shortDir is a temporary directory short enough for a Unix socket's path.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sup")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(dir)) })
	return dir
}
