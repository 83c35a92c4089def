package lifecycle_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mountCoarseExt4 mounts a fresh ext4 with 128-byte inodes (whole-second
// timestamps, as on ext3 or HFS+) and returns its root, or skips saying
// why it cannot.
func mountCoarseExt4(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop file system needs root")
	}
	mkfs, err := lookSystemTool("mkfs.ext4")
	if err != nil {
		t.Skipf("%v (Debian's e2fsprogs)", err)
	}
	img := filepath.Join(t.TempDir(), "ext4.img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(32<<20))
	require.NoError(t, f.Close())
	if out, err := exec.Command(mkfs, "-q", "-F", "-I", "128", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 -I 128 failed: %v: %s", err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("mount -o loop refused here: %v: %s", err, out)
	}
	t.Cleanup(func() { require.NoError(t, unix.Unmount(dir, 0)) })
	return dir
}

// TestSameLengthRewritesOnCoarseTimestamps: on a file system with
// whole-second timestamps that reuses a freed inode number at once, another
// Machine's rewrite of the state file within the second can have the same
// inode, size and times as the version this Machine last wrote. Every
// dispatch must still act on the file's current bytes (C6): no write is
// lost, no seq goes back, no seq is logged twice.
func TestSameLengthRewritesOnCoarseTimestamps(t *testing.T) {
	dir := filepath.Join(mountCoarseExt4(t), "lc")
	a, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	b, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()

	heartbeat := func(m *lifecycle.Machine) {
		_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
		require.NoError(t, err)
	}
	var want int64
	for round := range 20 {
		// A writes; B rewrites twice at the same length (its second write
		// may land on A's old inode number); A must see B's.
		for _, m := range []*lifecycle.Machine{a, b, b, a} {
			heartbeat(m)
			want++
		}
		rec, err := a.Snapshot()
		require.NoError(t, err)
		require.Equal(t, want, rec.WrapperEventSeq, "round %d: a write was lost", round)
	}
	for round := range 10 {
		for _, step := range []struct {
			m  *lifecycle.Machine
			ev lifecycle.Event
		}{{a, lifecycle.Idle5Min}, {b, lifecycle.HeartbeatRefresh}, {b, lifecycle.Idle5Min}, {a, lifecycle.HeartbeatRefresh}} {
			_, err := step.m.Dispatch(step.ev, lifecycle.Guards{})
			require.NoError(t, err, "round %d", round)
		}
	}
	w := checkInvariants(t, dir, 0)
	require.Equal(t, int64(40), w.rec.TransitionSeq)
}
