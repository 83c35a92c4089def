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

// TestRestoredStateFileTakesSeqsAboveLaterDays: a state file restored from
// a backup is behind the log, whose later lines lie in later days' files
// (plain or rotated). Its next transition must take a seq above every seq
// in the log, whatever day it is in (C4).
func TestRestoredStateFileTakesSeqsAboveLaterDays(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rotated bool
	}{
		{"later days plain", false},
		{"every day rotated", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &simClock{now: t0}
			opts := []lifecycle.Option{lifecycle.WithClock(clock.read), lifecycle.WithRetention(0)}
			m := newMachine(t, dir, opts...)
			walk(t, m, 4) // seq 1..4 on day D
			backup, err := os.ReadFile(m.StatePath())
			require.NoError(t, err)
			for day := 1; day <= 3; day++ {
				clock.set(t0.Add(time.Duration(day) * 24 * time.Hour))
				walk(t, m, 2) // seq 5..10 on days D+1..D+3
			}
			require.NoError(t, m.Close())
			if tc.rotated {
				rotated, err := lifecycle.RotateLogs(m.LogDir(), time.Hour, t0.Add(40*24*time.Hour))
				require.NoError(t, err)
				require.Len(t, rotated, 4)
			}

			require.NoError(t, os.WriteFile(m.StatePath(), backup, 0o600))
			m = newMachine(t, dir, opts...)
			_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
			rec, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, int64(11), rec.TransitionSeq, "the restored record's next seq is not above the log's")
			require.Equal(t, []int64{11}, seqsAbove(t, dir, 10))
		})
	}
}
