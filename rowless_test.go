package lifecycle_test

import (
	"log/slog"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// rowlessMsg is the debug line of a dispatch whose event no row has.
const rowlessMsg = "lifecycle event has no row in the table"

// TestRowlessEventLoggedAtDebug: a dispatch of an event that no row of the
// Machine's table has, from any state (sleep_eligible and
// hibernation_grace_expired in the seed table), says so through the
// Machine's logger at Debug level: it reads like the guard of the same name
// but is a no-op. tick, whose point is to be a no-op, and events that have
// a row somewhere (even if not from the current state, or with a failing
// guard) say nothing.
func TestRowlessEventLoggedAtDebug(t *testing.T) {
	custom, err := lifecycle.NewTable(
		[]lifecycle.State{lifecycle.Wake, "NAP"},
		[]lifecycle.Event{"nap", "poke", lifecycle.RequestArrived, lifecycle.Tick},
		[]lifecycle.Row{{From: lifecycle.Wake, Event: "nap", To: "NAP"}, {From: lifecycle.AnyState, Event: lifecycle.RequestArrived, To: lifecycle.Wake}})
	require.NoError(t, err)
	tests := []struct {
		name   string
		table  *lifecycle.Table
		ev     lifecycle.Event
		g      lifecycle.Guards
		logged bool
	}{
		{"sleep_eligible", nil, lifecycle.SleepEligible, lifecycle.Guards{SleepEligible: true}, true},
		{"hibernation_grace_expired", nil, lifecycle.HibernationGraceExpired, lifecycle.Guards{}, true},
		{"tick", nil, lifecycle.Tick, lifecycle.Guards{}, false},
		{"a row from another state", nil, lifecycle.WakeSignal, lifecycle.Guards{}, false},
		{"a guarded row, guard false", nil, lifecycle.SleepCycleDone, lifecycle.Guards{}, false},
		{"a row to the current state", nil, lifecycle.RequestArrived, lifecycle.Guards{}, false},
		{"another table's rowless event", custom, "poke", lifecycle.Guards{}, true},
		{"another table's event with a row", custom, "nap", lifecycle.Guards{}, false},
		{"another table's tick", custom, lifecycle.Tick, lifecycle.Guards{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capture{}
			m := newMachine(t, t.TempDir(), lifecycle.WithLogger(slog.New(c)), lifecycle.WithTable(tt.table))
			for range 2 {
				_, err := m.Dispatch(tt.ev, tt.g)
				require.NoError(t, err)
			}
			got := c.find(rowlessMsg)
			if !tt.logged {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 2, "once per dispatch")
			for _, r := range got {
				require.Equal(t, slog.LevelDebug, r.level)
				require.Equal(t, string(tt.ev), r.attrs["event"])
			}
		})
	}
}
