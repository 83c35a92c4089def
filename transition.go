//go:build unix

package lifecycle

import (
	"unsafe"
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

// The events a daemon dispatches. Three of them have no row in the seed
// table and never move its machine: Tick, SleepEligible and
// HibernationGraceExpired.
const (
	HeartbeatRefresh Event = "heartbeat_refresh"
	Idle5Min         Event = "idle_5min"
	Idle30Min        Event = "idle_30min"
	// SleepEligible is an event with no row in the seed table: dispatching
	// it is a no-op in every state. It is not the guard of the same name.
	// To let DROWSY fall asleep, dispatch Idle30Min with
	// Guards{SleepEligible: true} (the row's guard is GuardSleepEligible).
	// The Python original declares the event, so it is kept, for tables of
	// a daemon's own (NewTable) that give it a row. A Machine's logger notes
	// each dispatch of it at Debug level, and `lifecyclectl dispatch` says so.
	SleepEligible  Event = "sleep_eligible"
	RequestArrived Event = "request_arrived"
	SleepCycleDone Event = "sleep_cycle_done"
	// HibernationGraceExpired is an event with no row in the seed table:
	// dispatching it is a no-op in every state, HIBERNATION included (the
	// Python original reserves it for a later phase). It is kept, like
	// SleepEligible, for tables of a daemon's own, and noted the same way.
	HibernationGraceExpired Event = "hibernation_grace_expired"
	WakeSignal              Event = "wake_signal"
	// Tick has no row by design: a daemon may dispatch it on each turn of
	// its loop, and it never moves the machine. It is not noted as the two
	// above are.
	Tick Event = "tick"
)

// Guards is the payload that guarded rows of the table read. The guards are
// not events: Guards{SleepEligible: true} is what DROWSY + idle_30min
// needs, while the event SleepEligible moves nothing.
type Guards struct {
	SleepEligible bool // read by DROWSY + idle_30min
	StillIdle     bool // read by SLEEP + sleep_cycle_done
}

// Guard names the field of Guards that a row requires, or none.
type Guard string

// The guards a row may require. They are fields of Guards, not events: the
// events SleepEligible and HibernationGraceExpired have no row.
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

// index[s][e] is what the table says of (state s, event e), built from
// table once so that ComputeTransition is a few array reads and a guard
// check: the target's index (-1: no row, or the row targets s itself, which
// is not a transition) and the guard the row needs.
var index = buildIndex()

type cell struct {
	to   int8
	need uint8 // the guard: needNothing, needSleepEligible, needStillIdle
}

const (
	needNothing uint8 = iota
	needSleepEligible
	needStillIdle
)

func buildIndex() (ix [len(states)][len(events)]cell) {
	for s := range ix {
		for e := range ix[s] {
			ix[s][e].to = -1
		}
	}
	for _, row := range table {
		e, to := eventIndex(row.Event), stateIndex(row.To)
		for s, st := range states {
			if (row.From == st || row.From == AnyState) && s != to {
				ix[s][e] = cell{to: int8(to), need: map[Guard]uint8{
					GuardSleepEligible: needSleepEligible, GuardStillIdle: needStillIdle}[row.Guard]}
			}
		}
	}
	return ix
}

// The seed's states differ in length, and so do its events, so a name's
// length picks the only candidate and one comparison confirms it: two array
// reads instead of a scan of string comparisons.
var (
	stateByLen = lengthIndex(states[:])
	eventByLen = lengthIndex(events[:])
)

// lengthIndex maps each name's length to its index, -1 elsewhere.
func lengthIndex[T ~string](names []T) (ix [32]int8) {
	for i := range ix {
		ix[i] = -1
	}
	for i, n := range names {
		if len(n) >= len(ix) || ix[len(n)] >= 0 {
			panic("lifecycle: seed names must have distinct lengths under 32: " + string(n))
		}
		ix[len(n)] = int8(i)
	}
	return ix
}

func stateIndex(s State) int {
	if len(s) >= len(stateByLen) {
		return -1
	}
	if i := stateByLen[len(s)]; i >= 0 && same(string(states[i]), string(s)) {
		return int(i)
	}
	return -1
}

func eventIndex(e Event) int {
	if len(e) >= len(eventByLen) {
		return -1
	}
	if i := eventByLen[len(e)]; i >= 0 && same(string(events[i]), string(e)) {
		return int(i)
	}
	return -1
}

// same compares two strings of one length. Callers mostly pass the
// package's own constants, whose bytes are the very same, so comparing the
// pointers first skips the call that compares bytes.
func same(a, b string) bool {
	return unsafe.StringData(a) == unsafe.StringData(b) || a == b
}

// ComputeTransition returns the state that ev moves from into, given the
// guards. changed is false when no row applies, a guard fails, or the row's
// target is the current state: none of those is a transition. It is pure and
// does not allocate.
func ComputeTransition(from State, ev Event, g Guards) (to State, changed bool) {
	// The fast path: callers mostly pass the package's own constants,
	// which byLen recognises by length and data pointer, with no byte
	// comparison. Equal pointers and lengths mean equal bytes, so any other
	// string takes the slow path and gets the same answer.
	if f, e := uint(len(from)), uint(len(ev)); f < 32 && e < 32 {
		p := &byLen[f][e]
		if unsafe.StringData(string(from)) == p.from && unsafe.StringData(string(ev)) == p.ev {
			return p.result(from, g)
		}
	}
	return computeTransition(from, ev, g)
}

// computeTransition is ComputeTransition for names that are not the
// package's constants (parsed from text, say): their bytes are compared.
func computeTransition(from State, ev Event, g Guards) (State, bool) {
	s, e := stateIndex(from), eventIndex(ev)
	if s < 0 || e < 0 {
		return from, false
	}
	return index[s][e].result(from, g)
}

// result is the cell's answer for a state in from and guards g.
func (c cell) result(from State, g Guards) (State, bool) {
	if c.to < 0 || c.need == needSleepEligible && !g.SleepEligible || c.need == needStillIdle && !g.StillIdle {
		return from, false
	}
	return states[c.to], true
}

// byLen[len(s)][len(e)] holds the data pointers of the only state and event
// of those lengths, and index's cell for the pair.
var byLen = buildByLen()

type lenCell struct {
	from, ev *byte
	cell
}

func buildByLen() (ix [32][32]lenCell) {
	for i := range ix {
		for j := range ix[i] {
			ix[i][j].to = -1 // and nil pointers, which only "" has
		}
	}
	for i, st := range states {
		for j, ev := range events {
			ix[len(st)][len(ev)] = lenCell{from: unsafe.StringData(string(st)), ev: unsafe.StringData(string(ev)), cell: index[i][j]}
		}
	}
	return ix
}

// ParseState returns the State spelled s, or an error wrapping ErrUnknownState.
func ParseState(s string) (State, error) {
	if stateIndex(State(s)) < 0 {
		return "", unknownNameError(ErrUnknownState, s, states[:])
	}
	return State(s), nil
}

// ParseEvent returns the Event spelled s, or an error wrapping ErrUnknownEvent.
func ParseEvent(s string) (Event, error) {
	if eventIndex(Event(s)) < 0 {
		return "", unknownNameError(ErrUnknownEvent, s, events[:])
	}
	return Event(s), nil
}
