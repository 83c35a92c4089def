package lifecycle_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/internal/unprivtest"
	"github.com/stretchr/testify/require"
)

// snapshotFiles reads every regular file under dir, so a test can prove
// that not one byte changed.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		files[p] = string(data)
		return err
	}))
	return files
}

func TestStatePathIsADirectory(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	require.NoError(t, os.Mkdir(state, 0o700))
	m := newMachine(t, dir)
	for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.Tick} {
		_, err := m.Dispatch(ev, lifecycle.Guards{})
		require.ErrorIs(t, err, lifecycle.ErrCorruptState)
		require.Contains(t, err.Error(), state)
		require.Contains(t, err.Error(), "is a directory, not a file")
	}
	fi, err := os.Stat(state)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Empty(t, logLines(t, dir))
}

func TestLogDirBecomesAFile(t *testing.T) {
	dir := t.TempDir()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.Rename(logs, logs+".saved"))
	require.NoError(t, os.WriteFile(logs, []byte("not a directory"), 0o600))
	before := snapshotFiles(t, dir)

	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.Error(t, err)
	require.Contains(t, err.Error(), logs)
	require.Equal(t, before, snapshotFiles(t, dir), "a log it cannot open fails the transition before anything changes")
	// Nothing changed, so the Machine is not poisoned: mended, it goes on.
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, os.Remove(logs))
	require.NoError(t, os.Rename(logs+".saved", logs))
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	w := checkInvariants(t, dir, 0)
	require.Equal(t, lifecycle.Wake, w.rec.CurrentState)
}

func TestGarbageInTheLog(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return t0 }
	m, err := lifecycle.New(dir, lifecycle.WithClock(clock))
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	// Invalid UTF-8, a NUL-filled tail as some file systems leave after a
	// crash, and no final newline.
	appendRaw(t, filepath.Join(dir, "logs", lifecycle.LogFileName(t0)),
		"\xff\xfe{\"ts\":1}\n{\"event\":\"x\x00\"}\n\x00\x00\x00\x00")

	m2 := newMachine(t, dir, lifecycle.WithClock(clock))
	got, err := m2.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
	stats, err := lifecycle.ReadLog(filepath.Join(dir, "logs"), lifecycle.LogQuery{}, func(lifecycle.LogEntry) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 2, stats.Entries)
	require.Equal(t, 3, stats.Malformed)
	w := checkInvariants(t, dir, 3)
	require.Equal(t, int64(2), w.rec.TransitionSeq)
}

// TestPermissionsWhateverTheUmask runs the whole life of a directory under
// an umask that masks nothing: whatever the library creates is still private.
func TestPermissionsWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	root := t.TempDir()
	dir := filepath.Join(root, "a", "store")
	now := t0
	clock := func() time.Time { return now }
	m, err := lifecycle.New(dir, lifecycle.WithClock(clock), lifecycle.WithRetention(24*time.Hour))
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	_, err = m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
	require.NoError(t, err)
	require.NoError(t, m.Close())
	// Three days on, a new Machine rotates the first day's log.
	now = t0.Add(72 * time.Hour)
	m2, err := lifecycle.New(dir, lifecycle.WithClock(clock), lifecycle.WithRetention(24*time.Hour))
	require.NoError(t, err)
	_, err = m2.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m2.Close())

	var seen []string
	require.NoError(t, filepath.Walk(filepath.Join(root, "a"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		seen = append(seen, strings.TrimPrefix(p, root))
		if fi.IsDir() {
			require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
		} else {
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		}
		return nil
	}))
	require.Contains(t, seen, "/a/store/logs/lifecycle-events-2026-11-25.jsonl.gz")
	require.Contains(t, seen, "/a/store/logs/lifecycle-events-2026-11-28.jsonl")
	require.Contains(t, seen, "/a/store/"+lifecycle.DefaultStateFile)
}

// TestUnwritableDirectory: a state directory the process may not write to
// (mode 0500) refuses the temporary state file. The dispatch fails with a
// permission error naming the state file, no byte changes, and the Machine
// is poisoned, as by any failed write; once the directory is writable
// again a new Machine carries on. Root ignores modes, so as root the test
// runs as an unprivileged user in a child process (hostile_linux_test.go
// also covers root with a read-only mount).
func TestUnwritableDirectory(t *testing.T) {
	if unprivtest.Run(t) {
		return
	}
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o500))
	defer os.Chmod(dir, 0o700)
	before := snapshotFiles(t, dir)

	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.ErrorIs(t, err, fs.ErrPermission)
	require.NotErrorIs(t, err, lifecycle.ErrCorruptState)
	require.Contains(t, err.Error(), state)
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrPoisoned)
	require.NoError(t, m.Close())
	require.Equal(t, before, snapshotFiles(t, dir))
	rec, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, rec.CurrentState)

	require.NoError(t, os.Chmod(dir, 0o700))
	m2 := newMachine(t, dir)
	got, err := m2.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
	require.NoError(t, m2.Close())
	checkInvariants(t, dir, 0)
}

// requireRefusedWrite checks that a dispatch that cannot write fails with an
// error naming a file in dir and changes no byte. (A transition whose log
// file cannot be opened fails before it changes anything, so it does not
// poison the Machine: a tick after it works.)
func requireRefusedWrite(t *testing.T, m *lifecycle.Machine, dir string) {
	t.Helper()
	before := snapshotFiles(t, dir)
	_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.Error(t, err)
	require.Contains(t, err.Error(), dir)
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, before, snapshotFiles(t, dir))
	_, err = lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
}
