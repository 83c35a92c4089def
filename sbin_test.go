package lifecycle_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sbinDirs are where system tools live that an ordinary user's PATH often
// leaves out (mkfs.ext4, losetup, dmsetup).
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// lookSystemTool finds name on the PATH, else in the sbin directories.
func lookSystemTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", errors.New(name + " not found on the PATH nor in /usr/sbin, /sbin or /usr/local/sbin")
}

// A system tool is found in the sbin directories when the PATH leaves them
// out, as an unprivileged user's PATH does.
func TestLookSystemToolOutsidePath(t *testing.T) {
	var name string
	for _, n := range []string{"mkfs.ext4", "losetup", "ldconfig", "sysctl"} {
		for _, dir := range sbinDirs {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				name = n
			}
		}
	}
	if name == "" {
		t.Skip("no system tool in /usr/sbin, /sbin or /usr/local/sbin to look for")
	}
	t.Setenv("PATH", t.TempDir())
	p, err := lookSystemTool(name)
	require.NoError(t, err)
	require.Equal(t, name, filepath.Base(p))

	_, err = lookSystemTool("no-such-tool-anywhere")
	require.ErrorContains(t, err, "no-such-tool-anywhere not found on the PATH nor in /usr/sbin, /sbin or /usr/local/sbin")
}
