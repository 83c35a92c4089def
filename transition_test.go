package lifecycle_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

var allGuards = []lifecycle.Guards{
	{}, {SleepEligible: true}, {StillIdle: true}, {SleepEligible: true, StillIdle: true},
}

// TestComputeTransitionRows checks each row of the table, written out here
// independently of the package's own table.
func TestComputeTransitionRows(t *testing.T) {
	tests := []struct {
		from lifecycle.State
		ev   lifecycle.Event
		g    lifecycle.Guards
		to   lifecycle.State
	}{
		{lifecycle.Drowsy, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake},
		{lifecycle.Sleep, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake},
		{lifecycle.Hibernation, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake},
		{lifecycle.Wake, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy},
		{lifecycle.Drowsy, lifecycle.HeartbeatRefresh, lifecycle.Guards{}, lifecycle.Wake},
		{lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep},
		{lifecycle.Sleep, lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, lifecycle.Hibernation},
		{lifecycle.Hibernation, lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"/"+string(tt.ev), func(t *testing.T) {
			to, changed := lifecycle.ComputeTransition(tt.from, tt.ev, tt.g)
			require.True(t, changed)
			require.Equal(t, tt.to, to)
		})
	}
}

// expected is the table re-stated as a predicate, so the exhaustive test
// below does not read the package's table to judge the package.
func expected(from lifecycle.State, ev lifecycle.Event, g lifecycle.Guards) (lifecycle.State, bool) {
	switch {
	case ev == lifecycle.RequestArrived && from != lifecycle.Wake:
		return lifecycle.Wake, true
	case from == lifecycle.Wake && ev == lifecycle.Idle5Min:
		return lifecycle.Drowsy, true
	case from == lifecycle.Drowsy && ev == lifecycle.HeartbeatRefresh:
		return lifecycle.Wake, true
	case from == lifecycle.Drowsy && ev == lifecycle.Idle30Min && g.SleepEligible:
		return lifecycle.Sleep, true
	case from == lifecycle.Sleep && ev == lifecycle.SleepCycleDone && g.StillIdle:
		return lifecycle.Hibernation, true
	case from == lifecycle.Hibernation && ev == lifecycle.WakeSignal:
		return lifecycle.Wake, true
	}
	return from, false
}

// TestComputeTransitionExhaustive covers every (state, event, guards): the
// rows above move, everything else (guards that fail, self-targets such as
// request_arrived in WAKE, every other pair) is a no-op that keeps the state.
func TestComputeTransitionExhaustive(t *testing.T) {
	transitions := 0
	for _, s := range lifecycle.States() {
		for _, ev := range lifecycle.Events() {
			for _, g := range allGuards {
				wantTo, wantChanged := expected(s, ev, g)
				to, changed := lifecycle.ComputeTransition(s, ev, g)
				require.Equal(t, wantChanged, changed, "%s + %s %+v", s, ev, g)
				require.Equal(t, wantTo, to, "%s + %s %+v", s, ev, g)
				// The same names in other memory, as parsed from text,
				// take the path that compares bytes.
				to, changed = lifecycle.ComputeTransition(lifecycle.State(strings.Clone(string(s))),
					lifecycle.Event(strings.Clone(string(ev))), g)
				require.Equal(t, wantChanged, changed, "copies of %s + %s %+v", s, ev, g)
				require.Equal(t, wantTo, to, "copies of %s + %s %+v", s, ev, g)
				if changed {
					transitions++
				}
			}
		}
	}
	// 4 states x 9 events x 4 guard sets; 3+1+1+2+1+1 rows, times guard sets
	// that satisfy them: 3*4 + 4 + 4 + 2 + 2 + 4.
	require.Equal(t, 28, transitions)
	require.Len(t, lifecycle.States(), 4)
	require.Len(t, lifecycle.Events(), 9)
}

func TestComputeTransitionUnknownInput(t *testing.T) {
	to, changed := lifecycle.ComputeTransition("AWAKE", lifecycle.RequestArrived, lifecycle.Guards{})
	require.False(t, changed)
	require.Equal(t, lifecycle.State("AWAKE"), to)
	to, changed = lifecycle.ComputeTransition(lifecycle.Wake, "nap", lifecycle.Guards{})
	require.False(t, changed)
	require.Equal(t, lifecycle.Wake, to)
}

func TestComputeTransitionDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		lifecycle.ComputeTransition(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
		lifecycle.ComputeTransition(lifecycle.Hibernation, lifecycle.Tick, lifecycle.Guards{})
	})
	require.Zero(t, allocs)
}

func TestParse(t *testing.T) {
	for _, s := range []string{"WAKE", "DROWSY", "SLEEP", "HIBERNATION"} {
		got, err := lifecycle.ParseState(s)
		require.NoError(t, err)
		require.Equal(t, lifecycle.State(s), got)
	}
	for _, s := range []string{"", "wake", "AWAKE", "*", " WAKE"} {
		_, err := lifecycle.ParseState(s)
		require.ErrorIs(t, err, lifecycle.ErrUnknownState, "%q", s)
		require.Contains(t, err.Error(), "WAKE DROWSY SLEEP HIBERNATION")
	}
	// A state in the wrong case, or with stray spaces, is named.
	for s, want := range map[string]string{"wake": "WAKE", "Hibernation": "HIBERNATION", " SLEEP": "SLEEP", "drowsy\n": "DROWSY"} {
		_, err := lifecycle.ParseState(s)
		require.ErrorContains(t, err, fmt.Sprintf("did you mean %q?", want), "%q", s)
	}
	for _, s := range []string{"AWAKE", "", "*"} {
		_, err := lifecycle.ParseState(s)
		require.NotContains(t, err.Error(), "did you mean", "%q", s)
	}
	for s, want := range map[string]string{"TICK": "tick", "Idle_5min": "idle_5min"} {
		_, err := lifecycle.ParseEvent(s)
		require.ErrorContains(t, err, fmt.Sprintf("did you mean %q?", want), "%q", s)
	}
	for _, ev := range lifecycle.Events() {
		got, err := lifecycle.ParseEvent(string(ev))
		require.NoError(t, err)
		require.Equal(t, ev, got)
	}
	for _, s := range []string{"", "TICK", "idle_5_min", "nap"} {
		_, err := lifecycle.ParseEvent(s)
		require.True(t, errors.Is(err, lifecycle.ErrUnknownEvent), "%q", s)
		require.Contains(t, err.Error(), "heartbeat_refresh")
	}
}

func BenchmarkComputeTransition(b *testing.B) {
	cycle := []struct {
		from lifecycle.State
		ev   lifecycle.Event
	}{
		{lifecycle.Wake, lifecycle.Idle5Min}, {lifecycle.Drowsy, lifecycle.Idle30Min},
		{lifecycle.Sleep, lifecycle.SleepCycleDone}, {lifecycle.Hibernation, lifecycle.WakeSignal},
	}
	g := lifecycle.Guards{SleepEligible: true, StillIdle: true}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cycle[i&3]
		if _, ok := lifecycle.ComputeTransition(c.from, c.ev, g); !ok {
			b.Fatal("no transition")
		}
	}
}

// noTransition stands for ComputeTransition in BenchmarkCallOverhead: a
// call that the compiler may not inline and that does nothing.
//
//go:noinline
func noTransition(from lifecycle.State, _ lifecycle.Event, _ lifecycle.Guards) (lifecycle.State, bool) {
	return from, true
}

// BenchmarkCallOverhead is BenchmarkComputeTransition's loop around a
// function that does nothing: the part of its figure that is the harness.
func BenchmarkCallOverhead(b *testing.B) {
	cycle := []struct {
		from lifecycle.State
		ev   lifecycle.Event
	}{
		{lifecycle.Wake, lifecycle.Idle5Min}, {lifecycle.Drowsy, lifecycle.Idle30Min},
		{lifecycle.Sleep, lifecycle.SleepCycleDone}, {lifecycle.Hibernation, lifecycle.WakeSignal},
	}
	g := lifecycle.Guards{SleepEligible: true, StillIdle: true}
	for i := 0; b.Loop(); i++ {
		c := cycle[i&3]
		if _, ok := noTransition(c.from, c.ev, g); !ok {
			b.Fatal("no transition")
		}
	}
}
