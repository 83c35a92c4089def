package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

type countDirSyncFS struct {
	lifecycle.OSFS
	dir string
	n   int
}

func (f *countDirSyncFS) SyncDir(dir string) error {
	if filepath.Clean(dir) == filepath.Clean(f.dir) {
		f.n++
	}
	return f.OSFS.SyncDir(dir)
}

// eventLog.synced remembers a path, not a file: after a rotation removed
// the day's file and another writer (the Python wrapper, which appends to
// LogFileName(ts) without syncing the directory) made a new one, the
// Machine appends an acknowledged transition to it without ever syncing
// the log directory. A power loss can drop the new file's entry, and the
// acknowledged line with it.
func TestLogEntrySyncedPerFileNotPerPath(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m, err := lifecycle.New(dir, lifecycle.WithClock(clock))
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}) // creates day D's file; synced = its path
	require.NoError(t, err)

	logDir := m.LogDir()
	day := filepath.Join(logDir, lifecycle.LogFileName(now))
	// Another program (logrotate) moves day D's file aside. (A rotation of
	// this library leaves a file the Machine holds open.)
	rotated, err := lifecycle.RotateLogs(logDir, time.Hour, now.Add(72*time.Hour))
	require.NoError(t, err)
	require.Empty(t, rotated)
	require.NoError(t, os.Rename(day, day+".1"))
	// The Python wrapper appends a wrapper_event of day D: a new file,
	// its entry not synced.
	f, err := os.OpenFile(day, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(`{"ts":"2026-11-25T10:00:01+00:00","event":"wrapper_event"}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	fs := &countDirSyncFS{dir: logDir}
	defer lifecycle.SetFileSystem(fs)()
	now = now.Add(time.Second)
	_, err = m.Dispatch(lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}) // seq 2, acknowledged
	require.NoError(t, err)
	require.Positive(t, fs.n, "seq 2 acknowledged in %s, a file whose directory entry nobody synced", day)
}
