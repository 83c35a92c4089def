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
// agree. A transition writes the state file first, its log line after, so
// it has happened once its rename is done: a new Machine appends the line
// the log may lack. Before the rename, it has not happened.
func TestFailureAtEveryStep(t *testing.T) {
	steps := []struct {
		step string
		// Which dispatches reach the step (only a transition has a log
		// line), and whether a transition stopped there has happened.
		byTransition, byActivity, happened bool
	}{
		{"temp write", true, true, false},
		{"temp fsync", true, true, false},
		{"rename", true, true, true},
		{"dir fsync", true, true, true},
		{"log write", true, false, true},
		{"log fsync", true, false, true},
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
				stateBefore, err := os.ReadFile(filepath.Join(dir, lifecycle.DefaultStateFile))
				require.NoError(t, err)

				// A new Machine recovers, without touching the state file.
				m2, err := lifecycle.New(dir)
				require.NoError(t, err)
				w := checkInvariants(t, dir, 0)
				stateAfter, err := os.ReadFile(filepath.Join(dir, lifecycle.DefaultStateFile))
				require.NoError(t, err)
				require.Equal(t, string(stateBefore), string(stateAfter))
				switch {
				case transition && tt.happened:
					require.Equal(t, lifecycle.Drowsy, w.rec.CurrentState)
					require.Equal(t, before.TransitionSeq+1, w.rec.TransitionSeq)
				case transition:
					require.Equal(t, lifecycle.Wake, w.rec.CurrentState)
					require.Equal(t, before.TransitionSeq, w.rec.TransitionSeq)
				case tt.happened:
					require.Equal(t, before.WrapperEventSeq+1, w.rec.WrapperEventSeq)
				default:
					require.Equal(t, before.WrapperEventSeq, w.rec.WrapperEventSeq)
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

// TestLoggedLinesAreNeverReplayed: a state_transition line the state file
// did not take (written by hand, by a tool, or by an earlier version that
// logged first) moves nothing: the record stays as its writer left it, and
// the next transition takes a seq above the line's, so seqs stay unique.
func TestLoggedLinesAreNeverReplayed(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantSeq int64 // of the next transition
	}{
		{"next seq from current state", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":4}`, 5},
		{"seq already taken", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":3}`, 4},
		{"gap in seq", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":6}`, 7},
		{"python line without seq", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min"}`, 4},
		{"torn line", `{"ts":"2026-11-25T10:00:00+00:00","event":"state_trans`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, lifecycle.DefaultStateFile)
			m, err := lifecycle.New(dir, lifecycle.WithClock(func() time.Time { return t0 }))
			require.NoError(t, err)
			for _, e := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh, lifecycle.Idle5Min} {
				_, err := m.Dispatch(e, lifecycle.Guards{})
				require.NoError(t, err)
			}
			require.NoError(t, m.Close())
			appendRaw(t, filepath.Join(dir, "logs", lifecycle.LogFileName(t0)), tt.line+"\n")
			before, err := os.ReadFile(state)
			require.NoError(t, err)

			m2, err := lifecycle.New(dir, lifecycle.WithClock(func() time.Time { return t0 }))
			require.NoError(t, err)
			defer m2.Close()
			after, err := os.ReadFile(state)
			require.NoError(t, err)
			require.Equal(t, string(before), string(after), "recovery leaves the record as it is")
			_, err = m2.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
			rec, err := m2.Snapshot()
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, rec.CurrentState)
			require.Equal(t, tt.wantSeq, rec.TransitionSeq)
			require.Equal(t, tt.wantSeq, rec.LastTransition.Seq)
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
