package daemontest_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
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

func oneShot() int {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") != "1" {
		fmt.Fprintf(os.Stderr, "LISTEN_PID=%s (pid %d) LISTEN_FDS=%s\n", os.Getenv("LISTEN_PID"), os.Getpid(), os.Getenv("LISTEN_FDS"))
		return 1
	}
	ln, err := net.FileListener(os.NewFile(3, "socket"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, werr := fmt.Fprintf(c, "pid %d\n", os.Getpid())
	if err := errors.Join(werr, c.Close(), ln.Close()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A server starts only when a connection waits, with the socket and the
// activation variables; each connection that finds no server starts one.
func TestSupervisorStartsOnDemand(t *testing.T) {
	sup, err := daemontest.Supervise("tcp", "127.0.0.1:0", func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), serverEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
		cmd.Stderr = os.Stderr
		return cmd
	})
	require.NoError(t, err)
	select {
	case ev := <-sup.Events():
		t.Fatalf("%v before any connection", ev)
	default:
	}
	for round := range 3 {
		c, err := net.Dial("tcp", sup.Addr.String())
		require.NoError(t, err)
		started := <-sup.Events()
		require.Equal(t, daemontest.Started, started.Kind, "round %d", round)
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("pid %d\n", started.Pid), line, "LISTEN_PID is the server's own pid")
		require.NoError(t, c.Close())
		exited := <-sup.Events()
		require.Equal(t, daemontest.Exited, exited.Kind)
		require.NoError(t, exited.Err)
	}
	require.NoError(t, sup.CloseWhenIdle(t.Context()))
	_, ok := <-sup.Events()
	require.False(t, ok, "closed")
	require.NoError(t, sup.Close(), "a second close does nothing")
}
