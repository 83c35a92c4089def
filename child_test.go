package lifecycle_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// Multi-process tests re-run this test binary as a child. The child's role
// is named by childEnv; TestMain runs it instead of the tests.
const childEnv = "LIFECYCLE_TEST_CHILD"

var childRoles = map[string]func(dir string, args []string) error{
	"hold": childHold,
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		fields := strings.Fields(role)
		fn, ok := childRoles[fields[0]]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child role %q\n", fields[0])
			os.Exit(2)
		}
		if err := fn(os.Getenv("LIFECYCLE_TEST_DIR"), fields[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is a running re-run of the test binary.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startChild runs role on dir in a new process.
func startChild(t *testing.T, dir, role string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "LIFECYCLE_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(out)}
	t.Cleanup(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return c
}

// expect reads the child's next line and requires it to be want.
func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	line, err := c.stdout.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, want, strings.TrimSpace(line))
}

// wait closes the child's stdin and requires a clean exit.
func (c *child) wait(t *testing.T) {
	t.Helper()
	require.NoError(t, c.stdin.Close())
	require.NoError(t, c.cmd.Wait())
}

// childHold holds the lifecycle lock, through Update, until its stdin closes.
func childHold(dir string, _ []string) error {
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	_, err = m.Update(func(*lifecycle.Record) error {
		fmt.Println("held")
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	})
	if err != nil {
		return err
	}
	return m.Close()
}
