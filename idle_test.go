package lifecycle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestIdlePolicyNext(t *testing.T) {
	const drowsy, sleep = 5 * time.Minute, 30 * time.Minute
	p := lifecycle.IdlePolicy{Drowsy: drowsy, Sleep: sleep}
	none := lifecycle.Guards{}
	eligible := lifecycle.Guards{SleepEligible: true}
	tests := []struct {
		name    string
		obs     lifecycle.Observation
		wantEv  lifecycle.Event
		wantGua lifecycle.Guards
	}{
		{"fresh", lifecycle.Observation{State: lifecycle.Wake}, lifecycle.Tick, none},
		{"just under drowsy", lifecycle.Observation{State: lifecycle.Wake, Idle: drowsy - 1}, lifecycle.Tick, none},
		{"exactly drowsy", lifecycle.Observation{State: lifecycle.Wake, Idle: drowsy}, lifecycle.Idle5Min, none},
		{"drowsy, eligible, under sleep", lifecycle.Observation{State: lifecycle.Drowsy, Idle: sleep - 1, SleepAllowed: true}, lifecycle.Idle5Min, none},
		{"exactly sleep, eligible", lifecycle.Observation{State: lifecycle.Drowsy, Idle: sleep, SleepAllowed: true}, lifecycle.Idle30Min, eligible},
		{"long past sleep, eligible", lifecycle.Observation{State: lifecycle.Drowsy, Idle: 24 * time.Hour, SleepAllowed: true}, lifecycle.Idle30Min, eligible},
		{"exactly sleep, not eligible", lifecycle.Observation{State: lifecycle.Drowsy, Idle: sleep}, lifecycle.Idle5Min, none},
		// In WAKE idle_30min is a no-op: a loop whose tick came late (a
		// suspended host, a long busy lock) would never leave WAKE.
		{"WAKE past sleep, eligible", lifecycle.Observation{State: lifecycle.Wake, Idle: sleep, SleepAllowed: true}, lifecycle.Idle5Min, none},
		{"SLEEP past sleep, eligible", lifecycle.Observation{State: lifecycle.Sleep, Idle: sleep, SleepAllowed: true}, lifecycle.Idle30Min, eligible},
		{"unknown state past sleep, eligible", lifecycle.Observation{Idle: sleep, SleepAllowed: true}, lifecycle.Idle30Min, eligible},
		{"active wins over idle", lifecycle.Observation{State: lifecycle.Drowsy, Idle: sleep, Active: true, SleepAllowed: true}, lifecycle.HeartbeatRefresh, none},
		{"active, fresh", lifecycle.Observation{State: lifecycle.Wake, Active: true}, lifecycle.HeartbeatRefresh, none},
		{"negative idle", lifecycle.Observation{State: lifecycle.Wake, Idle: -time.Hour, SleepAllowed: true}, lifecycle.Tick, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, g := p.Next(tt.obs)
			require.Equal(t, tt.wantEv, ev)
			require.Equal(t, tt.wantGua, g)
		})
	}
}

// TestIdlePolicyNextWalks feeds Next's answer to ComputeTransition tick after
// tick, as a loop would, and checks where the machine ends up.
func TestIdlePolicyNextWalks(t *testing.T) {
	p := lifecycle.IdlePolicy{Drowsy: 5 * time.Minute, Sleep: 30 * time.Minute}
	tests := []struct {
		name    string
		idle    time.Duration // the same observation every tick
		allowed bool
		want    lifecycle.State
	}{
		{"short idle stays awake", time.Minute, true, lifecycle.Wake},
		{"drowsy", 10 * time.Minute, true, lifecycle.Drowsy},
		{"sleep not allowed stays drowsy", time.Hour, false, lifecycle.Drowsy},
		{"late first tick still reaches sleep", time.Hour, true, lifecycle.Sleep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lifecycle.Wake
			for range 4 {
				ev, g := p.Next(lifecycle.Observation{State: s, Idle: tt.idle, SleepAllowed: tt.allowed})
				s, _ = lifecycle.ComputeTransition(s, ev, g)
			}
			require.Equal(t, tt.want, s)
		})
	}
}

func TestIdlePolicyDefaults(t *testing.T) {
	require.Equal(t, lifecycle.IdlePolicy{Drowsy: 5 * time.Minute, Sleep: 30 * time.Minute}, lifecycle.DefaultIdlePolicy)
	tests := []struct {
		name string
		p    lifecycle.IdlePolicy
	}{
		{"zero value", lifecycle.IdlePolicy{}},
		{"negative", lifecycle.IdlePolicy{Drowsy: -1, Sleep: -time.Hour}},
		{"default", lifecycle.DefaultIdlePolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				idle time.Duration
				want lifecycle.Event
			}{
				{5*time.Minute - 1, lifecycle.Tick},
				{5 * time.Minute, lifecycle.Idle5Min},
				{30*time.Minute - 1, lifecycle.Idle5Min},
				{30 * time.Minute, lifecycle.Idle30Min},
			} {
				ev, _ := tt.p.Next(lifecycle.Observation{State: lifecycle.Drowsy, Idle: c.idle, SleepAllowed: true})
				require.Equal(t, c.want, ev, c.idle)
			}
		})
	}
}

// A Sleep threshold below Drowsy still walks WAKE → DROWSY → SLEEP: DROWSY
// is only reached at Drowsy, and from there Sleep has passed.
func TestIdlePolicySleepBelowDrowsy(t *testing.T) {
	p := lifecycle.IdlePolicy{Drowsy: 10 * time.Minute, Sleep: time.Minute}
	for _, c := range []struct {
		state lifecycle.State
		idle  time.Duration
		want  lifecycle.Event
	}{
		{lifecycle.Wake, 5 * time.Minute, lifecycle.Tick},
		{lifecycle.Wake, 10 * time.Minute, lifecycle.Idle5Min},
		{lifecycle.Drowsy, 10 * time.Minute, lifecycle.Idle30Min},
	} {
		ev, _ := p.Next(lifecycle.Observation{State: c.state, Idle: c.idle, SleepAllowed: true})
		require.Equal(t, c.want, ev, fmt.Sprint(c.state, c.idle))
	}
}

func TestIdlePolicyNextDoesNotAllocate(t *testing.T) {
	p := lifecycle.DefaultIdlePolicy
	obs := lifecycle.Observation{State: lifecycle.Drowsy, Idle: time.Hour, SleepAllowed: true}
	var ev lifecycle.Event
	allocs := testing.AllocsPerRun(100, func() { ev, _ = p.Next(obs) })
	require.Zero(t, allocs)
	require.Equal(t, lifecycle.Idle30Min, ev)
}

func ExampleIdlePolicy_Next() {
	p := lifecycle.DefaultIdlePolicy
	for _, obs := range []lifecycle.Observation{
		{State: lifecycle.Wake, Idle: time.Minute},
		{State: lifecycle.Wake, Idle: 6 * time.Minute},
		{State: lifecycle.Drowsy, Idle: 31 * time.Minute, SleepAllowed: true},
		{State: lifecycle.Drowsy, Idle: 31 * time.Minute, Active: true},
	} {
		ev, g := p.Next(obs)
		fmt.Println(ev, g.SleepEligible)
	}
	// Output:
	// tick false
	// idle_5min false
	// idle_30min true
	// heartbeat_refresh false
}
