package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// TestNilOptions: an option given nil (or a nil Option) means the default.
// Neither New nor a dispatch that logs and delivers a transition panics, and
// the Machine works as one made without the option.
func TestNilOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []lifecycle.Option
	}{
		{"nil Option", []lifecycle.Option{nil}},
		{"WithClock(nil)", []lifecycle.Option{lifecycle.WithClock(nil)}},
		{"WithLogger(nil)", []lifecycle.Option{lifecycle.WithLogger(nil)}},
		{"WithObserver(nil)", []lifecycle.Option{lifecycle.WithObserver(nil)}},
		{"WithTable(nil)", []lifecycle.Option{lifecycle.WithTable(nil)}},
		{"a clock, then WithClock(nil)", []lifecycle.Option{
			lifecycle.WithClock(func() time.Time { return t0 }), lifecycle.WithClock(nil)}},
		{"all of them", []lifecycle.Option{nil, lifecycle.WithClock(nil), lifecycle.WithLogger(nil),
			lifecycle.WithObserver(nil), lifecycle.WithTable(nil), nil}},
	}
	steps := []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
		to lifecycle.State
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, lifecycle.Hibernation},
		{lifecycle.SleepEligible, lifecycle.Guards{}, lifecycle.Hibernation}, // no row: the logger's debug line
		{lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Shadow run, so entering HIBERNATION also writes the warning.
			opts := append([]lifecycle.Option{lifecycle.WithShadowRun(true)}, tt.opts...)
			start := time.Now()
			var m *lifecycle.Machine
			var err error
			require.NotPanics(t, func() { m, err = lifecycle.New(dir, opts...) })
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close()) })
			for _, s := range steps {
				var got lifecycle.State
				require.NotPanics(t, func() { got, err = m.Dispatch(s.ev, s.g) }, "dispatch %s", s.ev)
				require.NoError(t, err, "dispatch %s", s.ev)
				require.Equal(t, s.to, got, "dispatch %s", s.ev)
			}
			end := time.Now()
			rec, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, int64(4), rec.TransitionSeq)
			// The default clock is the real one.
			require.False(t, rec.SinceTS.Before(start.Truncate(time.Microsecond)), "since_ts %v before %v", rec.SinceTS, start)
			require.False(t, rec.SinceTS.After(end), "since_ts %v after %v", rec.SinceTS, end)
			require.Len(t, logLines(t, dir), 5, "four transitions and the shadow run warning")
		})
	}
}

// TestNilWatchOptions: a nil WatchOption, and WatchTable(nil), mean the
// defaults.
func TestNilWatchOptions(t *testing.T) {
	for _, opts := range [][]lifecycle.WatchOption{{nil}, {lifecycle.WatchTable(nil)}, {nil, lifecycle.WatchPolling(time.Millisecond), nil}} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		var events <-chan lifecycle.WatchEvent
		var err error
		require.NotPanics(t, func() { events, err = lifecycle.Watch(ctx, dir, opts...) })
		require.NoError(t, err)
		ev := <-events
		require.Equal(t, lifecycle.WatchRecord, ev.Kind)
		require.Equal(t, lifecycle.Wake, ev.Record.CurrentState)
		cancel()
		for range events {
		}
	}
}
