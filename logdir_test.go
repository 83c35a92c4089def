package lifecycle_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// parentSyncFS counts the fsyncs of one directory and fails them while
// failing is set.
type parentSyncFS struct {
	lifecycle.OSFS
	dir     string
	n       int
	failing bool
}

func (f *parentSyncFS) SyncDir(dir string) error {
	if filepath.Clean(dir) == filepath.Clean(f.dir) {
		f.n++
		if f.failing {
			return &os.PathError{Op: "sync", Path: dir, Err: syscall.EIO}
		}
	}
	return f.OSFS.SyncDir(dir)
}

// TestLogDirMadeByAnotherProcess: a log directory given with WithLogDir
// that another process removes and makes again (or only removes) while a
// Machine runs. The new directory's own entry, in its parent, must be
// durable before a line in it is acknowledged; a failed sync of the parent
// poisons the Machine, since a later sync may report success for an entry
// that is lost.
func TestLogDirMadeByAnotherProcess(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recreate bool // the other process makes it again; else the Machine does
	}{
		{"made again by another process", true},
		{"removed, made again by the Machine", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, fail := range []bool{false, true} {
				dir := t.TempDir()
				parent := filepath.Join(t.TempDir(), "var")
				logDir := filepath.Join(parent, "logs")
				m := newMachine(t, dir, lifecycle.WithLogDir(logDir))
				walk(t, m, 4) // seq 1..4, back in WAKE
				require.NoError(t, os.RemoveAll(logDir))
				if tc.recreate {
					require.NoError(t, os.Mkdir(logDir, 0o700))
				}
				fs := &parentSyncFS{dir: parent, failing: fail}
				restore := lifecycle.SetFileSystem(fs)
				_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
				_, err2 := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				restore()
				if !fail {
					require.NoError(t, err)
					require.NoError(t, err2)
					require.Positive(t, fs.n, "seq 5 acknowledged in %s, whose entry in %s nobody synced", logDir, parent)
					continue
				}
				require.ErrorIs(t, err, syscall.EIO)
				require.ErrorIs(t, err2, lifecycle.ErrPoisoned, "a failed sync of %s did not poison the Machine", parent)
			}
		})
	}
}
