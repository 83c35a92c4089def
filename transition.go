package lifecycle

import (
	"fmt"
)

// State is a lifecycle state, spelled as it is on disk.
type State string

// The four states of the seed table.
const (
	Wake        State = "WAKE"
	Drowsy      State = "DROWSY"
	Sleep       State = "SLEEP"
	Hibernation State = "HIBERNATION"
)

// Event is something that happened to the daemon, spelled as it is in the log.
type Event string

// The events a daemon dispatches.
const (
	HeartbeatRefresh        Event = "heartbeat_refresh"
	Idle5Min                Event = "idle_5min"
	Idle30Min               Event = "idle_30min"
	SleepEligible           Event = "sleep_eligible"
	RequestArrived          Event = "request_arrived"
	SleepCycleDone          Event = "sleep_cycle_done"
	HibernationGraceExpired Event = "hibernation_grace_expired"
	WakeSignal              Event = "wake_signal"
	Tick                    Event = "tick"
)

// Guards is the payload that guarded rows of the table read.
type Guards struct {
	SleepEligible bool // read by DROWSY + idle_30min
	StillIdle     bool // read by SLEEP + sleep_cycle_done
}

// Guard names the field of Guards that a row requires, or none.
type Guard string

// The guards a row may require.
const (
	NoGuard            Guard = ""
	GuardSleepEligible Guard = "sleep_eligible"
	GuardStillIdle     Guard = "still_idle"
)

// Holds reports whether g is satisfied by the payload.
func (g Guard) Holds(p Guards) bool {
	switch g {
	case GuardSleepEligible:
		return p.SleepEligible
	case GuardStillIdle:
		return p.StillIdle
	}
	return true
}

// AnyState in a Row's From matches every state.
const AnyState State = "*"

// Row is one line of a transition table.
type Row struct {
	From  State
	Event Event
	Guard Guard
	To    State
}

// table is the seed transition table, written once. Everything else (the
// lookup index, the docs, the diagram) derives from it.
var table = [...]Row{
	{AnyState, RequestArrived, NoGuard, Wake},
	{Wake, Idle5Min, NoGuard, Drowsy},
	{Drowsy, HeartbeatRefresh, NoGuard, Wake},
	{Drowsy, Idle30Min, GuardSleepEligible, Sleep},
	{Sleep, SleepCycleDone, GuardStillIdle, Hibernation},
	{Hibernation, WakeSignal, NoGuard, Wake},
}

var (
	states = [...]State{Wake, Drowsy, Sleep, Hibernation}
	events = [...]Event{HeartbeatRefresh, Idle5Min, Idle30Min, SleepEligible, RequestArrived,
		SleepCycleDone, HibernationGraceExpired, WakeSignal, Tick}
)

// Rows returns a copy of the seed transition table.
func Rows() []Row { return append([]Row(nil), table[:]...) }

// States returns every state, WAKE first.
func States() []State { return append([]State(nil), states[:]...) }

// Events returns every event.
func Events() []Event { return append([]Event(nil), events[:]...) }

// index[s][e] holds the row for (state s, event e), or -1. Built from table
// once so that ComputeTransition is two array reads and a guard check.
var index = buildIndex()

func buildIndex() (ix [len(states)][len(events)]int8) {
	for s := range ix {
		for e := range ix[s] {
			ix[s][e] = -1
		}
	}
	for r, row := range table {
		e := eventIndex(row.Event)
		for s, st := range states {
			if row.From == st || row.From == AnyState {
				ix[s][e] = int8(r)
			}
		}
	}
	return ix
}

func stateIndex(s State) int {
	switch s {
	case Wake:
		return 0
	case Drowsy:
		return 1
	case Sleep:
		return 2
	case Hibernation:
		return 3
	}
	return -1
}

func eventIndex(e Event) int {
	for i, ev := range events {
		if ev == e {
			return i
		}
	}
	return -1
}

// ComputeTransition returns the state that ev moves from into, given the
// guards. changed is false when no row applies, a guard fails, or the row's
// target is the current state: none of those is a transition. It is pure and
// does not allocate.
func ComputeTransition(from State, ev Event, g Guards) (to State, changed bool) {
	s, e := stateIndex(from), eventIndex(ev)
	if s < 0 || e < 0 {
		return from, false
	}
	r := index[s][e]
	if r < 0 {
		return from, false
	}
	row := &table[r]
	if !row.Guard.Holds(g) || row.To == from {
		return from, false
	}
	return row.To, true
}

// ParseState returns the State spelled s, or an error wrapping ErrUnknownState.
func ParseState(s string) (State, error) {
	if stateIndex(State(s)) < 0 {
		return "", fmt.Errorf("%w %q (want one of %v)", ErrUnknownState, s, states)
	}
	return State(s), nil
}

// ParseEvent returns the Event spelled s, or an error wrapping ErrUnknownEvent.
func ParseEvent(s string) (Event, error) {
	if eventIndex(Event(s)) < 0 {
		return "", fmt.Errorf("%w %q (want one of %v)", ErrUnknownEvent, s, events)
	}
	return Event(s), nil
}
