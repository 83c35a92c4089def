package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// TestAppendToAFileRemovedAfterItsOpen: the day's log file is removed or
// renamed (by hand, by logrotate) after a dispatch opened it and before its
// line is appended. The line must not be acknowledged in an inode that no
// log file name names: the dispatch appends it to the file now at the path.
func TestAppendToAFileRemovedAfterItsOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		move func(t *testing.T, path string)
	}{
		{"unlinked", func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }},
		{"renamed away, as logrotate does", func(t *testing.T, path string) { require.NoError(t, os.Rename(path, path+".1")) }},
		{"replaced by another file", func(t *testing.T, path string) {
			other := path + ".new"
			require.NoError(t, os.WriteFile(other, []byte(`{"ts":"2026-11-25T22:45:33+00:00","event":"wrapper_event"}`+"\n"), 0o600))
			require.NoError(t, os.Rename(other, path))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &simClock{now: t0}
			m := newMachine(t, dir, lifecycle.WithClock(clock.read))
			walk(t, m, 4) // seq 1..4, back in WAKE
			path := filepath.Join(m.LogDir(), lifecycle.LogFileName(t0))
			moved := false
			restore := lifecycle.SetAfterStep(func(step string) error {
				// The state file's directory sync: the log file is open
				// already, its line not yet written.
				if step == "dir fsync" && !moved {
					moved = true
					tc.move(t, path)
				}
				return nil
			})
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			restore()
			require.NoError(t, err)
			require.True(t, moved)
			require.Contains(t, seqsAbove(t, dir, 0), int64(5), "seq 5 acknowledged, but no log file holds it")
			_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
			require.Equal(t, []int64{5, 6}, seqsAbove(t, dir, 4))
		})
	}
}
