package lifecycle_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// treeOf lists every path under root, with its mode type, so a test can
// prove that New created nothing.
func treeOf(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	tree := map[string]fs.FileMode{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		tree[p] = d.Type()
		return nil
	}))
	return tree
}

// TestNewRefusesOwnedPaths: New refuses a lock path, or a state path, that
// names a file the library replaces, removes or writes: the lock would sit
// on an inode the next write replaces (two Machines could then be inside
// "the" lock at once), or the state file would be removed or overwritten by
// something else. The error is an *fs.PathError naming the path and saying
// why, and New creates nothing.
func TestNewRefusesOwnedPaths(t *testing.T) {
	type paths struct{ root, dir string } // dir is root/store, missing unless setup makes it
	join := filepath.Join
	saveState := func(t *testing.T, path string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, lifecycle.SaveState(path, lifecycle.DefaultRecord(t0)))
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, p paths)
		opts  func(p paths) []lifecycle.Option
		path  func(p paths) string // the path the error names
		op    string
		want  string // in the error
	}{
		{
			name: "lock path is the state path",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.DefaultStateFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultStateFile) },
			op:   "check lock path", want: "is the state file",
		},
		{
			name: "lock path is the state path spelt otherwise",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, "sub", "..", ".", lifecycle.DefaultStateFile))}
			},
			path: func(p paths) string { return join(p.dir, "sub", "..", ".", lifecycle.DefaultStateFile) },
			op:   "check lock path", want: "is the state file",
		},
		{
			name: "lock path is the state path through a symlinked directory",
			setup: func(t *testing.T, p paths) {
				require.NoError(t, os.Mkdir(p.dir, 0o700))
				require.NoError(t, os.Symlink(p.dir, join(p.root, "alias")))
			},
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.root, "alias", "state.json")),
					lifecycle.WithStatePath(join(p.dir, "state.json"))}
			},
			path: func(p paths) string { return join(p.root, "alias", "state.json") },
			op:   "check lock path", want: "is the state file",
		},
		{
			name: "lock path is a hard link to the state file",
			setup: func(t *testing.T, p paths) {
				saveState(t, join(p.dir, lifecycle.DefaultStateFile))
				require.NoError(t, os.Link(join(p.dir, lifecycle.DefaultStateFile), join(p.dir, "lock")))
			},
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, "lock"))}
			},
			path: func(p paths) string { return join(p.dir, "lock") },
			op:   "check lock path", want: "is the state file",
		},
		{
			name: "lock path is a temporary file of the state file",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, "."+lifecycle.DefaultStateFile+"4242"))}
			},
			path: func(p paths) string { return join(p.dir, "."+lifecycle.DefaultStateFile+"4242") },
			op:   "check lock path", want: "temporary file",
		},
		{
			name: "lock path is a temporary file of a state file elsewhere",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.root, "other", "s.json")),
					lifecycle.WithLockPath(join(p.root, "other", ".s.json1"))}
			},
			path: func(p paths) string { return join(p.root, "other", ".s.json1") },
			op:   "check lock path", want: "temporary file",
		},
		{
			name: "lock path in the log directory",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.DefaultLogDir, "lock"))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLogDir, "lock") },
			op:   "check lock path", want: "inside the log directory",
		},
		{
			name: "lock path deep in the log directory",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.DefaultLogDir, "a", "b"))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLogDir, "a", "b") },
			op:   "check lock path", want: "inside the log directory",
		},
		{
			name: "lock path is a log file",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.DefaultLogDir, lifecycle.LogFileName(t0)))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLogDir, lifecycle.LogFileName(t0)) },
			op:   "check lock path", want: "inside the log directory",
		},
		{
			name: "lock path in a log directory given by WithLogDir",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLogDir(join(p.root, "events")), lifecycle.WithLockPath(join(p.root, "events", "x"))}
			},
			path: func(p paths) string { return join(p.root, "events", "x") },
			op:   "check lock path", want: "inside the log directory",
		},
		{
			name: "log directory is the store directory",
			opts: func(p paths) []lifecycle.Option { return []lifecycle.Option{lifecycle.WithLogDir(p.dir)} },
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLockFile) },
			op:   "check lock path", want: "inside the log directory",
		},
		{
			name: "lock path is the daemon lock",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.DaemonLockFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DaemonLockFile) },
			op:   "check lock path", want: "daemon lock",
		},
		{
			name: "lock path is the wake signal",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.WakeSignalFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.WakeSignalFile) },
			op:   "check lock path", want: "wake signal",
		},
		{
			name: "lock path is a temporary file of the wake signal",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, "."+lifecycle.WakeSignalFile+"77"))}
			},
			path: func(p paths) string { return join(p.dir, "."+lifecycle.WakeSignalFile+"77") },
			op:   "check lock path", want: "wake signal",
		},
		{
			name: "lock path is the Python daemon's .locked",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithLockPath(join(p.dir, lifecycle.PythonDaemonLockFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.PythonDaemonLockFile) },
			op:   "check lock path", want: "Python daemon",
		},
		{
			name: "state path is the lock path",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.dir, lifecycle.DefaultLockFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLockFile) },
			op:   "check lock path", want: "is the state file",
		},
		{
			name: "state path in the log directory",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.dir, lifecycle.DefaultLogDir, "state.json"))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DefaultLogDir, "state.json") },
			op:   "check state path", want: "inside the log directory",
		},
		{
			name: "state path is the wake signal",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.dir, lifecycle.WakeSignalFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.WakeSignalFile) },
			op:   "check state path", want: "wake signal",
		},
		{
			name: "state path is the daemon lock",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.dir, lifecycle.DaemonLockFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.DaemonLockFile) },
			op:   "check state path", want: "daemon lock",
		},
		{
			name: "state path is the Python daemon's .locked",
			opts: func(p paths) []lifecycle.Option {
				return []lifecycle.Option{lifecycle.WithStatePath(join(p.dir, lifecycle.PythonDaemonLockFile))}
			},
			path: func(p paths) string { return join(p.dir, lifecycle.PythonDaemonLockFile) },
			op:   "check state path", want: "Python daemon",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := paths{root: root, dir: filepath.Join(root, "store")}
			if tt.setup != nil {
				tt.setup(t, p)
			}
			opts := tt.opts(p)
			before := treeOf(t, root)
			m, err := lifecycle.New(p.dir, opts...)
			if err == nil {
				require.NoError(t, m.Close())
			}
			require.Error(t, err)
			var pe *fs.PathError
			require.True(t, errors.As(err, &pe), "want an *fs.PathError, got %T: %v", err, err)
			require.Equal(t, tt.path(p), pe.Path)
			require.Equal(t, tt.op, pe.Op)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, before, treeOf(t, root), "New must create nothing")
		})
	}
}

// TestNewAcceptsPathsNearOwnedOnes: names that merely resemble the files
// the library owns are accepted.
func TestNewAcceptsPathsNearOwnedOnes(t *testing.T) {
	tests := []struct {
		name string
		opts func(root, dir string) []lifecycle.Option
	}{
		{"defaults", func(string, string) []lifecycle.Option { return nil }},
		{"lock named after the state file, no digits", func(_, dir string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithLockPath(filepath.Join(dir, "."+lifecycle.DefaultStateFile))}
		}},
		{"lock named after the state file, then not digits", func(_, dir string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithLockPath(filepath.Join(dir, "."+lifecycle.DefaultStateFile+"12.lock"))}
		}},
		{"lock in another directory", func(root, _ string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithLockPath(filepath.Join(root, "elsewhere", "lock"))}
		}},
		{"lock beside a log directory of a similar name", func(_, dir string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithLockPath(filepath.Join(dir, lifecycle.DefaultLogDir+"-lock"))}
		}},
		{"state and logs elsewhere", func(root, _ string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithStatePath(filepath.Join(root, "s", "state.json")),
				lifecycle.WithLogDir(filepath.Join(root, "l"))}
		}},
		{"the daemon's file names in another directory", func(root, _ string) []lifecycle.Option {
			return []lifecycle.Option{lifecycle.WithStatePath(filepath.Join(root, "s", lifecycle.WakeSignalFile)),
				lifecycle.WithLockPath(filepath.Join(root, "s", lifecycle.DaemonLockFile))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "store")
			m := newMachine(t, dir, tt.opts(root, dir)...)
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
		})
	}
}
