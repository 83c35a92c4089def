package main

import (
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// A dispatch that moved nothing names the guard flag that would have let a
// row of the table move it, and only then.
func TestMissingGuard(t *testing.T) {
	def := lifecycle.DefaultTable()
	ext := extendedTable(t)
	nap := napTable(t)
	tests := []struct {
		name  string
		table *lifecycle.Table
		state lifecycle.State
		ev    lifecycle.Event
		g     lifecycle.Guards
		want  lifecycle.Guard // NoGuard: no row found
	}{
		{"sleep_eligible missing", def, lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.GuardSleepEligible},
		{"still_idle missing", def, lifecycle.Sleep, lifecycle.SleepCycleDone, lifecycle.Guards{}, lifecycle.GuardStillIdle},
		{"the other guard given", def, lifecycle.Sleep, lifecycle.SleepCycleDone, lifecycle.Guards{SleepEligible: true}, lifecycle.GuardStillIdle},
		{"no row from the state", def, lifecycle.Wake, lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.NoGuard},
		{"an unguarded row to the state itself", def, lifecycle.Wake, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.NoGuard},
		{"no row for the event", def, lifecycle.Wake, lifecycle.Tick, lifecycle.Guards{}, lifecycle.NoGuard},
		{"the table's own rows", nap, "NAP", "deeper", lifecycle.Guards{}, lifecycle.GuardStillIdle},
		{"an extended table's unguarded row", ext, lifecycle.Drowsy, forceSleep, lifecycle.Guards{}, lifecycle.NoGuard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, ok := missingGuard(tt.table, tt.state, tt.ev, tt.g)
			require.Equal(t, tt.want != lifecycle.NoGuard, ok)
			require.Equal(t, tt.want, row.Guard)
			if ok {
				require.Equal(t, tt.ev, row.Event)
				require.NotEqual(t, tt.state, row.To)
			}
		})
	}
}

func TestDispatchResultLine(t *testing.T) {
	tests := []struct {
		name string
		r    dispatchResult
		want string
	}{
		{"transition", dispatchResult{Event: lifecycle.Idle5Min, From: lifecycle.Wake, To: lifecycle.Drowsy, Changed: true, Seq: 1}, "WAKE -> DROWSY"},
		{"none", dispatchResult{Event: lifecycle.Tick, From: lifecycle.Wake, To: lifecycle.Wake}, "no transition (WAKE)"},
		{"a guard missing", dispatchResult{Event: lifecycle.Idle30Min, From: lifecycle.Drowsy, To: lifecycle.Drowsy, MissingGuard: lifecycle.GuardSleepEligible, blockedTo: lifecycle.Sleep},
			"no transition (DROWSY): idle_30min moves DROWSY to SLEEP only with --sleep-eligible"},
		{"the other guard missing", dispatchResult{Event: lifecycle.SleepCycleDone, From: lifecycle.Sleep, To: lifecycle.Sleep, MissingGuard: lifecycle.GuardStillIdle, blockedTo: lifecycle.Hibernation},
			"no transition (SLEEP): sleep_cycle_done moves SLEEP to HIBERNATION only with --still-idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.r.line())
		})
	}
}
