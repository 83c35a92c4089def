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

// TestSymlinkedStatePathRefused: a state path that is a symbolic link is
// refused, as the lock file is, rather than read through and then replaced
// by a regular file (after which the link's target would silently stop
// being updated). Every way in, reading or writing, fails with an
// *fs.PathError naming the link; the link and its target are left as they
// are, and no transition is logged.
func TestSymlinkedStatePathRefused(t *testing.T) {
	targets := []struct {
		name  string
		setup func(t *testing.T, target string) // makes the link's target, or not
	}{
		{"link to a valid state file", func(t *testing.T, target string) {
			require.NoError(t, lifecycle.SaveState(target, lifecycle.DefaultRecord(t0)))
		}},
		{"dangling link", func(*testing.T, string) {}},
		{"link to a directory", func(t *testing.T, target string) { require.NoError(t, os.Mkdir(target, 0o700)) }},
	}
	calls := []struct {
		name string
		// call plants the link at state (the state path of a Machine in
		// dir) through plant, before or after it makes the Machine, and
		// returns what the way in under test says.
		call       func(t *testing.T, dir, state string, plant func()) error
		op         string
		corrupting bool // the error wraps ErrCorruptState
	}{
		{"LoadState", func(t *testing.T, _, state string, plant func()) error {
			plant()
			_, err := lifecycle.LoadState(state)
			return err
		}, "load state", true},
		{"Table.LoadState", func(t *testing.T, _, state string, plant func()) error {
			plant()
			_, err := lifecycle.DefaultTable().LoadState(state)
			return err
		}, "load state", true},
		{"SaveState", func(t *testing.T, _, state string, plant func()) error {
			plant()
			return lifecycle.SaveState(state, lifecycle.DefaultRecord(t0))
		}, "save state", false},
		{"New", func(t *testing.T, dir, _ string, plant func()) error {
			plant()
			m, err := lifecycle.New(dir)
			if err == nil {
				require.NoError(t, m.Close())
			}
			return err
		}, "check state path", false},
		{"Snapshot", func(t *testing.T, dir, _ string, plant func()) error {
			m := newMachine(t, dir)
			plant()
			_, err := m.Snapshot()
			return err
		}, "load state", true},
		{"Dispatch", func(t *testing.T, dir, _ string, plant func()) error {
			m := newMachine(t, dir)
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
			plant()
			_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			return err
		}, "load state", true},
		{"Update", func(t *testing.T, dir, _ string, plant func()) error {
			m := newMachine(t, dir)
			plant()
			_, err := m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
			return err
		}, "load state", true},
	}
	for _, tg := range targets {
		for _, c := range calls {
			t.Run(tg.name+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				state := filepath.Join(dir, lifecycle.DefaultStateFile)
				target := filepath.Join(t.TempDir(), "target.json")
				tg.setup(t, target)
				before := treeOf(t, filepath.Dir(target))
				var targetBytes []byte
				if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() {
					targetBytes = stRead(t, target)
				}
				plant := func() {
					require.NoError(t, os.RemoveAll(state))
					require.NoError(t, os.Symlink(target, state))
				}
				linesBefore := -1

				err := c.call(t, dir, state, func() {
					plant()
					if _, err := os.Stat(filepath.Join(dir, lifecycle.DefaultLogDir)); err == nil {
						linesBefore = len(logLines(t, dir))
					}
				})

				require.Error(t, err)
				var pe *fs.PathError
				require.True(t, errors.As(err, &pe), "want an *fs.PathError, got %T: %v", err, err)
				require.Equal(t, state, pe.Path)
				require.Equal(t, c.op, pe.Op)
				require.ErrorContains(t, err, "symbolic link")
				if c.corrupting {
					require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				}
				link, lerr := os.Readlink(state)
				require.NoError(t, lerr, "the link is still a link")
				require.Equal(t, target, link)
				require.Equal(t, before, treeOf(t, filepath.Dir(target)), "nothing created beside the target")
				if targetBytes != nil {
					require.Equal(t, targetBytes, stRead(t, target), "the target is untouched")
				}
				if linesBefore >= 0 {
					require.Len(t, logLines(t, dir), linesBefore, "nothing logged")
				}
			})
		}
	}
}

// TestSymlinkedStateDirectoryFollowed: only the state file's own name is
// refused as a link; a symlinked directory on the way to it is followed,
// as for every other file, and the file is replaced inside the directory
// the link leads to.
func TestSymlinkedStateDirectoryFollowed(t *testing.T) {
	real := t.TempDir()
	alias := filepath.Join(t.TempDir(), "alias")
	require.NoError(t, os.Symlink(real, alias))
	m := newMachine(t, alias)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	rec, err := lifecycle.LoadState(filepath.Join(real, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
}
