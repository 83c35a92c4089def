//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Table is a transition table as a value: the states and events it knows
// and its rows. DefaultTable is the seed's; NewTable, LoadTable and
// UnmarshalJSON build others, so a daemon can add states, events and rows
// without forking the package, and give the table to its Machine with
// WithTable.
//
// A Table reads like the seed table:
//
//   - A row (From, Event, Guard, To) moves From to To when Event is
//     dispatched and its Guard holds. From may be AnyState, which applies the
//     row to every state (for its own target the row is a no-op).
//   - A state and an event take at most one row, whatever the guards: two
//     rows for the same (state, event), an AnyState row included, are
//     refused rather than ranked.
//   - Every other (state, event, guards) is a no-op, and so is a row whose
//     target is the current state.
//
// A Table is immutable once built and safe for concurrent use. The zero
// Table (and a nil *Table) knows no states and no events.
type Table struct {
	states []State
	events []Event
	rows   []Row

	stateIx map[State]int // position in states
	eventIx map[Event]int // position in events
	// index holds the row for each (state, event), AnyState rows expanded,
	// so that Transition is one map lookup and does not allocate.
	index map[stateEvent]int
	// hasRow holds the events that some row has: the others never move the
	// machine, from any state.
	hasRow map[Event]bool
	// core is set by CoreRecord: the state files of this table hold the
	// core record.
	core bool
}

type stateEvent struct {
	s State
	e Event
}

// Limits on a table's size. A lifecycle has a handful of states; the limits
// only keep a hostile table file from costing memory or time.
const (
	maxTableStates = 256
	maxTableEvents = 256
	maxTableRows   = 4096
	// maxTableProblems bounds the problems an error lists.
	maxTableProblems = 32
	// MaxTableSize bounds a table file read by LoadTable.
	MaxTableSize = 1 << 20
)

// defaultTable is the seed's table, built from transition.go's rows.
var defaultTable = mustTable(NewTable(states[:], events[:], table[:]))

func mustTable(t *Table, err error) *Table {
	if err != nil {
		panic("lifecycle: the seed table is invalid: " + err.Error())
	}
	return t
}

// DefaultTable returns the seed's table: the states, events and rows of
// States, Events and Rows. Its Transition agrees with ComputeTransition,
// which stays the allocation-free fast path for the seed table.
func DefaultTable() *Table { return defaultTable }

// CoreRecord returns a table with t's states, events and rows whose state
// files hold the core record: the keys every lifecycle has (current_state,
// since_ts, last_activity_ts, wrapper_event_seq, transition_seq,
// last_transition) and then the daemon's own fields (Record.SetField),
// nothing of the Python daemon's record. It is for a daemon of its own
// kind; t's files (and the default table's) keep the Python daemon's
// layout, byte for byte. A Machine given WithTable(t.CoreRecord()) writes
// and reads such files, and so do t.CoreRecord().LoadState, SaveState and
// Watch with WatchTable. A table file says the same with "record": "core".
//
// Loading a core record does not require shadow_run (the Machine's
// WithShadowRun holds it, and it is not written); keys of the Python
// daemon's record found in such a file are kept as the daemon's own. A
// record whose Python fields (SleepCycleProgress, Quarantine, the crisis
// and essential-variable fields) are set is refused with ErrInvalidRecord
// rather than written without them. A nil t gives nil.
func (t *Table) CoreRecord() *Table {
	if t == nil {
		return nil
	}
	c := *t // the indexes are never changed once built: shared
	c.core = true
	return &c
}

// HasCoreRecord reports whether t's state files hold the core record (see
// CoreRecord).
func (t *Table) HasCoreRecord() bool { return t != nil && t.core }

// defaultRecord is DefaultRecord in t's record format.
func (t *Table) defaultRecord(now time.Time) Record {
	r := DefaultRecord(now)
	r.core = t.core
	return r
}

// NewTable builds a table from its states, its events and its rows, and
// validates it. The states must include WAKE, the state of a new Machine;
// every row's states and event must be among those listed. An event may have
// no row (it is then a no-op in every state, as tick is in the seed).
//
// The error wraps ErrInvalidTable and lists every problem, naming the rows
// involved by their index (rows[i]): a name that is empty, not UTF-8 or holds
// spaces or control characters; a state or event listed twice; a row whose
// states or event the table does not list, whose guard is not one of
// NoGuard, GuardSleepEligible and GuardStillIdle, or whose target is its own
// source; two rows for one (state, event), where an AnyState row counts for
// every state and guards do not tell rows apart; a state that cannot be
// reached from WAKE; and a state with no way out, either because no row
// leaves it or because no path leads from it back to WAKE. A table has at
// most 256 states, 256 events and 4096 rows, and the error lists at most 32
// problems, counting the rest.
//
// NewTable copies its arguments; changing them later does not change the
// table.
func NewTable(states []State, events []Event, rows []Row) (*Table, error) {
	t := &Table{states: slices.Clone(states), events: slices.Clone(events), rows: slices.Clone(rows)}
	if err := t.build(); err != nil {
		return nil, err
	}
	return t, nil
}

// build checks t's lists and fills in its indexes.
func (t *Table) build() error {
	switch {
	case len(t.states) > maxTableStates:
		return fmt.Errorf("%w: %d states, want at most %d", ErrInvalidTable, len(t.states), maxTableStates)
	case len(t.events) > maxTableEvents:
		return fmt.Errorf("%w: %d events, want at most %d", ErrInvalidTable, len(t.events), maxTableEvents)
	case len(t.rows) > maxTableRows:
		return fmt.Errorf("%w: %d rows, want at most %d", ErrInvalidTable, len(t.rows), maxTableRows)
	}
	var errs []error
	more := 0 // problems past maxTableProblems, counted only
	bad := func(format string, a ...any) {
		if len(errs) < maxTableProblems {
			errs = append(errs, fmt.Errorf(format, a...))
		} else {
			more++
		}
	}

	t.stateIx = make(map[State]int, len(t.states))
	for i, s := range t.states {
		if s == AnyState {
			bad("states[%d] %q: %q is AnyState, which stands for every state in a row's from", i, s, AnyState)
		} else if err := checkName(string(s)); err != nil {
			bad("states[%d] %q: %v", i, s, err)
		} else if j, dup := t.stateIx[s]; dup {
			bad("states[%d] %q: listed already as states[%d]", i, s, j)
		} else {
			t.stateIx[s] = i
		}
	}
	if _, ok := t.stateIx[Wake]; !ok {
		bad("no state %q: it is the start state (a new Machine's), and the states must list it", Wake)
	}
	t.eventIx = make(map[Event]int, len(t.events))
	for i, e := range t.events {
		if err := checkName(string(e)); err != nil {
			bad("events[%d] %q: %v", i, e, err)
		} else if j, dup := t.eventIx[e]; dup {
			bad("events[%d] %q: listed already as events[%d]", i, e, j)
		} else {
			t.eventIx[e] = i
		}
	}

	t.index = make(map[stateEvent]int)
	overlaps := make(map[[2]int]bool)
	for i, r := range t.rows {
		name := t.rowName(i)
		ok := true
		if _, known := t.stateIx[r.From]; !known && r.From != AnyState {
			bad("%s: from %q is not one of the table's states %v", name, r.From, t.states)
			ok = false
		}
		if r.To == AnyState {
			bad("%s: to %q: AnyState may only stand in a row's from", name, r.To)
			ok = false
		} else if _, known := t.stateIx[r.To]; !known {
			bad("%s: to %q is not one of the table's states %v", name, r.To, t.states)
			ok = false
		}
		if r.Event == "" {
			bad("%s: empty event", name)
			ok = false
		} else if _, known := t.eventIx[r.Event]; !known {
			bad("%s: event %q is not one of the table's events %v", name, r.Event, t.events)
			ok = false
		}
		switch r.Guard {
		case NoGuard, GuardSleepEligible, GuardStillIdle:
		default:
			bad("%s: guard %q is not one of %q (none), %q and %q", name, r.Guard, NoGuard, GuardSleepEligible, GuardStillIdle)
			ok = false
		}
		if r.From == r.To && r.To != AnyState {
			bad("%s: its target is its own source, so it can never move the machine", name)
			ok = false
		}
		if !ok {
			continue
		}
		for si, s := range t.states {
			if (r.From != s && r.From != AnyState) || t.stateIx[s] != si {
				continue // not this row's state, or a state listed twice
			}
			k := stateEvent{s, r.Event}
			if j, dup := t.index[k]; dup {
				if !overlaps[[2]int{j, i}] {
					overlaps[[2]int{j, i}] = true
					bad("%s and %s both apply to %s + %s: a state and an event take at most one row, whatever the guards",
						t.rowName(j), name, s, r.Event)
				}
				continue
			}
			t.index[k] = i
		}
	}
	if len(errs) == 0 {
		errs = t.checkGraph()
		if len(errs) > maxTableProblems {
			errs, more = errs[:maxTableProblems], len(errs)-maxTableProblems
		}
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", more))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidTable, errors.Join(errs...))
	}
	t.hasRow = make(map[Event]bool, len(t.events))
	for _, r := range t.rows {
		t.hasRow[r.Event] = true
	}
	return nil
}

// checkGraph finds the states that WAKE cannot reach and those with no way
// back to WAKE. It runs on a table whose rows are otherwise valid.
func (t *Table) checkGraph() []error {
	n := len(t.states)
	// out[s] and in[s] are the rows that move the machine out of and into
	// state s (by position). An AnyState row is in the out list of every
	// state but its target, and once in its target's in list.
	out, in := make([][]int, n), make([][]int, n)
	for i, r := range t.rows {
		for s, st := range t.states {
			if (r.From == st || r.From == AnyState) && st != r.To {
				out[s] = append(out[s], i)
			}
		}
		in[t.stateIx[r.To]] = append(in[t.stateIx[r.To]], i)
	}
	walk := func(start int, next func(s int) []int) []bool {
		seen := make([]bool, n)
		seen[start] = true
		for queue := []int{start}; len(queue) > 0; queue = queue[1:] {
			for _, s := range next(queue[0]) {
				if !seen[s] {
					seen[s] = true
					queue = append(queue, s)
				}
			}
		}
		return seen
	}
	// The targets of the rows out of s, and the sources of the rows into s.
	targets := func(s int) []int {
		var ts []int
		for _, i := range out[s] {
			ts = append(ts, t.stateIx[t.rows[i].To])
		}
		return ts
	}
	sources := func(s int) []int {
		var ss []int
		for _, i := range in[s] {
			if f := t.rows[i].From; f == AnyState {
				for j := range t.states {
					if j != s {
						ss = append(ss, j)
					}
				}
			} else {
				ss = append(ss, t.stateIx[f])
			}
		}
		return ss
	}
	wake := t.stateIx[Wake]
	fromWake, toWake := walk(wake, targets), walk(wake, sources)

	var errs []error
	for s, st := range t.states {
		switch {
		case !fromWake[s] && len(in[s]) == 0:
			errs = append(errs, fmt.Errorf("state %q cannot be reached from %s: no row leads to it", st, Wake))
		case !fromWake[s]:
			errs = append(errs, fmt.Errorf("state %q cannot be reached from %s: the rows into it (%s) start in states %s cannot reach",
				st, Wake, t.rowNames(in[s]), Wake))
		}
		switch {
		case len(out[s]) == 0 && len(in[s]) == 0:
			errs = append(errs, fmt.Errorf("state %q has no way out: no row leaves it", st))
		case len(out[s]) == 0:
			errs = append(errs, fmt.Errorf("state %q has no way out: no row leaves it (the rows into it: %s)", st, t.rowNames(in[s])))
		case !toWake[s]:
			errs = append(errs, fmt.Errorf("state %q has no way back to %s: the rows out of it (%s) lead only to states that cannot reach %s",
				st, Wake, t.rowNames(out[s]), Wake))
		}
	}
	return errs
}

// checkName accepts a state or event name that is written to files and
// logs as it is: non-empty UTF-8 without spaces or control characters.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return errors.New("holds a space")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("holds a control character")
	}
	return nil
}

func (t *Table) rowName(i int) string { return fmt.Sprintf("rows[%d] (%s)", i, t.rows[i]) }

func (t *Table) rowNames(is []int) string {
	names := make([]string, 0, len(is))
	for _, i := range is {
		names = append(names, t.rowName(i))
	}
	return strings.Join(names, ", ")
}

// String writes the row as "FROM + event [guard] -> TO", the guard left out
// when there is none.
func (r Row) String() string {
	name := func(s string) string {
		if s == "" {
			return `""`
		}
		return s
	}
	guard := ""
	if r.Guard != NoGuard {
		guard = " [" + string(r.Guard) + "]"
	}
	return name(string(r.From)) + " + " + name(string(r.Event)) + guard + " -> " + name(string(r.To))
}

// Transition returns the state that ev moves from into, given the guards,
// as ComputeTransition does for the seed table: changed is false when no row
// applies, its guard fails, or its target is the current state. States and
// events the table does not know are no-ops. It does not allocate.
func (t *Table) Transition(from State, ev Event, g Guards) (to State, changed bool) {
	if t == nil {
		return from, false
	}
	i, ok := t.index[stateEvent{from, ev}]
	if !ok {
		return from, false
	}
	r := &t.rows[i]
	if !r.Guard.Holds(g) || r.To == from {
		return from, false
	}
	return r.To, true
}

// ParseState returns the state spelled s, or an error wrapping
// ErrUnknownState that lists the table's states.
func (t *Table) ParseState(s string) (State, error) {
	if !t.knowsState(State(s)) {
		return "", unknownNameError(ErrUnknownState, s, t.States())
	}
	return State(s), nil
}

// ParseEvent returns the event spelled s, or an error wrapping
// ErrUnknownEvent that lists the table's events.
func (t *Table) ParseEvent(s string) (Event, error) {
	if !t.knowsEvent(Event(s)) {
		return "", unknownNameError(ErrUnknownEvent, s, t.Events())
	}
	return Event(s), nil
}

func (t *Table) knowsState(s State) bool {
	if t == nil {
		return false
	}
	_, ok := t.stateIx[s]
	return ok
}

func (t *Table) knowsEvent(e Event) bool {
	if t == nil {
		return false
	}
	_, ok := t.eventIx[e]
	return ok
}

// States returns a copy of the table's states, in the order it lists them.
func (t *Table) States() []State {
	if t == nil {
		return nil
	}
	return slices.Clone(t.states)
}

// Events returns a copy of the table's events, in the order it lists them.
func (t *Table) Events() []Event {
	if t == nil {
		return nil
	}
	return slices.Clone(t.events)
}

// Rows returns a copy of the table's rows, in the order it lists them.
func (t *Table) Rows() []Row {
	if t == nil {
		return nil
	}
	return slices.Clone(t.rows)
}

// tableJSON is a table's JSON form. Pointers tell a missing list from an
// empty one.
type tableJSON struct {
	States *[]State   `json:"states"`
	Events *[]Event   `json:"events"`
	Rows   *[]rowJSON `json:"rows"`
	Record string     `json:"record,omitempty"`
}

// recordCore is the value of a table's "record" key for the core record
// (see CoreRecord); without the key, the Python daemon's record.
const recordCore = "core"

// rowJSON is a row's JSON form; "guard" may be left out when there is none,
// and "from" is "*" for AnyState.
type rowJSON struct {
	From  State `json:"from"`
	Event Event `json:"event"`
	Guard Guard `json:"guard"`
	To    State `json:"to"`
}

// MarshalJSON writes the table as one object, the form LoadTable reads:
//
//	{"states":["WAKE",...],"events":["idle_5min",...],
//	 "rows":[{"from":"WAKE","event":"idle_5min","guard":"","to":"DROWSY"},...]}
//
// It has a value receiver, so that a Table held by value (a field of a
// larger document) marshals too; a nil *Table marshals as null.
func (t Table) MarshalJSON() ([]byte, error) {
	var doc struct {
		States []State   `json:"states"`
		Events []Event   `json:"events"`
		Rows   []rowJSON `json:"rows"`
		Record string    `json:"record,omitempty"`
	}
	if t.core {
		doc.Record = recordCore
	}
	doc.States = append([]State{}, t.states...)
	doc.Events = append([]Event{}, t.events...)
	doc.Rows = make([]rowJSON, 0, len(t.rows))
	for _, r := range t.rows {
		doc.Rows = append(doc.Rows, rowJSON(r))
	}
	return json.Marshal(doc)
}

// UnmarshalJSON reads the form MarshalJSON writes and validates it as
// NewTable does. Keys other than states, events and rows (and, in a row,
// from, event, guard and to) are refused, so that a misspelt key is not
// silently dropped. On error, which wraps ErrInvalidTable, t is left as it
// was. It is meant for a fresh Table: a Table in use is immutable.
func (t *Table) UnmarshalJSON(data []byte) error {
	if d := bytes.TrimSpace(data); len(d) == 0 || d[0] != '{' {
		return fmt.Errorf("%w: want a JSON object, found %s", ErrInvalidTable, abbrev(d))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc tableJSON
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTable, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the object", ErrInvalidTable)
	}
	var missing []error
	for _, k := range []struct {
		key string
		nil bool
	}{{"states", doc.States == nil}, {"events", doc.Events == nil}, {"rows", doc.Rows == nil}} {
		if k.nil {
			missing = append(missing, fmt.Errorf("key %q is missing", k.key))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidTable, errors.Join(missing...))
	}
	rows := make([]Row, 0, len(*doc.Rows))
	for _, r := range *doc.Rows {
		rows = append(rows, Row(r))
	}
	if doc.Record != "" && doc.Record != recordCore {
		return fmt.Errorf("%w: record is %q, want %q or no record key", ErrInvalidTable, doc.Record, recordCore)
	}
	built, err := NewTable(*doc.States, *doc.Events, rows)
	if err != nil {
		return err
	}
	built.core = doc.Record == recordCore
	*t = *built
	return nil
}

// LoadTable reads a table from the JSON file at path (the form MarshalJSON
// writes) and validates it. Errors are *fs.PathError values naming the file;
// a file that is not JSON or not a valid table wraps ErrInvalidTable.
func LoadTable(path string) (*Table, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathErr("load table", path, err)
	}
	data, err := readRegular(f, MaxTableSize)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = unwrapPath(cerr)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "load table", Path: path, Err: err}
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for the decoder's account of what is wrong
		return nil, &fs.PathError{Op: "load table", Path: path,
			Err: fmt.Errorf("%w: not JSON: %v", ErrInvalidTable, jsonErr(err))}
	}
	var t Table
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, &fs.PathError{Op: "load table", Path: path, Err: err}
	}
	return &t, nil
}
