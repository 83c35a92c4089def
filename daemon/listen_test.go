package daemon_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// listenChildEnv makes this test binary call daemon.Listen (listenChild):
// the sockets a manager passes are the process's file descriptors 3 on.
const listenChildEnv = "LIFECYCLE_KIT_LISTEN_CHILD"

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
		return 0
	}
	fmt.Printf("%s %s passed=%t env=%q\n", ln.Addr().Network(), ln.Addr(), passed, os.Getenv("LISTEN_FDS"))
	if err := ln.Close(); err != nil {
		fmt.Println("close:", err)
	}
	return 0
}

func TestListen(t *testing.T) {
	dir := shortTempDir(t)
	n := 0
	unique := func(kind string) string { n++; return filepath.Join(dir, fmt.Sprintf("%s%d.sock", kind, n)) }
	stream := func(t *testing.T) *os.File {
		ln, err := net.Listen("unix", unique("stream"))
		require.NoError(t, err)
		f, err := ln.(*net.UnixListener).File()
		require.NoError(t, err)
		require.NoError(t, ln.Close())
		t.Cleanup(func() { require.NoError(t, f.Close()) })
		return f
	}
	datagram := func(t *testing.T) *os.File {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: unique("dgram"), Net: "unixgram"})
		require.NoError(t, err)
		f, err := c.File()
		require.NoError(t, err)
		require.NoError(t, c.Close())
		t.Cleanup(func() { require.NoError(t, f.Close()) })
		return f
	}
	tests := []struct {
		name  string
		files func(t *testing.T) []*os.File // passed as fd 3 on, with LISTEN_FDS
		addr  string
		want  string // stdout's start
		pid   string // LISTEN_PID, when not the child's own
	}{
		{"passed", func(t *testing.T) []*os.File { return []*os.File{stream(t)} }, "127.0.0.1:0",
			"unix " + filepath.Join(dir, "stream1.sock") + ` passed=true env=""`, ""},
		{"own tcp", nil, "127.0.0.1:0", "tcp 127.0.0.1:", ""},
		{"own unix", nil, "unix:" + filepath.Join(dir, "own.sock"), "unix " + filepath.Join(dir, "own.sock") + " passed=false", ""},
		{"nothing", nil, "", "error: listen: no socket from the service manager (LISTEN_FDS) and no address", ""},
		{"two passed", func(t *testing.T) []*os.File {
			return []*os.File{stream(t), datagram(t)}
		}, "", "error: listen: the service manager passed 2 sockets; this daemon takes one", ""},
		{"not a stream socket", func(t *testing.T) []*os.File { return []*os.File{datagram(t)} }, "",
			"error: listen: the socket the service manager passed (fd 3", ""},
		{"passed to another process", func(t *testing.T) []*os.File { return []*os.File{stream(t)} }, "",
			`error: listen: LISTEN_FDS="1" with LISTEN_PID="1" passes no socket to this process`, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// LISTEN_PID must be the child's own pid: a shell sets it to
			// its own, and exec keeps it, as systemd does.
			pid := "$$"
			if tt.pid != "" {
				pid = tt.pid
			}
			cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=`+pid+` exec "$0" "$@"`, os.Args[0], tt.addr)
			cmd.Env = append(os.Environ(), listenChildEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			if tt.files != nil {
				cmd.ExtraFiles = tt.files(t)
				cmd.Env = append(cmd.Env, fmt.Sprintf("LISTEN_FDS=%d", len(cmd.ExtraFiles)))
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Run(), out.String())
			require.True(t, strings.HasPrefix(out.String(), tt.want), "got %q, want %q...", out.String(), tt.want)
		})
	}
}
