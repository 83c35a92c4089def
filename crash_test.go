package lifecycle_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

var errInjected = errors.New("injected failure")

// TestFailureAtEveryStep stops a dispatch after each step of its durable
// write, as a crash or an I/O error would, and checks that the Machine is
// poisoned, that a new Machine recovers, and that the log and the state
// agree. Once the log line is written the transition must survive: the log
// is the write-ahead record.
func TestFailureAtEveryStep(t *testing.T) {
	steps := []struct {
		step string
		// Which dispatches reach the step: a transition appends to the log
		// and leaves its rename to the log's protection; a write without a
		// transition has no log line, so it syncs the directory.
		byTransition, byActivity bool
	}{
		{"log write", true, false},
		{"log fsync", true, false},
		{"temp write", true, true},
		{"temp fsync", true, true},
		{"rename", true, true},
		{"dir fsync", false, true},
	}
	for _, tt := range steps {
		for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh} {
			name := fmt.Sprintf("%s/%s", tt.step, ev)
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				m, err := lifecycle.New(dir)
				require.NoError(t, err)
				// Some history: two transitions, and back in WAKE.
				for _, e := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh, lifecycle.HeartbeatRefresh} {
					_, err := m.Dispatch(e, lifecycle.Guards{})
					require.NoError(t, err)
				}
				before, err := m.Snapshot()
				require.NoError(t, err)

				hits := 0
				restore := lifecycle.SetAfterStep(func(s string) error {
					if s == tt.step {
						hits++
						return errInjected
					}
					return nil
				})
				_, err = m.Dispatch(ev, lifecycle.Guards{})
				restore()
				transition := ev == lifecycle.Idle5Min
				if transition && !tt.byTransition || !transition && !tt.byActivity {
					require.NoError(t, err)
					require.Zero(t, hits)
					require.NoError(t, m.Close())
					checkInvariants(t, dir, 0)
					return
				}
				require.Equal(t, 1, hits)
				require.ErrorIs(t, err, errInjected)
				require.Contains(t, err.Error(), dir)

				// Poisoned: later calls fail at once.
				_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
				require.ErrorIs(t, err, lifecycle.ErrPoisoned)
				require.ErrorIs(t, err, errInjected)
				_, err = m.Update(func(*lifecycle.Record) error { return nil })
				require.ErrorIs(t, err, lifecycle.ErrPoisoned)
				require.NoError(t, m.Close())

				// A new Machine recovers.
				m2, err := lifecycle.New(dir)
				require.NoError(t, err)
				w := checkInvariants(t, dir, 0)
				if transition {
					require.Equal(t, lifecycle.Drowsy, w.rec.CurrentState)
					require.Equal(t, before.TransitionSeq+1, w.rec.TransitionSeq)
				}
				if !transition {
					require.Equal(t, lifecycle.Wake, w.rec.CurrentState)
					require.Equal(t, before.TransitionSeq, w.rec.TransitionSeq)
				}
				// And carries on.
				_, err = m2.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
				require.NoError(t, err)
				_, err = m2.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(t, err)
				require.NoError(t, m2.Close())
				checkInvariants(t, dir, 0)
			})
		}
	}
}

// TestRecoveryRollsForward writes by hand what a crash between the log
// fsync and the rename leaves: a log line one transition ahead of the state.
func TestRecoveryRollsForward(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantState lifecycle.State
		wantSeq   int64
	}{
		{"next seq from current state", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":4}`, lifecycle.Sleep, 4},
		{"seq already applied", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":3}`, lifecycle.Drowsy, 3},
		{"from does not match", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"SLEEP","to":"HIBERNATION","trigger":"sleep_cycle_done","seq":4}`, lifecycle.Drowsy, 3},
		{"gap in seq", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":6}`, lifecycle.Drowsy, 3},
		{"python line without seq", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min"}`, lifecycle.Drowsy, 3},
		{"torn line", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_trans`, lifecycle.Drowsy, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := lifecycle.New(dir, lifecycle.WithClock(func() time.Time { return t0 }))
			require.NoError(t, err)
			for _, e := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh, lifecycle.Idle5Min} {
				_, err := m.Dispatch(e, lifecycle.Guards{})
				require.NoError(t, err)
			}
			require.NoError(t, m.Close())
			appendRaw(t, filepath.Join(dir, "logs", lifecycle.LogFileName(t0)), tt.line+"\n")

			m2, err := lifecycle.New(dir)
			require.NoError(t, err)
			defer m2.Close()
			rec, err := m2.Snapshot()
			require.NoError(t, err)
			require.Equal(t, tt.wantState, rec.CurrentState)
			require.Equal(t, tt.wantSeq, rec.TransitionSeq)
			if tt.wantSeq == 4 {
				require.Equal(t, "2026-11-25T10:00:00+00:00", lifecycle.FormatTimestamp(rec.SinceTS))
			}
		})
	}
}

func appendRaw(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestLostRenamesAreReplayed: a transition syncs its log line but not the
// directory after its rename, so a power loss may bring back any state file
// written since the last directory sync. Whichever comes back, the next
// Machine must rebuild the last record from the log, byte for byte.
func TestLostRenamesAreReplayed(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m, err := lifecycle.New(dir, lifecycle.WithClock(stepClock()))
	require.NoError(t, err)
	// A write without a transition syncs the directory: the durable point.
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	var versions [][]byte
	read := func() {
		data, err := os.ReadFile(state)
		require.NoError(t, err)
		versions = append(versions, data)
	}
	read()
	for _, s := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.HeartbeatRefresh, lifecycle.Guards{}},
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.RequestArrived, lifecycle.Guards{}},
		{lifecycle.Idle5Min, lifecycle.Guards{}},
	} {
		_, err := m.Dispatch(s.ev, s.g)
		require.NoError(t, err)
		read()
	}
	require.NoError(t, m.Close())
	final := versions[len(versions)-1]

	for j, old := range versions[:len(versions)-1] {
		t.Run(fmt.Sprintf("back to version %d", j), func(t *testing.T) {
			require.NoError(t, os.WriteFile(state, old, 0o600))
			m, err := lifecycle.New(dir)
			require.NoError(t, err)
			require.NoError(t, m.Close())
			got, err := os.ReadFile(state)
			require.NoError(t, err)
			require.Equal(t, string(final), string(got))
			checkInvariants(t, dir, 0)
		})
	}
}

// TestStaleTempFilesRemoved: a crash between creating the temporary state
// file and renaming it leaves the temporary file; the next Machine removes
// it, and only it.
func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+lifecycle.DefaultStateFile+"8834311")
	other := filepath.Join(dir, "."+lifecycle.DefaultStateFile+".bak")
	for _, p := range []string{stale, other} {
		require.NoError(t, os.WriteFile(p, []byte("{"), 0o600))
	}
	newMachine(t, dir)
	_, err := os.Stat(stale)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(other)
	require.NoError(t, err, "a file that is not a temporary state file stays")
}
