package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// plainLogs lists the plain (not rotated) log files of dir's log directory.
func plainLogs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := lifecycle.LogFiles(filepath.Join(dir, lifecycle.DefaultLogDir))
	require.NoError(t, err)
	var plain []string
	for _, f := range files {
		if !f.Gzip {
			plain = append(plain, filepath.Base(f.Path))
		}
	}
	return plain
}

// TestMachineRotatesTheFileItLastAppendedTo: the Machine keeps the last log
// file it appended to open, and a rotation leaves a file that is open; its
// own rotation, once that day is old, must still compress it.
func TestMachineRotatesTheFileItLastAppendedTo(t *testing.T) {
	dir := t.TempDir()
	clock := &simClock{now: t0}
	m := newMachine(t, dir, lifecycle.WithClock(clock.read), lifecycle.WithRetention(24*time.Hour))
	walk(t, m, 3) // the last append is to t0's or the next day's file
	clock.set(t0.Add(96 * time.Hour))
	_, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{}) // today's rotation
	require.NoError(t, err)
	require.Empty(t, plainLogs(t, dir), "every day before the retention is compressed")
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3}, seqsAbove(t, dir, 0))
	require.Equal(t, int64(3), rec.TransitionSeq)
}

// TestResetAfterEveryDayIsRotated: once every day of the log is compressed,
// a reset (the state file removed, or a Python default record without
// transition_seq) still finds the highest seq, in the .gz files, and the
// next transition takes the seq after it (C4).
func TestResetAfterEveryDayIsRotated(t *testing.T) {
	python, err := os.ReadFile(filepath.Join("testdata", "fixtures", "python-written", "wake.json"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		reset func(t *testing.T, state string)
	}{
		{"state file removed", func(t *testing.T, state string) { require.NoError(t, os.Remove(state)) }},
		{"python default record", func(t *testing.T, state string) { require.NoError(t, os.WriteFile(state, python, 0o600)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &simClock{now: t0}
			opts := []lifecycle.Option{lifecycle.WithClock(clock.read), lifecycle.WithRetention(24 * time.Hour)}
			m := newMachine(t, dir, opts...)
			walk(t, m, 5)
			clock.set(t0.Add(3 * time.Hour)) // the next day
			walk(t, m, 4)                    // seq 1..9, over two days
			require.NoError(t, m.Close())
			later := t0.Add(40 * 24 * time.Hour)
			rotated, err := lifecycle.RotateLogs(filepath.Join(dir, lifecycle.DefaultLogDir), 24*time.Hour, later)
			require.NoError(t, err)
			require.Len(t, rotated, 2)
			require.Empty(t, plainLogs(t, dir), "every day is compressed")

			tc.reset(t, filepath.Join(dir, lifecycle.DefaultStateFile))
			clock.set(later)
			m = newMachine(t, dir, opts...)
			_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
			rec, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, int64(10), rec.TransitionSeq)
			require.Equal(t, []int64{10}, seqsAbove(t, dir, 9), "seq 10 logged once, after 9")
		})
	}
}
