package daemon_test

import (
	"slices"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// With WithReasons the daemon's transitions carry the reasons the function
// gives, here the Python daemon's; without it, the event names.
func TestRunReasons(t *testing.T) {
	tests := []struct {
		name    string
		opts    []daemon.Option
		boot    []string // transitions of the boot from HIBERNATION with a wake signal
		day     []string // transitions of an idle day, to HIBERNATION
		dayLine string   // the narration of the first move of the day
	}{
		{"default", nil,
			[]string{"HIBERNATION->WAKE wake_signal"},
			[]string{"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->HIBERNATION sleep_cycle_done"},
			"WAKE -> DROWSY (idle_5min)"},
		{"nil function", []daemon.Option{daemon.WithReasons(nil)},
			[]string{"HIBERNATION->WAKE wake_signal"},
			[]string{"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->HIBERNATION sleep_cycle_done"},
			"WAKE -> DROWSY (idle_5min)"},
		{"Python's reasons", []daemon.Option{daemon.WithReasons(lifecycle.PythonReason)},
			[]string{"HIBERNATION->WAKE wake_on_signal_consumed"},
			[]string{"WAKE->DROWSY drowsy_on_idle_5min", "DROWSY->SLEEP sleep_on_idle_30min", "SLEEP->HIBERNATION hibernate_on_sleep_cycle_done"},
			"WAKE -> DROWSY (drowsy_on_idle_5min)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dispatchAll(t, dir, hibernated...)
			require.NoError(t, lifecycle.WriteWakeSignal(dir))
			before := len(transitions(t, dir))

			var s steps
			opts := append(slices.Clone(fast), daemon.WithSleepCycle(s.cycle(1)))
			r := startDaemon(t, dir, append(opts, tt.opts...)...)
			r.waitFor(t, "boot HIBERNATION")
			r.waitFor(t, tt.dayLine)
			r.waitFor(t, "exit: HIBERNATION")
			o, err := r.end(t)
			require.NoError(t, err)
			require.Equal(t, daemon.Hibernated, o)
			require.Equal(t, append(slices.Clone(tt.boot), tt.day...), transitions(t, dir)[before:])
		})
	}
}

// A reason function that gives a reason the Machine refuses stops the
// daemon with the Machine's error, and nothing is written for it.
func TestRunBadReason(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Millisecond, Sleep: time.Hour}),
		daemon.WithReasons(func(lifecycle.Event) string { return "two\nlines" }))
	o, err := r.end(t)
	require.ErrorIs(t, err, lifecycle.ErrInvalidReason)
	require.Zero(t, o)
	require.Empty(t, transitions(t, dir))
}
