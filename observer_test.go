package lifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// capture is a slog.Handler that keeps every record.
type capture struct {
	mu   sync.Mutex
	recs []captured
}

type captured struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, captured{r.Level, r.Message, attrs})
	return nil
}

// find returns the records with message msg.
func (c *capture) find(msg string) []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []captured
	for _, r := range c.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestObserverSeesEachTransition: each transition, and nothing else, is
// delivered before Dispatch returns, to every observer in the order they
// were added, with the values the files hold.
func TestObserverSeesEachTransition(t *testing.T) {
	dir := t.TempDir()
	var seen []lifecycle.Transition
	var order []string
	m := newMachine(t, dir, lifecycle.WithClock(stepClock()),
		lifecycle.WithObserver(func(tr lifecycle.Transition) {
			seen = append(seen, tr)
			order = append(order, fmt.Sprint("first ", tr.Seq))
		}),
		lifecycle.WithObserver(nil),
		lifecycle.WithObserver(func(tr lifecycle.Transition) { order = append(order, fmt.Sprint("second ", tr.Seq)) }))
	steps := []struct {
		ev       lifecycle.Event
		g        lifecycle.Guards
		from, to lifecycle.State // from == to: no transition
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Wake, lifecycle.Drowsy},
		{lifecycle.Tick, lifecycle.Guards{}, lifecycle.Drowsy, lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy, lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Drowsy, lifecycle.Sleep},
		{lifecycle.HeartbeatRefresh, lifecycle.Guards{}, lifecycle.Sleep, lifecycle.Sleep},
		{lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Sleep, lifecycle.Wake},
		{lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, lifecycle.Wake},
	}
	var want []lifecycle.Transition
	for _, s := range steps {
		_, err := m.Dispatch(s.ev, s.g)
		require.NoError(t, err)
		rec, err := m.Snapshot()
		require.NoError(t, err)
		if s.from != s.to {
			want = append(want, lifecycle.Transition{From: s.from, To: s.to, Event: s.ev, Trigger: string(s.ev), Seq: rec.TransitionSeq, Time: rec.SinceTS})
		}
		require.Equal(t, want, seen, "after %s", s.ev)
	}
	require.Equal(t, []string{"first 1", "second 1", "first 2", "second 2", "first 3", "second 3"}, order)
	for i, line := range logLines(t, dir) {
		var l struct{ TS string }
		require.NoError(t, json.Unmarshal([]byte(line), &l))
		require.Equal(t, l.TS, lifecycle.FormatTimestamp(seen[i].Time), "Time is the log line's ts")
	}
}

// TestObserverOrderAcrossGoroutines: 8 goroutines dispatch on one Machine;
// the observer sees seq 1..N, each transition starting where the previous
// one ended, as the log records them. The observer appends without a lock:
// the race detector checks that it is never called concurrently.
func TestObserverOrderAcrossGoroutines(t *testing.T) {
	dir := t.TempDir()
	var seen []lifecycle.Transition
	m := newMachine(t, dir, lifecycle.WithObserver(func(tr lifecycle.Transition) { seen = append(seen, tr) }))
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				ev := lifecycle.Idle5Min
				if (g+i)%2 == 1 {
					ev = lifecycle.HeartbeatRefresh
				}
				_, err := m.Dispatch(ev, lifecycle.Guards{})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.NotZero(t, rec.TransitionSeq)
	require.Len(t, seen, int(rec.TransitionSeq), "every transition is delivered before the last Dispatch returns")
	lines := logLines(t, dir)
	require.Len(t, lines, len(seen))
	prev := lifecycle.Wake
	for i, tr := range seen {
		require.Equal(t, int64(i+1), tr.Seq)
		require.Equal(t, prev, tr.From, "seq %d", tr.Seq)
		prev = tr.To
		var l struct{ From, To, Trigger string }
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &l))
		require.Equal(t, [3]string{string(tr.From), string(tr.To), string(tr.Event)}, [3]string{l.From, l.To, l.Trigger})
	}
	require.Equal(t, rec.CurrentState, prev)
}

// TestObserverReentrantDispatch: an observer that dispatches (and updates)
// on its own Machine does not deadlock; its transition is delivered after
// the one it reacted to, before the outer Dispatch returns.
func TestObserverReentrantDispatch(t *testing.T) {
	dir := t.TempDir()
	var m *lifecycle.Machine
	var seen []lifecycle.Transition
	var inner []lifecycle.State
	var innerErrs []error
	m = newMachine(t, dir, lifecycle.WithObserver(func(tr lifecycle.Transition) {
		seen = append(seen, tr)
		if tr.To != lifecycle.Drowsy {
			return
		}
		// Entering DROWSY: note it, then wake straight up.
		_, err := m.Update(func(r *lifecycle.Record) error {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "dozed", Value: json.RawMessage(fmt.Sprint(tr.Seq))})
			return nil
		})
		innerErrs = append(innerErrs, err)
		state, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
		inner = append(inner, state)
		innerErrs = append(innerErrs, err)
		require.Len(t, seen, int(tr.Seq), "the inner transition waits for this observer to return")
	}))
	state, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, state, "Dispatch returns the state its own event led to")
	require.Equal(t, []error{nil, nil}, innerErrs)
	require.Equal(t, []lifecycle.State{lifecycle.Wake}, inner)
	require.Len(t, seen, 2)
	require.Equal(t, lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Seq: 1},
		lifecycle.Transition{From: seen[0].From, To: seen[0].To, Event: seen[0].Event, Seq: seen[0].Seq})
	require.Equal(t, lifecycle.Transition{From: lifecycle.Drowsy, To: lifecycle.Wake, Event: lifecycle.HeartbeatRefresh, Seq: 2},
		lifecycle.Transition{From: seen[1].From, To: seen[1].To, Event: seen[1].Event, Seq: seen[1].Seq})
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, rec.CurrentState)
	require.Equal(t, int64(2), rec.TransitionSeq)
	require.Equal(t, []lifecycle.Field{{Key: "dozed", Value: json.RawMessage("1")}}, rec.Extra)
}

// TestObserverPanic: a panicking observer is recovered and logged; the
// dispatch succeeds, the files hold the transition, and the other observers
// and later transitions are still delivered.
func TestObserverPanic(t *testing.T) {
	dir := t.TempDir()
	logs := &capture{}
	var seen []int64
	m := newMachine(t, dir, lifecycle.WithLogger(slog.New(logs)),
		lifecycle.WithObserver(func(tr lifecycle.Transition) {
			if tr.Seq == 1 {
				panic("observer bug")
			}
		}),
		lifecycle.WithObserver(func(tr lifecycle.Transition) { seen = append(seen, tr.Seq) }))
	state, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, state)
	state, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, state)
	require.Equal(t, []int64{1, 2}, seen)

	panics := logs.find("lifecycle observer panicked")
	require.Len(t, panics, 1)
	require.Equal(t, slog.LevelError, panics[0].level)
	require.Equal(t, "observer bug", panics[0].attrs["panic"])
	require.Equal(t, "1", panics[0].attrs["seq"])
	require.Equal(t, "WAKE", panics[0].attrs["from"])
	require.Equal(t, "DROWSY", panics[0].attrs["to"])
	require.Contains(t, panics[0].attrs["stack"], "observer_test.go")

	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, rec.CurrentState)
	require.Equal(t, int64(2), rec.TransitionSeq)
	require.Len(t, logLines(t, dir), 2)
}

// TestObserverGoexit: an observer that ends its goroutine (as t.FailNow
// does) loses that goroutine's Dispatch, not later deliveries.
func TestObserverGoexit(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var seen []int64
	m := newMachine(t, dir, lifecycle.WithObserver(func(tr lifecycle.Transition) {
		mu.Lock()
		seen = append(seen, tr.Seq)
		mu.Unlock()
		if tr.Seq == 1 {
			runtime.Goexit()
		}
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		panic("unreachable: the observer ended this goroutine")
	}()
	<-done
	state, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, state)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int64{1, 2}, seen)
}

// TestObserverNotCalled: no delivery for a dispatch that fails, for one that
// makes no transition, or for a transition recovery rolls forward.
func TestObserverNotCalled(t *testing.T) {
	var calls int
	observe := lifecycle.WithObserver(func(lifecycle.Transition) { calls++ })

	t.Run("corrupt state file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, lifecycle.DefaultStateFile), []byte("{"), 0o600))
		m := newMachine(t, dir, observe)
		_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		require.ErrorIs(t, err, lifecycle.ErrCorruptState)
		require.Zero(t, calls)
	})
	t.Run("unknown event", func(t *testing.T) {
		m := newMachine(t, t.TempDir(), observe)
		_, err := m.Dispatch(forceSleep, lifecycle.Guards{})
		require.ErrorIs(t, err, lifecycle.ErrUnknownEvent)
		require.Zero(t, calls)
	})
	t.Run("no transition", func(t *testing.T) {
		m := newMachine(t, t.TempDir(), observe)
		for _, ev := range []lifecycle.Event{lifecycle.Tick, lifecycle.RequestArrived, lifecycle.Idle30Min} {
			_, err := m.Dispatch(ev, lifecycle.Guards{SleepEligible: true})
			require.NoError(t, err)
		}
		require.Zero(t, calls)
	})
	t.Run("recovery", func(t *testing.T) {
		dir := t.TempDir()
		crashedDispatch(t, dir, lifecycle.Idle5Min, lifecycle.Drowsy)
		var seen []lifecycle.Transition
		m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0.Add(time.Minute) }),
			lifecycle.WithObserver(func(tr lifecycle.Transition) { seen = append(seen, tr) }))
		rec, err := m.Snapshot()
		require.NoError(t, err)
		require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
		require.Len(t, logLines(t, dir), 1, "the owed line appended")
		require.Empty(t, seen)
		_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
		require.NoError(t, err)
		require.Len(t, seen, 1)
		require.Equal(t, lifecycle.Drowsy, seen[0].From)
		require.Equal(t, int64(2), seen[0].Seq)
	})
}

// TestLoggerRecords: transitions, a log line restored after a crash and a
// rotation are all reported through the logger WithLogger gives.
func TestLoggerRecords(t *testing.T) {
	dir := t.TempDir()
	crashedDispatch(t, dir, lifecycle.Idle5Min, lifecycle.Drowsy)
	old := filepath.Join(dir, "logs", lifecycle.LogFileName(t0.AddDate(0, -2, 0)))
	require.NoError(t, os.MkdirAll(filepath.Dir(old), 0o700))
	require.NoError(t, os.WriteFile(old, []byte(`{"ts":"2026-09-25T10:00:00+00:00","event":"wrapper_event"}`+"\n"), 0o600))
	logs := &capture{}
	m := newMachine(t, dir, lifecycle.WithLogger(slog.New(logs)), lifecycle.WithClock(func() time.Time { return t0.Add(time.Minute) }))

	restored := logs.find("lifecycle log line restored from the state file")
	require.Len(t, restored, 1)
	require.Equal(t, map[string]string{"state": m.StatePath(), "seq": "1", "from": "WAKE", "to": "DROWSY", "event": "idle_5min"}, restored[0].attrs)
	rotated := logs.find("lifecycle log rotated")
	require.Len(t, rotated, 1)
	require.Equal(t, map[string]string{"file": old}, rotated[0].attrs)
	require.FileExists(t, old+".gz")

	_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	moved := logs.find("lifecycle transition")
	require.Len(t, moved, 1)
	require.Equal(t, slog.LevelInfo, moved[0].level)
	require.Equal(t, map[string]string{"from": "DROWSY", "to": "WAKE", "event": "heartbeat_refresh", "seq": "2"}, moved[0].attrs)
	for _, r := range logs.recs {
		require.NotEqual(t, slog.LevelError, r.level, "%s %v", r.msg, r.attrs)
	}
}
