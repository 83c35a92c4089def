package main

import (
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestDescribe(t *testing.T) {
	def := lifecycle.DefaultTable()
	ext := extendedTable(t)
	tests := []struct {
		name  string
		table *lifecycle.Table
		from  lifecycle.State
		ev    lifecycle.Event
		g     lifecycle.Guards
		to    lifecycle.State
		want  string
	}{
		{"transition", def, lifecycle.Wake, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy, "WAKE -> DROWSY"},
		{"guarded transition", def, lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep, "DROWSY -> SLEEP"},
		{"no row", def, lifecycle.Wake, lifecycle.Tick, lifecycle.Guards{}, lifecycle.Wake, "no transition (WAKE)"},
		{"guard fails", def, lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy, "no transition (DROWSY)"},
		{"target is the current state", def, lifecycle.Wake, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, "no transition (WAKE)"},
		// Another process moved WAKE to DROWSY between our read and our
		// dispatch; heartbeat_refresh then took DROWSY back to WAKE.
		{"moved meanwhile, back to from", def, lifecycle.Wake, lifecycle.HeartbeatRefresh, lifecycle.Guards{}, lifecycle.Wake,
			"no transition (WAKE)"},
		// Read DROWSY; another process woke it; idle_5min moved it on.
		{"moved meanwhile", def, lifecycle.Drowsy, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy,
			"no transition (DROWSY)"},
		{"moved meanwhile, unexpected target", def, lifecycle.Wake, lifecycle.Tick, lifecycle.Guards{}, lifecycle.Sleep,
			"SLEEP (another process moved the machine from WAKE meanwhile)"},
		{"moved meanwhile, transition elsewhere", def, lifecycle.Sleep, lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy,
			"DROWSY (another process moved the machine from SLEEP meanwhile)"},
		// The table decides: force_sleep is a transition in the extended
		// table only, and SLEEP + wake_signal is its morning wake.
		{"extended table", ext, lifecycle.Drowsy, forceSleep, lifecycle.Guards{}, lifecycle.Sleep, "DROWSY -> SLEEP"},
		{"morning wake", ext, lifecycle.Sleep, lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake, "SLEEP -> WAKE"},
		{"no morning wake in the seed", def, lifecycle.Sleep, lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake,
			"WAKE (another process moved the machine from SLEEP meanwhile)"},
		{"extended table, no row", ext, lifecycle.Sleep, forceSleep, lifecycle.Guards{}, lifecycle.Sleep, "no transition (SLEEP)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, describe(tt.table, tt.from, tt.ev, tt.g, tt.to))
		})
	}
}
