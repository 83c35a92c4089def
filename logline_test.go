//go:build unix

package lifecycle_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// oddKeysLog is a day of the log whose lines spell keys in other cases:
// "SEQ", "Seq", "TS", "Event". Keys are exact, as Python's json reads
// them: "SEQ" is not the seq, a line with "TS" and no "ts" has no time.
func oddKeysLog(t *testing.T, logDir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(logDir, 0o700))
	lines := []string{
		`{"ts":"2026-11-25T08:00:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`,
		`{"ts":"2026-11-25T08:10:00+00:00","event":"state_transition","from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","SEQ":2}`,
		`{"ts":"2026-11-25T08:20:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":2,"Seq":50}`,
		`{"TS":"2026-11-25T08:30:00+00:00","event":"state_transition","from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","seq":3}`,
		`{"ts":"2026-11-25T08:40:00+00:00","Event":"state_transition","from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","seq":3}`,
	}
	require.NoError(t, os.WriteFile(filepath.Join(logDir, "lifecycle-events-2026-11-25.jsonl"),
		[]byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

// TestLogKeysAreExact: every reader of the log reads the same lines the
// same way, whatever case other keys are spelt in: ReadLog, History (and
// so StateAt), Watch, and a Machine's recovery, both when the state file
// is missing (a reset, which scans the log for its highest seq) and when
// it names its last transition (which is looked for in the log).
func TestLogKeysAreExact(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	second := lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Trigger: "idle_5min", Seq: 2,
		Time: time.Date(2026, 11, 25, 8, 20, 0, 0, time.UTC)}

	t.Run("ReadLog", func(t *testing.T) {
		dir := t.TempDir()
		oddKeysLog(t, dir)
		st, err := lifecycle.ReadLog(dir, lifecycle.LogQuery{}, func(lifecycle.LogEntry) error { return nil })
		require.NoError(t, err)
		require.Equal(t, 3, st.Entries)
		require.Equal(t, 2, st.Malformed, `lines with "TS" or "Event" but no "ts" or "event"`)
	})

	t.Run("History", func(t *testing.T) {
		dir := t.TempDir()
		oddKeysLog(t, dir)
		var got []lifecycle.Transition
		st, err := lifecycle.History{Dir: dir}.Timeline(time.Time{}, at, func(s lifecycle.Span) error {
			if s.Entered != nil {
				got = append(got, *s.Entered)
			}
			return nil
		})
		require.NoError(t, err)
		require.Zero(t, st.Unordered)
		require.Len(t, got, 3)
		require.Equal(t, []int64{1, 0, 2}, []int64{got[0].Seq, got[1].Seq, got[2].Seq}, `"SEQ" is no seq`)
		require.Equal(t, second, got[2])
		m, err := lifecycle.StateAt(dir, at)
		require.NoError(t, err)
		require.Equal(t, second, *m.Entered)
	})

	t.Run("reset", func(t *testing.T) {
		dir := t.TempDir()
		oddKeysLog(t, filepath.Join(dir, lifecycle.DefaultLogDir))
		requireNextSeq(t, dir, at, lifecycle.Idle5Min, 3)
	})

	t.Run("recovery", func(t *testing.T) {
		dir := t.TempDir()
		oddKeysLog(t, filepath.Join(dir, lifecycle.DefaultLogDir))
		rec := lifecycle.DefaultRecord(second.Time)
		rec.CurrentState, rec.TransitionSeq, rec.LastTransition = lifecycle.Drowsy, 2, &second
		require.NoError(t, lifecycle.SaveState(filepath.Join(dir, lifecycle.DefaultStateFile), rec))
		requireNextSeq(t, dir, at, lifecycle.HeartbeatRefresh, 3)
	})

	t.Run("Watch", func(t *testing.T) {
		dir := t.TempDir()
		oddKeysLog(t, filepath.Join(dir, lifecycle.DefaultLogDir))
		statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
		first := lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Trigger: "idle_5min", Seq: 1,
			Time: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
		rec := lifecycle.DefaultRecord(first.Time)
		rec.CurrentState, rec.SinceTS, rec.TransitionSeq, rec.LastTransition = lifecycle.Drowsy, first.Time, 1, &first
		require.NoError(t, lifecycle.SaveState(statePath, rec))
		ch, cancel := startWatch(t, dir, lifecycle.WatchPolling(time.Millisecond))
		defer cancel()
		_, errs := nextRecord(t, ch)
		require.Empty(t, errs)

		// A record two transitions on: the second comes from the log.
		third := lifecycle.Transition{From: lifecycle.Drowsy, To: lifecycle.Wake, Event: lifecycle.HeartbeatRefresh, Trigger: "heartbeat_refresh", Seq: 3, Time: at}
		rec.CurrentState, rec.SinceTS, rec.TransitionSeq, rec.LastTransition = lifecycle.Wake, at, 3, &third
		require.NoError(t, lifecycle.SaveState(statePath, rec))
		var got []lifecycle.Transition
		for {
			ev := nextEvent(t, ch)
			require.NotEqual(t, lifecycle.WatchError, ev.Kind, "%v", ev.Err)
			if ev.Kind == lifecycle.WatchRecord {
				break
			}
			got = append(got, ev.Transition)
		}
		require.Equal(t, []lifecycle.Transition{second, third}, got)
		stopWatch(t, cancel, ch)
	})
}

// requireNextSeq opens a Machine on dir, dispatches ev, which must move
// it, and requires that the transition take seq want.
func requireNextSeq(t *testing.T, dir string, at time.Time, ev lifecycle.Event, want int64) {
	t.Helper()
	m, err := lifecycle.New(dir, lifecycle.WithClock(func() time.Time { return at }))
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	_, err = m.DispatchContext(context.Background(), ev, lifecycle.Guards{})
	require.NoError(t, err)
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.NotNil(t, rec.LastTransition)
	require.Equal(t, ev, rec.LastTransition.Event)
	require.Equal(t, want, rec.TransitionSeq)
}

// TestLastTransitionKeysAreExact: the state file's last_transition is read
// with exact keys too: "SEQ" is not its seq.
func TestLastTransitionKeysAreExact(t *testing.T) {
	const head = `{"current_state":"DROWSY","since_ts":"2026-11-25T08:00:00+00:00","last_activity_ts":"2026-11-25T08:00:00+00:00",` +
		`"wrapper_event_seq":0,"sleep_cycle_progress":null,"quarantine":null,"shadow_run":false,"transition_seq":2,` +
		`"last_transition":{"ts":"2026-11-25T08:00:00+00:00","from":"WAKE","to":"DROWSY","trigger":"idle_5min"`
	for _, tc := range []struct {
		name, tail string
		seq        int64
		err        string
	}{
		{"seq", `,"seq":2}}`, 2, ""},
		{"seq and SEQ", `,"seq":2,"SEQ":9}}`, 2, ""},
		{"SEQ before seq", `,"SEQ":9,"seq":2}}`, 2, ""},
		{"Seq alone", `,"Seq":2}}`, 0, "seq: missing"},
		{"TRIGGER", `,"seq":2,"TRIGGER":"x","Trigger":null}}`, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(path, []byte(head+tc.tail), 0o600))
			rec, err := lifecycle.LoadState(path)
			if tc.err != "" {
				require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.seq, rec.LastTransition.Seq)
			require.Equal(t, lifecycle.Idle5Min, rec.LastTransition.Event)
		})
	}
}
