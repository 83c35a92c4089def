package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// walk dispatches events that move the machine round its cycle, n times.
func walk(t *testing.T, m *lifecycle.Machine, n int) {
	t.Helper()
	cycle := []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}},
		{lifecycle.WakeSignal, lifecycle.Guards{}},
	}
	for range n {
		rec, err := m.Snapshot()
		require.NoError(t, err)
		for _, c := range cycle {
			if _, ok := lifecycle.ComputeTransition(rec.CurrentState, c.ev, c.g); ok {
				_, err := m.Dispatch(c.ev, c.g)
				require.NoError(t, err)
				break
			}
		}
	}
}

// failNextLogLine makes the next transition of m stop after its state file
// is durable and before its log line: a crash between the two.
func failNextLogLine(t *testing.T, m *lifecycle.Machine) {
	t.Helper()
	restore := lifecycle.SetAfterStep(func(s string) error {
		if s == "dir fsync" {
			return errInjected
		}
		return nil
	})
	defer restore()
	walkErr := func() error {
		rec, err := m.Snapshot()
		require.NoError(t, err)
		ev := lifecycle.Idle5Min
		if rec.CurrentState != lifecycle.Wake {
			ev = lifecycle.RequestArrived
		}
		_, err = m.Dispatch(ev, lifecycle.Guards{})
		return err
	}
	require.ErrorIs(t, walkErr(), errInjected)
}

// TestResetTakesSeqsAboveTheLog: after a reset (the state file removed, or
// replaced by a Python default record without transition_seq) nothing is
// replayed onto the fresh record, and the next transition's seq is above
// every seq in the log, compressed files included (C4).
func TestResetTakesSeqsAboveTheLog(t *testing.T) {
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
			walk(t, m, 9) // seq 1..9, over two days: the first is rotated
			clock.set(t0.Add(72 * time.Hour))
			walk(t, m, 2) // seq 10..11, into HIBERNATION; rotation gzips the days before
			require.NoError(t, m.Close())
			files, err := lifecycle.LogFiles(filepath.Join(dir, lifecycle.DefaultLogDir))
			require.NoError(t, err)
			require.True(t, files[0].Gzip, "the oldest day is compressed")

			tc.reset(t, filepath.Join(dir, lifecycle.DefaultStateFile))
			m = newMachine(t, dir, opts...)
			rec, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, rec.CurrentState, "nothing replayed onto the reset record")
			_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
			rec, err = m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, int64(12), rec.TransitionSeq)
			require.Equal(t, []int64{12}, seqsAbove(t, dir, 11), "seq 12 logged once, after 11")
		})
	}
}

// TestNewReadsOnlyTheEndOfTheLog: with an intact state file, New and the
// dispatches after it never read the whole log (C4).
func TestNewReadsOnlyTheEndOfTheLog(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	walk(t, m, 8)
	require.NoError(t, m.Close())
	stop := lifecycle.CountWholeLogReads()
	m = newMachine(t, dir)
	walk(t, m, 4)
	_, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.Zero(t, stop())
}

// seqsAbove is the seqs of the log's state_transition lines above floor, in
// file order.
func seqsAbove(t *testing.T, dir string, floor int64) []int64 {
	t.Helper()
	var seqs []int64
	_, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			if seq, ok := seqOf(e.Raw); ok && seq > floor {
				seqs = append(seqs, seq)
			}
			return nil
		})
	require.NoError(t, err)
	return seqs
}

// TestClockSteps: the wall clock stepping back across midnight, or running
// 40 days ahead for one start, hides no record from ReadLog or recovery and
// reuses no seq (C5); a crash between a state file and its log line is
// mended in the file of the transition's own day.
func TestClockSteps(t *testing.T) {
	midnight := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		step func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option)
	}{
		{"back across midnight", func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
			clock.set(midnight.Add(-30 * time.Second)) // yesterday's file again
		}},
		{"40 days ahead for one start, then back", func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
			back := clock.read()
			clock.set(back.Add(40 * 24 * time.Hour))
			m := newMachine(t, dir, opts...) // its rotation compresses today's file
			require.NoError(t, m.Close())
			files, err := lifecycle.LogFiles(filepath.Join(dir, lifecycle.DefaultLogDir))
			require.NoError(t, err)
			require.True(t, files[len(files)-1].Gzip, "today's file was compressed")
			clock.set(back)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &simClock{now: midnight.Add(10 * time.Second)}
			opts := []lifecycle.Option{lifecycle.WithClock(clock.read)}
			m := newMachine(t, dir, opts...)
			walk(t, m, 5)
			require.NoError(t, m.Close())

			tc.step(t, dir, clock, opts)
			m = newMachine(t, dir, opts...)
			walk(t, m, 3)
			failNextLogLine(t, m) // seq 9: in the state file, not in the log
			require.NoError(t, m.Close())

			m = newMachine(t, dir, opts...) // appends seq 9's line
			walk(t, m, 2)
			require.NoError(t, m.Close())
			w := checkInvariants(t, dir, 0)
			require.Equal(t, int64(11), w.rec.TransitionSeq)
			require.Len(t, w.seqs, 11, "every line read once")
		})
	}
}

// TestResetAgainWhileAnotherMachineWrites: a Machine that read a reset
// state file learns the seq again from the log before it writes one down,
// for other Machines may have logged transitions since (and the file been
// removed again).
func TestResetAgainWhileAnotherMachineWrites(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	a := newMachine(t, dir)
	walk(t, a, 3)
	require.NoError(t, os.Remove(state))
	_, err := a.Dispatch(lifecycle.Tick, lifecycle.Guards{}) // reads the reset, seq 3 from the log
	require.NoError(t, err)

	b := newMachine(t, dir)
	walk(t, b, 2) // seq 4, 5
	require.NoError(t, os.Remove(state))

	for _, ev := range []lifecycle.Event{lifecycle.HeartbeatRefresh, lifecycle.Idle5Min} {
		_, err = a.Dispatch(ev, lifecycle.Guards{})
		require.NoError(t, err)
	}
	rec, err := a.Snapshot()
	require.NoError(t, err)
	require.Equal(t, int64(6), rec.TransitionSeq)
	require.Equal(t, []int64{6}, seqsAbove(t, dir, 5))
}

// TestUpgradeFromALogFirstVersion: the version before this one logged a
// transition before it renamed its state file, and did not sync the
// directory after the rename, so after a crash or a power loss its state
// file (which has no last_transition) can be a line behind its log. The
// line is not replayed (the record stays), and no seq is logged twice.
func TestUpgradeFromALogFirstVersion(t *testing.T) {
	dir := t.TempDir()
	clock := &simClock{now: t0}
	opts := []lifecycle.Option{lifecycle.WithClock(clock.read)}
	m := newMachine(t, dir, opts...)
	walk(t, m, 1) // seq 1: WAKE -> DROWSY
	require.NoError(t, m.Close())
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	rec, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	rec.LastTransition = nil // as the earlier version wrote it
	require.NoError(t, lifecycle.SaveState(state, rec))
	appendRaw(t, filepath.Join(dir, lifecycle.DefaultLogDir, lifecycle.LogFileName(t0)),
		`{"ts":"2026-11-25T22:46:00+00:00","event":"state_transition","from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","seq":2}`+"\n")
	before, err := os.ReadFile(state)
	require.NoError(t, err)

	m = newMachine(t, dir, opts...)
	after, err := os.ReadFile(state)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "nothing replayed")
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}) // DROWSY -> WAKE
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, seqsAbove(t, dir, 1), "the next transition takes seq 3")
}
