package lifecycle_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// TestResetReadsTheLogOnceUnderTheLock: a dispatch that meets a reset
// state file (removed, or a Python default record) reads the whole log at
// most once while it holds the lock, and still takes the next seq above it.
func TestResetReadsTheLogOnceUnderTheLock(t *testing.T) {
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
			m := newMachine(t, dir)
			walk(t, m, 6)
			tc.reset(t, m.StatePath())
			stop := lifecycle.CountWholeLogReads()
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			reads := stop()
			require.NoError(t, err)
			require.Equal(t, 1, reads, "whole-log reads in one dispatch")
			require.Equal(t, []int64{7}, seqsAbove(t, dir, 6))
		})
	}
}

// BenchmarkResetDispatch is a dispatch that meets a reset state file (a
// Python default record, without transition_seq) over a log of 100,000 or a
// million transitions over 30 days: the whole log is read for its highest
// seq under the lock.
func BenchmarkResetDispatch(b *testing.B) {
	python, err := os.ReadFile(filepath.Join("testdata", "fixtures", "python-written", "wake.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, lines := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("log=%d", lines), func(b *testing.B) {
			if lines > 100_000 && testing.Short() {
				b.Skip("-short: no million-line log")
			}
			dir := b.TempDir()
			writeTransitionLog(b, filepath.Join(dir, lifecycle.DefaultLogDir), lines, t0.Add(-30*24*time.Hour))
			m, err := lifecycle.New(dir, lifecycle.WithRetention(0))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			for b.Loop() {
				if err := os.WriteFile(m.StatePath(), python, 0o600); err != nil {
					b.Fatal(err)
				}
				if _, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeTransitionLog writes n state_transition lines, seq 1..n, WAKE and
// DROWSY in turn, spread over 30 daily files from start.
func writeTransitionLog(b *testing.B, dir string, n int, start time.Time) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	perDay := (n + 29) / 30
	var buf []byte
	flush := func(day time.Time) {
		if len(buf) == 0 {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, lifecycle.LogFileName(day)), buf, 0o600); err != nil {
			b.Fatal(err)
		}
		buf = buf[:0]
	}
	states := [2]string{"WAKE", "DROWSY"}
	triggers := [2]string{"idle_5min", "heartbeat_refresh"}
	day := start
	for i := range n {
		if i > 0 && i%perDay == 0 {
			flush(day)
			day = day.Add(24 * time.Hour)
		}
		ts := day.Add(time.Duration(i%perDay) * time.Second).Format("2006-01-02T15:04:05.000000+00:00")
		buf = fmt.Appendf(buf, `{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"%s","seq":%d}`+"\n",
			ts, states[i%2], states[(i+1)%2], triggers[i%2], i+1)
	}
	flush(day)
}
