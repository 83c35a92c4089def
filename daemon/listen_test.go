package daemon_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// listenChildEnv makes this test binary call daemon.Listen (listenChild):
// the sockets a manager passes are the process's file descriptors 3 on.
const listenChildEnv = "LIFECYCLE_KIT_LISTEN_CHILD"

// listenServeEnv makes the listen child serve that many connections before
// it closes the listener: each is answered with the address it came to.
const listenServeEnv = "LIFECYCLE_KIT_LISTEN_SERVE"

// listenChild calls Listen with its argument and reports on stdout what it
// got, and whether the LISTEN_ variables are still set.
func listenChild(args []string) int {
	addr := ""
	if len(args) > 0 {
		addr = args[0]
	}
	ln, passed, err := daemon.Listen(addr)
	if err != nil {
		fmt.Println("error:", err)
		if errors.Is(err, daemon.ErrNoSocket) {
			fmt.Println("ErrNoSocket")
		}
		return 0
	}
	addrs := []net.Addr{ln.Addr()}
	if m, ok := ln.(interface{ Addrs() []net.Addr }); ok {
		addrs = m.Addrs()
	}
	fmt.Printf("%s %s passed=%t env=%q\n", ln.Addr().Network(), joinAddrs(addrs), passed,
		os.Getenv("LISTEN_FDS")+os.Getenv("LISTEN_PID")+os.Getenv("LISTEN_FDNAMES"))
	if dir := os.Getenv(gateChildEnv); dir != "" {
		return gateChild(ln, dir)
	}
	n, _ := strconv.Atoi(os.Getenv(listenServeEnv))
	for range n {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			return 1
		}
		_, werr := fmt.Fprintln(c, c.LocalAddr())
		if err := errors.Join(werr, c.Close()); err != nil {
			fmt.Println("answer:", err)
			return 1
		}
	}
	if err := ln.Close(); err != nil {
		fmt.Println("close:", err)
	}
	if n > 0 {
		_, err := ln.Accept()
		fmt.Println("accept after close is net.ErrClosed:", errors.Is(err, net.ErrClosed))
	}
	return 0
}

func joinAddrs(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// listenCmd runs this binary as the listen child, through a shell that
// sets LISTEN_PID to its own pid and execs, as systemd does between fork
// and exec. pid "" is the child's own.
func listenCmd(pid string, files []*os.File, env []string, addr string) *exec.Cmd {
	if pid == "" {
		pid = "$$"
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=`+pid+` exec "$0" "$@"`, os.Args[0], addr)
	cmd.Env = append(os.Environ(), listenChildEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	if files != nil {
		cmd.ExtraFiles = files
		cmd.Env = append(cmd.Env, fmt.Sprintf("LISTEN_FDS=%d", len(files)))
	}
	return cmd
}

// sockets makes the sockets a test passes to a listen child.
type sockets struct {
	t   *testing.T
	dir string
	n   int
}

func (s *sockets) path(kind string) string {
	s.n++
	return filepath.Join(s.dir, fmt.Sprintf("%s%d.sock", kind, s.n))
}

// keep returns a duplicate of a socket's descriptor, closed when the test
// ends, and closes the socket itself.
func (s *sockets) keep(c interface{ File() (*os.File, error) }, closer io.Closer) *os.File {
	f, err := c.File()
	require.NoError(s.t, err)
	require.NoError(s.t, closer.Close())
	s.t.Cleanup(func() { require.NoError(s.t, f.Close()) })
	return f
}

func (s *sockets) stream() *os.File {
	ln, err := net.Listen("unix", s.path("stream"))
	require.NoError(s.t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return s.keep(ln.(*net.UnixListener), ln)
}

func (s *sockets) tcp() *os.File {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(s.t, err)
	return s.keep(ln.(*net.TCPListener), ln)
}

func (s *sockets) datagram() *os.File {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path("dgram"), Net: "unixgram"})
	require.NoError(s.t, err)
	return s.keep(c, c)
}

func TestListen(t *testing.T) {
	dir := shortTempDir(t)
	tests := []struct {
		name  string
		files func(s *sockets) []*os.File // passed as fd 3 on, with LISTEN_FDS
		env   []string
		addr  string
		want  string // stdout's start
		pid   string // LISTEN_PID, when not the child's own
	}{
		{"passed", func(s *sockets) []*os.File { return []*os.File{s.stream()} }, nil, "127.0.0.1:0",
			"unix DIR/stream1.sock passed=true env=\"\"", ""},
		{"own tcp", nil, nil, "127.0.0.1:0", "tcp 127.0.0.1:", ""},
		{"own unix", nil, nil, "unix:DIR/own.sock", "unix DIR/own.sock passed=false", ""},
		{"nothing", nil, nil, "", "error: listen: no socket from the service manager (LISTEN_FDS) and no address to listen on\nErrNoSocket", ""},
		// ListenStream= twice (IPv4 and IPv6, say): every socket is served.
		{"two passed", func(s *sockets) []*os.File { return []*os.File{s.stream(), s.stream()} },
			[]string{"LISTEN_FDNAMES=lifecycle-server.socket:lifecycle-server.socket"}, "",
			"unix DIR/stream1.sock,DIR/stream2.sock passed=true env=\"\"", ""},
		{"a datagram socket among them", func(s *sockets) []*os.File { return []*os.File{s.stream(), s.datagram()} },
			[]string{"LISTEN_FDNAMES=web:metrics"}, "",
			"error: listen: the socket the service manager passed (fd 4, metrics) is not listening", ""},
		{"not a stream socket", func(s *sockets) []*os.File { return []*os.File{s.datagram()} }, nil, "",
			"error: listen: the socket the service manager passed (fd 3, LISTEN_FD_3) is not listening", ""},
		{"passed to another process", func(s *sockets) []*os.File { return []*os.File{s.stream()} }, nil, "",
			`error: listen: LISTEN_FDS="1" with LISTEN_PID="1" passes no socket to this process`, "1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := filepath.Join(dir, strconv.Itoa(i))
			require.NoError(t, os.Mkdir(sub, 0o700))
			s := &sockets{t: t, dir: sub}
			var files []*os.File
			if tt.files != nil {
				files = tt.files(s)
			}
			cmd := listenCmd(tt.pid, files, tt.env, strings.ReplaceAll(tt.addr, "DIR", sub))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Run(), out.String())
			want := strings.ReplaceAll(tt.want, "DIR", sub)
			require.True(t, strings.HasPrefix(out.String(), want), "got %q, want %q...", out.String(), want)
		})
	}
}

// Every socket passed is served: connections to each are accepted, and
// once closed the listener's Accept says net.ErrClosed.
func TestListenServesEverySocket(t *testing.T) {
	s := &sockets{t: t, dir: shortTempDir(t)}
	unix1, unix2, tcp := s.stream(), s.stream(), s.tcp()
	addrs := []struct{ network, addr string }{
		{"unix", filepath.Join(s.dir, "stream1.sock")},
		{"unix", filepath.Join(s.dir, "stream2.sock")},
		{"tcp", must(t, net.FileListener, tcp).Addr().String()},
	}
	const rounds = 3
	cmd := listenCmd("", []*os.File{unix1, unix2, tcp},
		[]string{"LISTEN_FDNAMES=a:b:c", fmt.Sprintf("%s=%d", listenServeEnv, rounds*len(addrs))}, "")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(out)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, first, "passed=true")
	for round := range rounds {
		for _, a := range addrs {
			c, err := net.DialTimeout(a.network, a.addr, overall)
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(overall)))
			line, err := bufio.NewReader(c).ReadString('\n')
			require.NoError(t, err, "round %d, %s", round, a.addr)
			require.Equal(t, a.addr+"\n", line)
			require.NoError(t, c.Close())
		}
	}
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "accept after close is net.ErrClosed: true\n", string(rest))
	require.NoError(t, cmd.Wait())
}

func must[A, R any](t *testing.T, f func(A) (R, error), a A) R {
	t.Helper()
	r, err := f(a)
	require.NoError(t, err)
	return r
}

// A Unix socket file left by a process that died (nothing listens on it:
// connecting is refused) is replaced; one a process listens on, and a file
// that is not a socket, are left alone.
func TestListenStaleUnixSocket(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // what is at path before Listen
		want  string
	}{
		{"left by a killed process", func(t *testing.T, path string) {
			cmd := listenCmd("", nil, []string{listenServeEnv + "=1"}, "unix:"+path)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			_, err = bufio.NewReader(out).ReadString('\n') // listening
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			require.Error(t, cmd.Wait())
			fi, err := os.Lstat(path)
			require.NoError(t, err, "the socket file stays")
			require.Equal(t, os.ModeSocket, fi.Mode().Type())
		}, "unix %s passed=false"},
		{"live", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, ln.Close()) })
		}, "error: listen unix %s: bind: address already in use"},
		{"a regular file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("data"), 0o600))
		}, "error: listen unix %s: bind: address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(shortTempDir(t), "s.sock")
			tt.setup(t, path)
			before, err := os.Lstat(path)
			require.NoError(t, err)
			cmd := listenCmd("", nil, nil, "unix:"+path)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Run(), out.String())
			require.True(t, strings.HasPrefix(out.String(), fmt.Sprintf(tt.want, path)), "got %q, want %q...", out.String(), tt.want)
			if !strings.HasPrefix(tt.want, "error") {
				return
			}
			after, err := os.Lstat(path)
			require.NoError(t, err, "left alone")
			require.True(t, os.SameFile(before, after), "left alone")
		})
	}
}
