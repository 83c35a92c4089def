package lifecycle_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a small tmpfs for the test, or skips it, saying why,
// where the test may not mount (not root, or no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { require.NoError(t, unix.Unmount(dir, 0)) })
	return dir
}

func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	// A filler file to remove later, so that the test can make room again.
	filler := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(filler, []byte(strings.Repeat("x", 16<<10)), 0o600))
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	cycle := []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh}
	var acked int64
	var failure error
	for i := 0; i < 100_000 && failure == nil; i++ {
		if _, failure = m.Dispatch(cycle[i%2], lifecycle.Guards{}); failure == nil {
			acked++
		}
	}
	require.Error(t, failure, "the disk never filled")
	require.True(t, errors.Is(failure, unix.ENOSPC), "%v", failure)
	require.Contains(t, failure.Error(), dir)
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrPoisoned)
	require.NoError(t, m.Close())

	// The state is whole and holds every acknowledged transition.
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.GreaterOrEqual(t, rec.TransitionSeq, acked)

	// Room again: the next Machine recovers and carries on.
	require.NoError(t, os.Remove(filler))
	m2, err := lifecycle.New(dir)
	require.NoError(t, err)
	w := checkInvariants(t, dir, 1)
	require.GreaterOrEqual(t, w.rec.TransitionSeq, acked)
	_, err = m2.Dispatch(cycle[acked%2], lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m2.Close())
	t.Logf("full after %d transitions: %v", acked, failure)
}

// TestReadOnlyMount: the state directory turns read-only under a running
// Machine (its lock file lives elsewhere, as WithLockPath allows). Root
// ignores modes, so a read-only remount is what refuses the writes.
func TestReadOnlyMount(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	m, err := lifecycle.New(dir, lifecycle.WithLockPath(filepath.Join(t.TempDir(), "lock")))
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""))
	defer func() { require.NoError(t, unix.Mount("", dir, "", unix.MS_REMOUNT, "")) }()
	requireRefusedWrite(t, m, dir)
}

// TestStateFileKernelReadError: a read the kernel fails with EIO (here
// /proc/self/mem, whose first page is never mapped) is the read's error,
// naming the file, not a corrupt state file.
func TestStateFileKernelReadError(t *testing.T) {
	const mem = "/proc/self/mem"
	_, err := lifecycle.LoadState(mem)
	requireSystemError(t, err, "read", mem, unix.EIO)
}
