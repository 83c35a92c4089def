package lifecycle_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mountStarvedExt4 mounts an ext4 on a loop device whose backing file lies
// on a small tmpfs, with the file system's metadata and journal backed and
// its data blocks not: once fill is called, the tmpfs is full, and the
// writeback of any data block the file system has not written before
// fails, while the journal still commits. It returns the mount point and
// fill, or skips the test saying why it cannot run here.
func mountStarvedExt4(t *testing.T) (mnt string, fill func() (release func()), remount func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop file system needs root")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not found (Debian's e2fsprogs)")
	}
	debugfs, err := exec.LookPath("debugfs")
	if err != nil {
		t.Skip("debugfs not found (Debian's e2fsprogs)")
	}
	store := t.TempDir()
	if err := unix.Mount("tmpfs", store, "tmpfs", 0, "size=24m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		// The loop device lets go of its backing file a moment after the
		// unmount of its file system.
		var err error
		for range 500 {
			if err = unix.Unmount(store, 0); err != unix.EBUSY {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			// Lazily, rather than leave a mount behind.
			require.NoError(t, unix.Unmount(store, unix.MNT_DETACH), "unmount %s: %v", store, err)
		}
	})
	img := filepath.Join(store, "ext4.img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20))
	require.NoError(t, f.Close())
	if out, err := exec.Command(mkfs, "-q", "-F", "-b", "4096", "-E", "lazy_journal_init=0,lazy_itable_init=0,nodiscard", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 failed: %v: %s", err, out)
	}
	// Back everything up to the journal's last block (the metadata lies
	// before it), so that only data blocks can fail.
	out, err := exec.Command(debugfs, "-R", "blocks <8>", img).Output()
	if err != nil {
		t.Skipf("debugfs cannot list the journal's blocks: %v", err)
	}
	var last int64
	for _, w := range strings.Fields(string(out)) {
		if b, err := strconv.ParseInt(w, 10, 64); err == nil {
			last = max(last, b)
		}
	}
	require.Positive(t, last, "debugfs listed no journal blocks: %q", out)
	f, err = os.OpenFile(img, os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Fallocate(int(f.Fd()), 0, 0, (last+1)*4096))
	require.NoError(t, f.Close())

	mnt = t.TempDir()
	out, err = exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("losetup cannot attach a loop device here: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		// Detaching fails while something (udev's probe) still has the
		// device open: try again for a while.
		for range 250 {
			if exec.Command("losetup", "-d", dev).Run() == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	mount := func() {
		if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
			t.Skipf("mounting %s refused here: %v: %s", dev, err, out)
		}
	}
	mount()
	mounted := true
	t.Cleanup(func() {
		if mounted {
			require.NoError(t, unix.Unmount(mnt, 0))
		}
	})
	fill = func() func() {
		unix.Sync()
		filler := filepath.Join(store, "filler")
		ff, err := os.Create(filler)
		require.NoError(t, err)
		chunk := make([]byte, 4096)
		for {
			if _, err := ff.Write(chunk); err != nil {
				require.ErrorIs(t, err, unix.ENOSPC)
				break
			}
		}
		require.NoError(t, ff.Close())
		return func() { require.NoError(t, os.Remove(filler)) }
	}
	remount = func() {
		require.NoError(t, unix.Unmount(mnt, 0))
		mounted = false
		mount()
		mounted = true
	}
	return mnt, fill, remount
}

// TestRecoveryAfterAFailedWriteback reproduces "fsyncgate" on a real file
// system: a dispatch's log line cannot be written back (its backing store is
// full), its fsync fails, and the line stays in the page cache, where a new
// Machine finds it and a second fsync reports success. Space comes back;
// the new Machine must not build on that line: after a remount the log
// must hold every transition the state file counts (C2).
func TestRecoveryAfterAFailedWriteback(t *testing.T) {
	mnt, fill, remount := mountStarvedExt4(t)
	dir := t.TempDir() // state and lock files on a sound file system
	logs := filepath.Join(mnt, "logs")
	require.NoError(t, os.Mkdir(logs, 0o700))
	require.NoError(t, os.Symlink(logs, filepath.Join(dir, lifecycle.DefaultLogDir)))

	clock := &simClock{now: t0}
	opts := []lifecycle.Option{lifecycle.WithClock(clock.read), lifecycle.WithRetention(0)}
	a, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	walk(t, a, 4) // seq 1..4 on day D
	require.NoError(t, a.Close())

	clock.set(t0.Add(24 * time.Hour))
	b, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	release := fill()
	_, err = b.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}) // seq 5, in a new file of day D+1
	release()
	require.NoError(t, b.Close())
	if err == nil {
		t.Skip("the log line's writeback did not fail on a full backing store here: nothing to recover")
	}
	require.True(t, errors.Is(err, unix.EIO) || errors.Is(err, unix.ENOSPC), "%v", err)
	day := filepath.Join(logs, lifecycle.LogFileName(clock.read()))
	cached, err := os.ReadFile(day)
	require.NoError(t, err)
	require.Contains(t, string(cached), `"seq":5}`, "the page cache holds the line that was not written back")

	clock.set(t0.Add(48 * time.Hour))
	c, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	_, err = c.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}) // seq 6, on day D+2
	require.NoError(t, err)
	require.NoError(t, c.Close())

	remount()
	onDisk, err := os.ReadFile(day)
	require.NoError(t, err)
	w, err := invariants(dir)
	require.NoError(t, err, "after the remount: seq 6 was built on a line the disk does not hold; %s holds %q",
		day, bytes.Trim(onDisk, "\x00\n"))
	require.Equal(t, int64(6), w.rec.TransitionSeq)
}
