package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// serverEnv makes this test binary the server (TestMain hands it to run),
// so that the tests run the server as a process of its own without a build.
const serverEnv = "LIFECYCLE_EXAMPLE_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// overall bounds each test: a guard against a hang, not a timing
// assertion.
const overall = 45 * time.Second

// serverEnviron is the environment of a server child. Under -race a
// process sleeps a second at exit unless told not to.
func serverEnviron() []string {
	return append(os.Environ(), serverEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// serverCmd is the command that runs this binary as the server.
func serverCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = serverEnviron()
	return cmd
}

// supervised is a Supervisor socket-activating the server, with the
// servers' output.
type supervised struct {
	*daemontest.Supervisor
	stdout, stderr *lines
}

// supervise socket-activates the server with args (and env added to its
// environment) on sockets, one loopback TCP socket when nil, until the test
// ends; a failed test logs the servers' output.
func supervise(t *testing.T, sockets []daemontest.Socket, env []string, args ...string) *supervised {
	t.Helper()
	if sockets == nil {
		sockets = []daemontest.Socket{{Network: "tcp", Address: "127.0.0.1:0"}}
	}
	s := &supervised{stdout: newLines(), stderr: newLines()}
	sup, err := daemontest.SuperviseSockets(sockets, func() *exec.Cmd {
		cmd := serverCmd(args...)
		cmd.Env = append(cmd.Env, env...)
		cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
		return cmd
	})
	require.NoError(t, err)
	s.Supervisor = sup
	t.Cleanup(func() {
		require.NoError(t, sup.Close())
		if t.Failed() {
			t.Logf("servers' stdout:\n%s\nstderr:\n%s",
				strings.Join(s.stdout.complete(), "\n"), strings.Join(s.stderr.complete(), "\n"))
		}
	})
	return s
}

// lines is a process's output, line by line, as it comes.
type lines struct {
	mu   sync.Mutex
	all  []string
	more chan struct{} // closed and replaced on each write
	next int           // the first line waitFor has not passed
}

func newLines() *lines { return &lines{more: make(chan struct{})} }

// Write takes the process's output; lines are split at newlines.
func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := string(p)
	if n := len(l.all); n > 0 && !strings.HasSuffix(l.all[n-1], "\n") {
		text = l.all[n-1] + text
		l.all = l.all[:n-1]
	}
	for text != "" {
		line, rest, found := strings.Cut(text, "\n")
		if found {
			line += "\n"
		}
		l.all = append(l.all, line)
		text = rest
	}
	close(l.more)
	l.more = make(chan struct{})
	return len(p), nil
}

// complete returns the complete lines so far, without their newlines.
func (l *lines) complete() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.all {
		if t, ok := strings.CutSuffix(s, "\n"); ok {
			out = append(out, t)
		}
	}
	return out
}

// waitFor waits for a line equal to want, or starting with it when want
// ends in "..."; lines before it are passed over.
func (l *lines) waitFor(t *testing.T, ctx context.Context, want string) string {
	t.Helper()
	prefix, isPrefix := strings.CutSuffix(want, "...")
	for {
		l.mu.Lock()
		more := l.more
		l.mu.Unlock()
		all := l.complete()
		for ; l.next < len(all); l.next++ {
			if s := all[l.next]; s == want || isPrefix && strings.HasPrefix(s, prefix) {
				l.next++
				return s
			}
		}
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("no %q within %v; output so far:\n%s", want, overall, strings.Join(all, "\n"))
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), overall)
	t.Cleanup(cancel)
	return ctx
}

// ask sends one request line on a new connection to addr and returns the
// answer, without its newline. Each failure is told apart: refused (the
// dial failed) or unanswered (no line came back).
func ask(ctx context.Context, network, addr string) (string, error) {
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return "", &clientError{refused: true, err: err}
	}
	defer func() { _ = c.Close() }() // read-only from here: nothing to lose
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return "", &clientError{err: err}
		}
	}
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return "", &clientError{err: err}
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", &clientError{err: err}
	}
	return strings.TrimSuffix(answer, "\n"), nil
}

// clientError is a request that failed: refused, or unanswered.
type clientError struct {
	refused bool
	err     error
}

func (e *clientError) Error() string {
	if e.refused {
		return "refused: " + e.err.Error()
	}
	return "unanswered: " + e.err.Error()
}

func isRefused(err error) bool {
	var ce *clientError
	return errors.As(err, &ce) && ce.refused
}

// exitCode is a finished command's exit code, -1 if a signal ended it.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// proc is a server started by hand.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lines
	waited         chan error
}

// startServer runs the server with args until the test ends.
func startServer(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: serverCmd(args...), stdout: newLines(), stderr: newLines(), waited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.waited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // it may have exited
		<-p.waited
		p.waited <- nil
		if t.Failed() {
			t.Logf("server stdout:\n%s\nserver stderr:\n%s",
				strings.Join(p.stdout.complete(), "\n"), strings.Join(p.stderr.complete(), "\n"))
		}
	})
	return p
}

// exit waits for the server's end and returns its exit code.
func (p *proc) exit(t *testing.T, ctx context.Context) int {
	t.Helper()
	select {
	case err := <-p.waited:
		p.waited <- err // for the cleanup
		return exitCode(t, err)
	case <-ctx.Done():
		t.Fatalf("server still running after %v", overall)
	}
	return 0
}
