package main

import (
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		from lifecycle.State
		ev   lifecycle.Event
		g    lifecycle.Guards
		to   lifecycle.State
		want string
	}{
		{"transition", lifecycle.Wake, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy, "WAKE -> DROWSY"},
		{"guarded transition", lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep, "DROWSY -> SLEEP"},
		{"no row", lifecycle.Wake, lifecycle.Tick, lifecycle.Guards{}, lifecycle.Wake, "no transition (WAKE)"},
		{"guard fails", lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy, "no transition (DROWSY)"},
		{"target is the current state", lifecycle.Wake, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, "no transition (WAKE)"},
		// Another process moved WAKE to DROWSY between our read and our
		// dispatch; heartbeat_refresh then took DROWSY back to WAKE.
		{"moved meanwhile, back to from", lifecycle.Wake, lifecycle.HeartbeatRefresh, lifecycle.Guards{}, lifecycle.Wake,
			"no transition (WAKE)"},
		// Read DROWSY; another process woke it; idle_5min moved it on.
		{"moved meanwhile", lifecycle.Drowsy, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy,
			"no transition (DROWSY)"},
		{"moved meanwhile, unexpected target", lifecycle.Wake, lifecycle.Tick, lifecycle.Guards{}, lifecycle.Sleep,
			"SLEEP (another process moved the machine from WAKE meanwhile)"},
		{"moved meanwhile, transition elsewhere", lifecycle.Sleep, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy,
			"DROWSY (another process moved the machine from SLEEP meanwhile)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, describe(tt.from, tt.ev, tt.g, tt.to))
		})
	}
}
