//go:build unix

// Package unprivtest re-runs a test of the project's as an unprivileged
// user, so that tests of refused opens and writes run under root too: root
// ignores file modes. Only the project's tests use it.
package unprivtest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Nobody is the user and group an unprivileged re-run takes.
const Nobody = 65534

// Run makes the calling test run as a user that file modes bind.
// Not root, it returns false and the test goes on in this process. As root
// (which ignores modes, so a refused open or write cannot happen), it runs
// the test again, alone, in a child process as uid and gid 65534, requires
// it to pass there, and returns true: the caller returns at once.
//
// The child runs a copy of the test binary from a directory it can read,
// with HOME and TMPDIR in it, because the go tool builds the binary under a
// directory only root may enter; env ("KEY=value") is added to its
// environment.
func Run(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	require.NotContains(t, t.Name(), "/", "unprivtest.Run re-runs a top-level test")
	dir, err := os.MkdirTemp("", "unprivileged")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "test.bin")
	copyFile(t, os.Args[0], bin, 0o755)
	home := filepath.Join(dir, "home")
	require.NoError(t, os.Mkdir(home, 0o700))
	require.NoError(t, os.Chown(home, Nobody, Nobody))

	cmd := exec.Command(bin, "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "HOME="+home, "TMPDIR="+home), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s as uid %d:\n%s", t.Name(), Nobody, out)
	require.Contains(t, string(out), "--- PASS: "+t.Name()+" ", "%s as uid %d ran and passed:\n%s", t.Name(), Nobody, out)
	require.NotContains(t, string(out), "--- SKIP", "%s as uid %d skipped:\n%s", t.Name(), Nobody, out)
	t.Logf("passed as uid %d:\n%s", Nobody, strings.TrimSpace(string(out)))
	return true
}

// copyFile copies src to dst, with mode perm.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
