package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/internal/unprivtest"
	"github.com/stretchr/testify/require"
)

// A state file the user may not read is reported as the permission problem
// it is, with the next step, never as a corrupt file (whose remedy, setting
// it aside, would lose a good record). Root reads every file, so as root
// these tests run as uid 65534.

// permissionCommands are the commands that read the state file.
var permissionCommands = [][]string{
	{"status"},
	{"status", "--json"},
	{"dispatch", "heartbeat_refresh"},
}

// requirePermissionReport runs each of permissionCommands on dir and checks
// that it fails with exactly the lines want on stderr and nothing on
// stdout.
func requirePermissionReport(t *testing.T, dir string, want ...string) {
	t.Helper()
	for _, args := range permissionCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"--dir", dir}, args...), &out, &errb)
			require.Equal(t, exitError, code, errb.String())
			require.Empty(t, out.String())
			require.NotContains(t, errb.String(), "corrupt")
			require.Equal(t, strings.Join(want, "\n")+"\n", errb.String())
		})
	}
}

// TestUnreadableStateFile: the user's own state file, mode 0000.
func TestUnreadableStateFile(t *testing.T) {
	if unprivtest.Run(t) {
		return
	}
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, os.Chmod(state, 0))
	defer os.Chmod(state, 0o600)
	before := logFiles(t, dir)

	uid := os.Geteuid()
	requirePermissionReport(t, dir,
		"lifecyclectl: open "+state+": permission denied",
		fmt.Sprintf("lifecyclectl: a permission problem, not a damaged file: uid %d may not access %s (or a directory above it)", uid, state),
		fmt.Sprintf("lifecyclectl: next: give uid %d access to it and to the directories above it (ls -ld each); do not remove it", uid))
	require.Equal(t, before, logFiles(t, dir))
	require.NoError(t, os.Chmod(state, 0o600))
	r, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, r.CurrentState)
}

// logFiles maps each file of dir's log directory to its content.
func logFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "logs"))
	require.NoError(t, err)
	files := map[string]string{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, "logs", e.Name()))
		require.NoError(t, err)
		files[e.Name()] = string(data)
	}
	return files
}

// otherUsersDirEnv passes TestOtherUsersDirectory's directory, made by
// root, to its unprivileged re-run.
const otherUsersDirEnv = "LIFECYCLECTL_TEST_OTHER_USERS_DIR"

// TestOtherUsersDirectory: a lifecycle directory of another user (root's,
// mode 0700), read by uid 65534: the next step names its owner.
func TestOtherUsersDirectory(t *testing.T) {
	dir := os.Getenv(otherUsersDirEnv)
	if dir == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root, to make a directory of another user")
		}
		parent, err := os.MkdirTemp("", "other")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(parent) })
		require.NoError(t, os.Chmod(parent, 0o755))
		dir = filepath.Join(parent, "store")
		m, err := lifecycle.New(dir)
		require.NoError(t, err)
		_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		require.NoError(t, err)
		require.NoError(t, m.Close())
		require.True(t, unprivtest.Run(t, otherUsersDirEnv+"="+dir))
		return
	}
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	uid := os.Geteuid()
	requirePermissionReport(t, dir,
		"lifecyclectl: open "+state+": permission denied",
		fmt.Sprintf("lifecyclectl: a permission problem, not a damaged file: uid %d may not access %s (or a directory above it)", uid, state),
		fmt.Sprintf("lifecyclectl: next: run as its owner (uid 0), or give uid %d access; do not remove it", uid))
}
