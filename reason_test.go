//go:build unix

package lifecycle_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// pythonReasonLines are the state_transition lines the Python dispatch
// appends for an idle_5min from WAKE at t0, one reason each (see
// testdata/python/reason_lines.py).
func pythonReasonLines(t *testing.T) []string {
	t.Helper()
	data := stRead(t, filepath.Join(pyDir, "reason_lines.jsonl"))
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestReasonFixtureIsPythons: the fixture is what Python's json module
// writes today for those reasons.
func TestReasonFixtureIsPythons(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the committed fixture stands for its output")
	}
	out, err := exec.Command(py, filepath.Join(pyDir, "reason_lines.py")).Output()
	require.NoError(t, err)
	require.Equal(t, string(stRead(t, filepath.Join(pyDir, "reason_lines.jsonl"))), string(out))
}

// TestDispatchReasonLineIsPythons: a dispatch given a reason appends the
// bytes the Python dispatch given that reason appends, the "seq" aside,
// and the state file's last_transition says the same trigger.
func TestDispatchReasonLineIsPythons(t *testing.T) {
	for _, want := range pythonReasonLines(t) {
		var line struct{ Trigger string }
		require.NoError(t, json.Unmarshal([]byte(want), &line))
		name := line.Trigger
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var seen []lifecycle.Transition
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }),
				lifecycle.WithObserver(func(tr lifecycle.Transition) { seen = append(seen, tr) }))
			st, err := m.DispatchReason(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{}, line.Trigger)
			require.NoError(t, err)
			require.Equal(t, lifecycle.Drowsy, st)
			require.Equal(t, []string{strings.TrimSuffix(want, "}") + `,"seq":1}`}, logLines(t, dir))

			_, trigger, _ := strings.Cut(want, `"trigger":`)
			state := string(stRead(t, filepath.Join(dir, lifecycle.DefaultStateFile)))
			require.Contains(t, state, `"trigger": `+strings.TrimSuffix(trigger, "}")+",")
			rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)
			require.Equal(t, line.Trigger, rec.LastTransition.Trigger)

			require.Len(t, seen, 1)
			require.Equal(t, lifecycle.Idle5Min, seen[0].Event)
			require.Equal(t, line.Trigger, seen[0].Trigger)
		})
	}
}

// TestDispatchReasonDefault: without a reason (Dispatch, or an empty one)
// the trigger is the event's name, as it always was.
func TestDispatchReasonDefault(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dispatch func(m *lifecycle.Machine) (lifecycle.State, error)
	}{
		{"Dispatch", func(m *lifecycle.Machine) (lifecycle.State, error) {
			return m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		}},
		{"empty reason", func(m *lifecycle.Machine) (lifecycle.State, error) {
			return m.DispatchReason(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{}, "")
		}},
		{"empty reason, guards func", func(m *lifecycle.Machine) (lifecycle.State, error) {
			return m.DispatchReasonFunc(context.Background(), lifecycle.Idle5Min, "",
				func(lifecycle.Record) lifecycle.Guards { return lifecycle.Guards{} })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var seen []lifecycle.Transition
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }),
				lifecycle.WithObserver(func(tr lifecycle.Transition) { seen = append(seen, tr) }))
			st, err := tc.dispatch(m)
			require.NoError(t, err)
			require.Equal(t, lifecycle.Drowsy, st)
			require.Equal(t, []string{`{"ts":"2026-11-25T22:45:32.123456+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`},
				logLines(t, dir))
			require.Len(t, seen, 1)
			require.Equal(t, "idle_5min", seen[0].Trigger)
		})
	}
}

// TestDispatchReasonFuncGuards: DispatchReasonFunc computes the guards from
// the record read under the lock, and writes the reason.
func TestDispatchReasonFuncGuards(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
	_, err := m.DispatchReason(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{}, "drowsy_on_idle_5min")
	require.NoError(t, err)
	var saw lifecycle.State
	st, err := m.DispatchReasonFunc(context.Background(), lifecycle.Idle30Min, "sleep_on_idle_30min",
		func(r lifecycle.Record) lifecycle.Guards {
			saw = r.CurrentState
			return lifecycle.Guards{SleepEligible: true}
		})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, saw)
	require.Equal(t, lifecycle.Sleep, st)
	lines := logLines(t, dir)
	require.Len(t, lines, 2)
	require.Contains(t, lines[1], `"from":"DROWSY","to":"SLEEP","trigger":"sleep_on_idle_30min","seq":2}`)
}

// TestDispatchReasonRefused: a reason that is not a short line of
// printable UTF-8 is refused before anything is written.
func TestDispatchReasonRefused(t *testing.T) {
	for _, tc := range []struct {
		name, reason, want string
	}{
		{"invalid UTF-8", "bad\xffreason", "UTF-8"},
		{"newline", "two\nlines", "printable"},
		{"tab", "a\tb", "printable"},
		{"NUL", "a\x00b", "printable"},
		{"DEL", "a\x7fb", "printable"},
		{"line separator", "a\u2028b", "printable"},
		{"bidi override", "a\u202eb", "printable"},
		{"too long", strings.Repeat("x", 257), "256"},
		{"too long in bytes", strings.Repeat("é", 129), "256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
			for _, call := range []func() (lifecycle.State, error){
				func() (lifecycle.State, error) {
					return m.DispatchReason(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{}, tc.reason)
				},
				func() (lifecycle.State, error) {
					return m.DispatchReasonFunc(context.Background(), lifecycle.RequestArrived, tc.reason,
						func(lifecycle.Record) lifecycle.Guards { panic("guards asked for a refused reason") })
				},
			} {
				st, err := call()
				require.ErrorIs(t, err, lifecycle.ErrInvalidReason)
				require.ErrorContains(t, err, tc.want)
				require.Empty(t, st)
			}
			_, err := os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.ErrorIs(t, err, os.ErrNotExist)
			require.Empty(t, logLines(t, dir))
		})
	}
}

// TestReasonTriggerReadsBack: History, StateAt and Watch read a line whose
// trigger is a reason (a Go or a Python dispatch's) like any other: the
// states and times as logged, the reason as the trigger.
func TestReasonTriggerReadsBack(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithClock(stepClock()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := lifecycle.Watch(ctx, dir, lifecycle.WatchPolling(5*time.Millisecond))
	require.NoError(t, err)
	first := <-events
	require.Equal(t, lifecycle.WatchRecord, first.Kind)

	steps := []struct {
		ev     lifecycle.Event
		g      lifecycle.Guards
		reason string
		to     lifecycle.State
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}, "drowsy_on_idle_5min", lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, "moon \U0001F319 \"sleep\"", lifecycle.Sleep},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, "", lifecycle.Hibernation},
	}
	for _, s := range steps {
		_, err := m.DispatchReason(ctx, s.ev, s.g, s.reason)
		require.NoError(t, err)
	}
	trigger := func(i int) string {
		if steps[i].reason == "" {
			return string(steps[i].ev)
		}
		return steps[i].reason
	}

	var spans []lifecycle.Span
	_, err = lifecycle.History{Dir: filepath.Join(dir, "logs")}.Timeline(time.Time{}, t0.Add(time.Hour), func(s lifecycle.Span) error {
		spans = append(spans, s)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, spans, 3)
	for i, s := range spans {
		require.Equal(t, steps[i].to, s.State)
		require.Equal(t, trigger(i), s.Entered.Trigger)
		require.Equal(t, int64(i+1), s.Entered.Seq)
	}

	mo, err := lifecycle.StateAt(filepath.Join(dir, "logs"), spans[1].Start)
	require.NoError(t, err)
	require.Equal(t, lifecycle.Sleep, mo.State)
	require.Equal(t, trigger(1), mo.Entered.Trigger)

	var got []lifecycle.Transition
	for len(got) < len(steps) {
		select {
		case ev := <-events:
			require.NotEqual(t, lifecycle.WatchError, ev.Kind, "%v", ev.Err)
			if ev.Kind == lifecycle.WatchTransition {
				got = append(got, ev.Transition)
			}
		case <-ctx.Done():
			t.Fatalf("watch delivered %d transitions of %d", len(got), len(steps))
		}
	}
	for i, tr := range got {
		require.Equal(t, steps[i].to, tr.To)
		require.Equal(t, trigger(i), tr.Trigger)
	}
}

// TestPythonReason: the reasons the Python daemon's loop gives its
// dispatches; the event's name (empty) where it gives none.
func TestPythonReason(t *testing.T) {
	want := map[lifecycle.Event]string{
		lifecycle.HeartbeatRefresh: "heartbeat_refresh_active_wrapper",
		lifecycle.Idle5Min:         "drowsy_on_idle_5min",
		lifecycle.Idle30Min:        "sleep_on_idle_30min",
		lifecycle.SleepCycleDone:   "hibernate_on_sleep_cycle_done",
		lifecycle.WakeSignal:       "wake_on_signal_consumed",
	}
	for _, ev := range append(lifecycle.Events(), "not_an_event") {
		t.Run(string(ev), func(t *testing.T) {
			require.Equal(t, want[ev], lifecycle.PythonReason(ev))
		})
	}
}

// TestWithReasons: a Machine's reason function gives the reason of every
// dispatch that gives none; DispatchReason's own wins; nil is no function.
func TestWithReasons(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opt      lifecycle.Option
		dispatch func(m *lifecycle.Machine) error
		want     string
	}{
		{"Dispatch", lifecycle.WithReasons(lifecycle.PythonReason), func(m *lifecycle.Machine) error {
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			return err
		}, "drowsy_on_idle_5min"},
		{"DispatchContext", lifecycle.WithReasons(lifecycle.PythonReason), func(m *lifecycle.Machine) error {
			_, err := m.DispatchContext(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{})
			return err
		}, "drowsy_on_idle_5min"},
		{"DispatchReason's own", lifecycle.WithReasons(lifecycle.PythonReason), func(m *lifecycle.Machine) error {
			_, err := m.DispatchReason(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{}, "mine")
			return err
		}, "mine"},
		{"an event without one", lifecycle.WithReasons(lifecycle.PythonReason), func(m *lifecycle.Machine) error {
			_, err := m.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
			if err == nil {
				_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			}
			return err
		}, "drowsy_on_idle_5min"},
		{"nil", lifecycle.WithReasons(nil), func(m *lifecycle.Machine) error {
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			return err
		}, "idle_5min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := newMachine(t, dir, tc.opt)
			require.NoError(t, tc.dispatch(m))
			lines := logLines(t, dir)
			require.Len(t, lines, 1)
			require.Contains(t, lines[0], `"trigger":`+strconvQuote(tc.want)+`,"seq":1}`)
		})
	}

	// A bad reason from the function is refused, nothing written.
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithReasons(func(lifecycle.Event) string { return "a\nb" }))
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrInvalidReason)
	require.Empty(t, logLines(t, dir))
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
