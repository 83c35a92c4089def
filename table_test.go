package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// forceSleep and the rows below are the upstream extensions, built as a user
// of the package would (example_table_test.go shows the same for godoc).
const forceSleep lifecycle.Event = "force_sleep"

func extendedTable(t testing.TB) *lifecycle.Table {
	t.Helper()
	tb, err := lifecycle.NewTable(lifecycle.States(), append(lifecycle.Events(), forceSleep),
		append(lifecycle.Rows(),
			lifecycle.Row{From: lifecycle.Wake, Event: forceSleep, To: lifecycle.Drowsy},
			lifecycle.Row{From: lifecycle.Drowsy, Event: forceSleep, To: lifecycle.Sleep},
			lifecycle.Row{From: lifecycle.Sleep, Event: lifecycle.WakeSignal, To: lifecycle.Wake},
		))
	require.NoError(t, err)
	return tb
}

// row is shorthand for a lifecycle.Row in the tables below.
func row(from lifecycle.State, ev lifecycle.Event, g lifecycle.Guard, to lifecycle.State) lifecycle.Row {
	return lifecycle.Row{From: from, Event: ev, Guard: g, To: to}
}

func TestNewTableRefuses(t *testing.T) {
	seedStates, seedEvents, seedRows := lifecycle.States(), lifecycle.Events(), lifecycle.Rows()
	with := func(extra ...lifecycle.Row) []lifecycle.Row { return append(lifecycle.Rows(), extra...) }
	many := func(n int) []lifecycle.State {
		s := []lifecycle.State{lifecycle.Wake}
		for i := 1; i < n; i++ {
			s = append(s, lifecycle.State(fmt.Sprintf("S%d", i)))
		}
		return s
	}
	tests := []struct {
		name   string
		states []lifecycle.State
		events []lifecycle.Event
		rows   []lifecycle.Row
		want   []string // each must appear in the error
	}{
		{"no states", nil, seedEvents, seedRows, []string{`WAKE`, `start state`}},
		{"no WAKE", []lifecycle.State{lifecycle.Drowsy, lifecycle.Sleep}, []lifecycle.Event{lifecycle.Idle5Min},
			[]lifecycle.Row{row(lifecycle.Drowsy, lifecycle.Idle5Min, "", lifecycle.Sleep)},
			[]string{`WAKE`, `start state`}},
		{"empty state", append(lifecycle.States(), ""), seedEvents, seedRows, []string{`states[4] ""`, `empty`}},
		{"state with a space", append(lifecycle.States(), "DEEP SLEEP"), seedEvents, seedRows,
			[]string{`states[4] "DEEP SLEEP"`, `space`}},
		{"state with a control character", append(lifecycle.States(), "NAP\n"), seedEvents, seedRows,
			[]string{`states[4] "NAP\n"`}},
		{"state not UTF-8", append(lifecycle.States(), "NAP\xff"), seedEvents, seedRows,
			[]string{`states[4] "NAP\xff"`, `UTF-8`}},
		{"AnyState as a state", append(lifecycle.States(), lifecycle.AnyState), seedEvents, seedRows,
			[]string{`states[4] "*"`, `every state`}},
		{"state listed twice", append(lifecycle.States(), lifecycle.Sleep), seedEvents, seedRows,
			[]string{`states[4] "SLEEP"`, `states[2]`}},
		{"empty event", seedStates, append(lifecycle.Events(), ""), seedRows, []string{`events[9] ""`, `empty`}},
		{"event listed twice", seedStates, append(lifecycle.Events(), lifecycle.Tick), seedRows,
			[]string{`events[9] "tick"`, `events[8]`}},
		{"row from an unknown state", seedStates, seedEvents, with(row("NAP", lifecycle.Tick, "", lifecycle.Wake)),
			[]string{`rows[6] (NAP + tick -> WAKE)`, `from "NAP"`, `[WAKE DROWSY SLEEP HIBERNATION]`}},
		{"row to an unknown state", seedStates, seedEvents, with(row(lifecycle.Wake, lifecycle.Tick, "", "NAP")),
			[]string{`rows[6] (WAKE + tick -> NAP)`, `to "NAP"`}},
		{"row to AnyState", seedStates, seedEvents, with(row(lifecycle.Wake, lifecycle.Tick, "", lifecycle.AnyState)),
			[]string{`rows[6] (WAKE + tick -> *)`, `to "*"`}},
		{"row with an unknown event", seedStates, seedEvents, with(row(lifecycle.Wake, forceSleep, "", lifecycle.Drowsy)),
			[]string{`rows[6] (WAKE + force_sleep -> DROWSY)`, `event "force_sleep"`, `not one of the table's events`}},
		{"row with an empty event", seedStates, seedEvents, with(row(lifecycle.Wake, "", "", lifecycle.Drowsy)),
			[]string{`rows[6] (WAKE + "" -> DROWSY)`, `empty event`}},
		{"row with an unknown guard", seedStates, seedEvents, with(row(lifecycle.Sleep, lifecycle.Tick, "awake", lifecycle.Wake)),
			[]string{`rows[6] (SLEEP + tick [awake] -> WAKE)`, `guard "awake"`, `sleep_eligible`, `still_idle`}},
		{"row that goes nowhere", seedStates, seedEvents, with(row(lifecycle.Sleep, lifecycle.Tick, "", lifecycle.Sleep)),
			[]string{`rows[6] (SLEEP + tick -> SLEEP)`, `its own source`}},
		{"two rows for one (from, event, guard)", seedStates, seedEvents,
			with(row(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.GuardSleepEligible, lifecycle.Wake)),
			[]string{`rows[3] (DROWSY + idle_30min [sleep_eligible] -> SLEEP)`,
				`rows[6] (DROWSY + idle_30min [sleep_eligible] -> WAKE)`, `DROWSY + idle_30min`}},
		{"two rows for one (from, event), guards differ", seedStates, seedEvents,
			with(row(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.NoGuard, lifecycle.Wake)),
			[]string{`rows[3] (DROWSY + idle_30min [sleep_eligible] -> SLEEP)`,
				`rows[6] (DROWSY + idle_30min -> WAKE)`, `at most one row`}},
		{"AnyState overlaps a specific row", seedStates, seedEvents,
			with(row(lifecycle.Sleep, lifecycle.RequestArrived, "", lifecycle.Drowsy)),
			[]string{`rows[0] (* + request_arrived -> WAKE)`, `rows[6] (SLEEP + request_arrived -> DROWSY)`,
				`SLEEP + request_arrived`}},
		{"AnyState overlaps its own target's row", seedStates, seedEvents,
			with(row(lifecycle.Wake, lifecycle.RequestArrived, "", lifecycle.Drowsy)),
			[]string{`rows[0] (* + request_arrived -> WAKE)`, `rows[6] (WAKE + request_arrived -> DROWSY)`}},
		{"two AnyState rows for one event", seedStates, seedEvents,
			with(row(lifecycle.AnyState, lifecycle.RequestArrived, lifecycle.GuardStillIdle, lifecycle.Sleep)),
			[]string{`rows[0] (* + request_arrived -> WAKE)`, `rows[6] (* + request_arrived [still_idle] -> SLEEP)`}},
		{"unreachable state", append(lifecycle.States(), "LIMBO"), seedEvents,
			with(row("LIMBO", lifecycle.WakeSignal, "", lifecycle.Wake)),
			[]string{`state "LIMBO" cannot be reached from WAKE`, `no row leads to it`}},
		{"unreachable pair", append(lifecycle.States(), "LIMBO", "ABYSS"), seedEvents,
			with(row("LIMBO", lifecycle.Tick, "", "ABYSS"), row("ABYSS", lifecycle.Tick, "", "LIMBO")),
			[]string{`state "LIMBO" cannot be reached from WAKE`, `rows[7] (ABYSS + tick -> LIMBO)`,
				`state "ABYSS" cannot be reached from WAKE`, `rows[6] (LIMBO + tick -> ABYSS)`}},
		{"dead end", []lifecycle.State{lifecycle.Wake, lifecycle.Drowsy}, []lifecycle.Event{lifecycle.Idle5Min},
			[]lifecycle.Row{row(lifecycle.Wake, lifecycle.Idle5Min, "", lifecycle.Drowsy)},
			[]string{`state "DROWSY" has no way out`, `no row leaves it`, `rows[0] (WAKE + idle_5min -> DROWSY)`}},
		{"WAKE alone", []lifecycle.State{lifecycle.Wake}, []lifecycle.Event{lifecycle.Tick}, nil,
			[]string{`state "WAKE" has no way out`}},
		{"no way back to WAKE", []lifecycle.State{lifecycle.Wake, "A", "B"}, []lifecycle.Event{lifecycle.Tick},
			[]lifecycle.Row{row(lifecycle.Wake, lifecycle.Tick, "", "A"), row("A", lifecycle.Tick, "", "B"),
				row("B", lifecycle.Tick, "", "A")},
			[]string{`state "A" has no way back to WAKE`, `rows[1] (A + tick -> B)`,
				`state "B" has no way back to WAKE`, `rows[2] (B + tick -> A)`}},
		{"every problem reported", append(lifecycle.States(), lifecycle.Wake), seedEvents,
			with(row("NAP", lifecycle.Tick, "", lifecycle.Wake), row(lifecycle.Wake, "nap", "", lifecycle.Drowsy)),
			[]string{`states[4] "WAKE"`, `rows[6] (NAP + tick -> WAKE)`, `rows[7] (WAKE + nap -> DROWSY)`}},
		{"too many states", many(257), seedEvents, seedRows, []string{`257 states`, `at most 256`}},
		{"too many events", seedStates, make([]lifecycle.Event, 257), seedRows, []string{`257 events`, `at most 256`}},
		{"too many rows", seedStates, seedEvents, make([]lifecycle.Row, 4097), []string{`4097 rows`, `at most 4096`}},
		{"too many problems", seedStates, seedEvents, make([]lifecycle.Row, 4096),
			[]string{`rows[0] ("" + "" -> "")`, `rows[7] ("" + "" -> ""): its target`, `and 16352 more problems`}},
		{"too many graph problems", append(lifecycle.States(), many(101)[1:]...), seedEvents, seedRows,
			[]string{`state "S1" cannot be reached`, `state "S32" cannot be reached`, `and 68 more problems`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := lifecycle.NewTable(tt.states, tt.events, tt.rows)
			require.ErrorIs(t, err, lifecycle.ErrInvalidTable)
			require.Nil(t, tb)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}

		})
	}
}

// TestNewTableStateListedTwice: the repeated state is the one problem
// reported; the rows are not said to collide with themselves.
func TestNewTableStateListedTwice(t *testing.T) {
	_, err := lifecycle.NewTable(append(lifecycle.States(), lifecycle.Drowsy), lifecycle.Events(), lifecycle.Rows())
	require.ErrorIs(t, err, lifecycle.ErrInvalidTable)
	require.EqualError(t, err, `invalid transition table: states[4] "DROWSY": listed already as states[1]`)
}

func TestNewTableAccepts(t *testing.T) {
	tests := []struct {
		name   string
		states []lifecycle.State
		events []lifecycle.Event
		rows   []lifecycle.Row
	}{
		{"the seed", lifecycle.States(), lifecycle.Events(), lifecycle.Rows()},
		{"two states", []lifecycle.State{"NAP", lifecycle.Wake}, []lifecycle.Event{"nap", "up"},
			[]lifecycle.Row{row(lifecycle.Wake, "nap", "", "NAP"), row("NAP", "up", lifecycle.GuardStillIdle, lifecycle.Wake)}},
		{"AnyState alone leads back", []lifecycle.State{lifecycle.Wake, "A", "B"}, []lifecycle.Event{"a", "b", "home"},
			[]lifecycle.Row{row(lifecycle.AnyState, "home", "", lifecycle.Wake), row(lifecycle.Wake, "a", "", "A"),
				row("A", "b", lifecycle.GuardSleepEligible, "B")}},
		{"events without rows", []lifecycle.State{lifecycle.Wake, "A"}, []lifecycle.Event{"go", "back", "never", "used"},
			[]lifecycle.Row{row(lifecycle.Wake, "go", "", "A"), row("A", "back", "", lifecycle.Wake)}},
		{"non-ASCII names", []lifecycle.State{lifecycle.Wake, "SCHLÄFRIG"}, []lifecycle.Event{"müde", "wach"},
			[]lifecycle.Row{row(lifecycle.Wake, "müde", "", "SCHLÄFRIG"), row("SCHLÄFRIG", "wach", "", lifecycle.Wake)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := lifecycle.NewTable(tt.states, tt.events, tt.rows)
			require.NoError(t, err)
			require.Equal(t, tt.states, tb.States())
			require.Equal(t, tt.events, tb.Events())
			require.Equal(t, tt.rows, tb.Rows())
		})
	}
}

// TestTableIsAValue: the table keeps its own copies; changing the slices it
// was built from, or those its accessors return, does not change it.
func TestTableIsAValue(t *testing.T) {
	states, events, rows := lifecycle.States(), lifecycle.Events(), lifecycle.Rows()
	tb, err := lifecycle.NewTable(states, events, rows)
	require.NoError(t, err)
	states[1], events[1], rows[1].To = "X", "x", lifecycle.Sleep
	tb.States()[2], tb.Events()[2], tb.Rows()[2].To = "Y", "y", lifecycle.Sleep
	require.Equal(t, lifecycle.States(), tb.States())
	require.Equal(t, lifecycle.Events(), tb.Events())
	require.Equal(t, lifecycle.Rows(), tb.Rows())
	to, ok := tb.Transition(lifecycle.Wake, lifecycle.Idle5Min, lifecycle.Guards{})
	require.True(t, ok)
	require.Equal(t, lifecycle.Drowsy, to)
}

func TestDefaultTable(t *testing.T) {
	tb := lifecycle.DefaultTable()
	require.Equal(t, lifecycle.States(), tb.States())
	require.Equal(t, lifecycle.Events(), tb.Events())
	require.Equal(t, lifecycle.Rows(), tb.Rows())
}

// TestDefaultTableAgreesWithComputeTransition compares the two over every
// state, event and guard set, and over strings that are neither.
func TestDefaultTableAgreesWithComputeTransition(t *testing.T) {
	states := append(lifecycle.States(), "", "AWAKE", "wake", lifecycle.AnyState)
	events := append(lifecycle.Events(), "", "nap", "TICK", forceSleep, "*")
	tb := lifecycle.DefaultTable()
	transitions := 0
	for _, s := range states {
		for _, ev := range events {
			for _, g := range allGuards {
				wantTo, wantOK := lifecycle.ComputeTransition(s, ev, g)
				to, ok := tb.Transition(s, ev, g)
				require.Equal(t, wantOK, ok, "%q + %q %+v", s, ev, g)
				require.Equal(t, wantTo, to, "%q + %q %+v", s, ev, g)
				if ok {
					transitions++
				}
			}
		}
	}
	require.Equal(t, 28, transitions, "as many as TestComputeTransitionExhaustive counts")
}

func TestTableTransition(t *testing.T) {
	tb := extendedTable(t)
	tests := []struct {
		from   lifecycle.State
		ev     lifecycle.Event
		g      lifecycle.Guards
		to     lifecycle.State
		change bool
	}{
		{lifecycle.Wake, forceSleep, lifecycle.Guards{}, lifecycle.Drowsy, true},
		{lifecycle.Drowsy, forceSleep, lifecycle.Guards{}, lifecycle.Sleep, true},
		{lifecycle.Sleep, forceSleep, lifecycle.Guards{}, lifecycle.Sleep, false},
		{lifecycle.Hibernation, forceSleep, lifecycle.Guards{}, lifecycle.Hibernation, false},
		{lifecycle.Sleep, lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake, true},
		{lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy, false},
		{lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep, true},
		{lifecycle.Wake, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, false},
		{lifecycle.Sleep, lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, true},
		{"NAP", forceSleep, lifecycle.Guards{}, "NAP", false},
	}
	for _, tt := range tests {
		to, ok := tb.Transition(tt.from, tt.ev, tt.g)
		require.Equal(t, tt.change, ok, "%s + %s", tt.from, tt.ev)
		require.Equal(t, tt.to, to, "%s + %s", tt.from, tt.ev)
	}
}

// TestEmptyTable: the zero Table and a nil *Table know nothing and do not
// panic.
func TestEmptyTable(t *testing.T) {
	for name, tb := range map[string]*lifecycle.Table{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			to, ok := tb.Transition(lifecycle.Wake, lifecycle.Idle5Min, lifecycle.Guards{})
			require.False(t, ok)
			require.Equal(t, lifecycle.Wake, to)
			_, err := tb.ParseState("WAKE")
			require.ErrorIs(t, err, lifecycle.ErrUnknownState)
			_, err = tb.ParseEvent("tick")
			require.ErrorIs(t, err, lifecycle.ErrUnknownEvent)
			require.Empty(t, tb.States())
			require.Empty(t, tb.Events())
			require.Empty(t, tb.Rows())
		})
	}
}

func TestTableTransitionDoesNotAllocate(t *testing.T) {
	tb := extendedTable(t)
	allocs := testing.AllocsPerRun(100, func() {
		tb.Transition(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
		tb.Transition(lifecycle.Drowsy, forceSleep, lifecycle.Guards{})
		tb.Transition(lifecycle.Hibernation, lifecycle.Tick, lifecycle.Guards{})
		tb.Transition("NAP", "nap", lifecycle.Guards{})
	})
	require.Zero(t, allocs)
}

func TestTableParse(t *testing.T) {
	tb, err := lifecycle.NewTable([]lifecycle.State{lifecycle.Wake, "NAP"}, []lifecycle.Event{"nap", "up"},
		[]lifecycle.Row{row(lifecycle.Wake, "nap", "", "NAP"), row("NAP", "up", "", lifecycle.Wake)})
	require.NoError(t, err)
	for _, s := range []string{"WAKE", "NAP"} {
		got, err := tb.ParseState(s)
		require.NoError(t, err)
		require.Equal(t, lifecycle.State(s), got)
	}
	for _, s := range []string{"DROWSY", "", "*", "nap", "WAKE "} {
		_, err := tb.ParseState(s)
		require.ErrorIs(t, err, lifecycle.ErrUnknownState, "%q", s)
		require.ErrorContains(t, err, "[WAKE NAP]")
	}
	_, err = tb.ParseState("Nap")
	require.ErrorContains(t, err, `did you mean "NAP"?`)
	_, err = tb.ParseEvent("UP")
	require.ErrorContains(t, err, `did you mean "up"?`)
	for _, s := range []string{"nap", "up"} {
		got, err := tb.ParseEvent(s)
		require.NoError(t, err)
		require.Equal(t, lifecycle.Event(s), got)
	}
	for _, s := range []string{"tick", "", "NAP", "request_arrived"} {
		_, err := tb.ParseEvent(s)
		require.ErrorIs(t, err, lifecycle.ErrUnknownEvent, "%q", s)
		require.ErrorContains(t, err, "[nap up]")
	}
	// The default table parses as the package functions do, word for word.
	for _, s := range []string{"WAKE", "AWAKE", ""} {
		want, wantErr := lifecycle.ParseState(s)
		got, err := lifecycle.DefaultTable().ParseState(s)
		require.Equal(t, want, got)
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err))
	}
	for _, s := range []string{"tick", "nap", ""} {
		want, wantErr := lifecycle.ParseEvent(s)
		got, err := lifecycle.DefaultTable().ParseEvent(s)
		require.Equal(t, want, got)
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err))
	}
}

func TestRowString(t *testing.T) {
	require.Equal(t, "* + request_arrived -> WAKE", lifecycle.Rows()[0].String())
	require.Equal(t, "DROWSY + idle_30min [sleep_eligible] -> SLEEP", lifecycle.Rows()[3].String())
}

// seedJSON is the default table's JSON form.
const seedJSON = `{"states":["WAKE","DROWSY","SLEEP","HIBERNATION"],` +
	`"events":["heartbeat_refresh","idle_5min","idle_30min","sleep_eligible","request_arrived",` +
	`"sleep_cycle_done","hibernation_grace_expired","wake_signal","tick"],` +
	`"rows":[{"from":"*","event":"request_arrived","guard":"","to":"WAKE"},` +
	`{"from":"WAKE","event":"idle_5min","guard":"","to":"DROWSY"},` +
	`{"from":"DROWSY","event":"heartbeat_refresh","guard":"","to":"WAKE"},` +
	`{"from":"DROWSY","event":"idle_30min","guard":"sleep_eligible","to":"SLEEP"},` +
	`{"from":"SLEEP","event":"sleep_cycle_done","guard":"still_idle","to":"HIBERNATION"},` +
	`{"from":"HIBERNATION","event":"wake_signal","guard":"","to":"WAKE"}]}`

func TestTableJSON(t *testing.T) {
	b, err := json.Marshal(lifecycle.DefaultTable())
	require.NoError(t, err)
	require.Equal(t, seedJSON, string(b))

	var tb lifecycle.Table
	require.NoError(t, json.Unmarshal(b, &tb))
	require.Equal(t, lifecycle.States(), tb.States())
	require.Equal(t, lifecycle.Events(), tb.Events())
	require.Equal(t, lifecycle.Rows(), tb.Rows())
	to, ok := tb.Transition(lifecycle.Sleep, lifecycle.RequestArrived, lifecycle.Guards{})
	require.True(t, ok)
	require.Equal(t, lifecycle.Wake, to)

	ext := extendedTable(t)
	b, err = json.MarshalIndent(ext, "", "  ")
	require.NoError(t, err)
	var back lifecycle.Table
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, ext.Rows(), back.Rows())
	require.Equal(t, ext.Events(), back.Events())

	// As a field of a larger document, by value.
	var doc struct{ Table lifecycle.Table }
	require.NoError(t, json.Unmarshal([]byte(`{"Table":`+seedJSON+`}`), &doc))
	require.Equal(t, lifecycle.Rows(), doc.Table.Rows())
	b, err = json.Marshal(doc)
	require.NoError(t, err)
	require.Equal(t, `{"Table":`+seedJSON+`}`, string(b))

	// Nothing to marshal: nil and the zero Table.
	b, err = json.Marshal((*lifecycle.Table)(nil))
	require.NoError(t, err)
	require.Equal(t, `null`, string(b))
	b, err = json.Marshal(&lifecycle.Table{})
	require.NoError(t, err)
	require.Equal(t, `{"states":[],"events":[],"rows":[]}`, string(b))
}

func TestTableJSONGuardMayBeOmitted(t *testing.T) {
	var tb lifecycle.Table
	require.NoError(t, json.Unmarshal([]byte(`{"states":["WAKE","NAP"],"events":["nap","up"],"rows":[
		{"from":"WAKE","event":"nap","to":"NAP"},
		{"from":"NAP","event":"up","guard":"still_idle","to":"WAKE"}]}`), &tb))
	require.Equal(t, []lifecycle.Row{row(lifecycle.Wake, "nap", lifecycle.NoGuard, "NAP"),
		row("NAP", "up", lifecycle.GuardStillIdle, lifecycle.Wake)}, tb.Rows())
}

func TestTableJSONRefuses(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"null", `null`, "want a JSON object"},
		{"array", `[]`, "want a JSON object"},
		{"string", `"WAKE"`, "want a JSON object"},
		{"states missing", `{"events":["tick"],"rows":[]}`, `"states" is missing`},
		{"events missing", `{"states":["WAKE"],"rows":[]}`, `"events" is missing`},
		{"rows missing", `{"states":["WAKE"],"events":["tick"]}`, `"rows" is missing`},
		{"states null", `{"states":null,"events":["tick"],"rows":[]}`, `"states" is missing`},
		{"states a string", `{"states":"WAKE","events":["tick"],"rows":[]}`, "states"},
		{"row a list", `{"states":["WAKE"],"events":["tick"],"rows":[["WAKE","tick","","WAKE"]]}`, "rows"},
		{"guard a bool", `{"states":["WAKE"],"events":["tick"],"rows":[{"from":"WAKE","event":"tick","guard":true,"to":"WAKE"}]}`, "guard"},
		{"unknown key", strings.Replace(seedJSON, `"states"`, `"state":[],"states"`, 1), `unknown field "state"`},
		{"unknown row key", strings.Replace(seedJSON, `"guard":""`, `"guards":""`, 1), `unknown field "guards"`},
		{"invalid table", strings.Replace(seedJSON, `"to":"DROWSY"`, `"to":"DOZING"`, 1), `rows[1] (WAKE + idle_5min -> DOZING)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tb lifecycle.Table
			err := json.Unmarshal([]byte(tt.doc), &tb)
			require.ErrorIs(t, err, lifecycle.ErrInvalidTable)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, tb.States(), "a refused document leaves the table as it was")
		})
	}
}

// writeTable writes data as a table file in a fresh directory.
func writeTable(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "table.json")
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	return path
}

func TestLoadTable(t *testing.T) {
	path := writeTable(t, seedJSON)
	tb, err := lifecycle.LoadTable(path)
	require.NoError(t, err)
	require.Equal(t, lifecycle.Rows(), tb.Rows())

	b, err := json.MarshalIndent(extendedTable(t), "", "  ")
	require.NoError(t, err)
	tb, err = lifecycle.LoadTable(writeTable(t, string(b)))
	require.NoError(t, err)
	require.Equal(t, extendedTable(t).Rows(), tb.Rows())
}

func TestLoadTableRefuses(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantIs  error
		wantMsg string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "table.json") }, fs.ErrNotExist, "no such file"},
		{"directory", func(t *testing.T) string { return t.TempDir() }, nil, "is a directory, not a file"},
		{"fifo", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "table.json")
			require.NoError(t, syscall.Mkfifo(p, 0o600))
			return p
		}, nil, "regular file"},
		{"too big", func(t *testing.T) string {
			p := writeTable(t, seedJSON)
			require.NoError(t, os.Truncate(p, lifecycle.MaxTableSize+1))
			return p
		}, nil, "1048577"},
		{"empty", func(t *testing.T) string { return writeTable(t, "") }, lifecycle.ErrInvalidTable, "not JSON"},
		{"not JSON", func(t *testing.T) string { return writeTable(t, "states: [WAKE]") }, lifecycle.ErrInvalidTable, "not JSON"},
		{"truncated", func(t *testing.T) string { return writeTable(t, seedJSON[:100]) }, lifecycle.ErrInvalidTable, "not JSON"},
		{"data after the object", func(t *testing.T) string { return writeTable(t, seedJSON+"{}") }, lifecycle.ErrInvalidTable, "not JSON"},
		{"invalid table", func(t *testing.T) string {
			return writeTable(t, strings.Replace(seedJSON, `"WAKE","DROWSY"`, `"DROWSY"`, 1))
		}, lifecycle.ErrInvalidTable, "WAKE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			tb, err := lifecycle.LoadTable(path)
			require.Nil(t, tb)
			stRequirePathErr(t, err, path)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			require.ErrorContains(t, err, tt.wantMsg)
		})
	}
}

func BenchmarkTableTransition(b *testing.B) {
	tb := extendedTable(b)
	cycle := []struct {
		from lifecycle.State
		ev   lifecycle.Event
	}{
		{lifecycle.Wake, forceSleep}, {lifecycle.Drowsy, forceSleep},
		{lifecycle.Sleep, lifecycle.SleepCycleDone}, {lifecycle.Hibernation, lifecycle.WakeSignal},
	}
	g := lifecycle.Guards{StillIdle: true}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cycle[i&3]
		if _, ok := tb.Transition(c.from, c.ev, g); !ok {
			b.Fatal("no transition")
		}
	}
}

// napTable has states of its own and no tick: WAKE -nap-> NAP -up-> WAKE.
func napTable(t *testing.T) *lifecycle.Table {
	t.Helper()
	tb, err := lifecycle.NewTable([]lifecycle.State{lifecycle.Wake, "NAP"},
		[]lifecycle.Event{"nap", "up", lifecycle.HeartbeatRefresh},
		[]lifecycle.Row{row(lifecycle.Wake, "nap", "", "NAP"), row("NAP", "up", "", lifecycle.Wake)})
	require.NoError(t, err)
	return tb
}

// TestMachineExtendedTable drives a Machine through both upstream
// extensions and the seed rows the extended table keeps.
func TestMachineExtendedTable(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithTable(extendedTable(t)), lifecycle.WithClock(stepClock()))
	steps := []struct {
		ev   lifecycle.Event
		g    lifecycle.Guards
		want lifecycle.State
	}{
		{forceSleep, lifecycle.Guards{}, lifecycle.Drowsy},
		{forceSleep, lifecycle.Guards{}, lifecycle.Sleep},
		{forceSleep, lifecycle.Guards{}, lifecycle.Sleep}, // no row: a no-op
		{lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake},
		{lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy}, // the seed's guard still holds it
		{forceSleep, lifecycle.Guards{}, lifecycle.Sleep},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, lifecycle.Hibernation},
		{forceSleep, lifecycle.Guards{}, lifecycle.Hibernation},
		{lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake},
	}
	for i, s := range steps {
		got, err := m.Dispatch(s.ev, s.g)
		require.NoError(t, err, "step %d: %s", i, s.ev)
		require.Equal(t, s.want, got, "step %d: %s", i, s.ev)
	}
	want := []string{
		`"from":"WAKE","to":"DROWSY","trigger":"force_sleep","seq":1}`,
		`"from":"DROWSY","to":"SLEEP","trigger":"force_sleep","seq":2}`,
		`"from":"SLEEP","to":"WAKE","trigger":"wake_signal","seq":3}`,
		`"from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":4}`,
		`"from":"DROWSY","to":"SLEEP","trigger":"force_sleep","seq":5}`,
		`"from":"SLEEP","to":"HIBERNATION","trigger":"sleep_cycle_done","seq":6}`,
		`"from":"HIBERNATION","to":"WAKE","trigger":"wake_signal","seq":7}`,
	}
	lines := logLines(t, dir)
	require.Len(t, lines, len(want))
	for i, line := range lines {
		require.True(t, strings.HasSuffix(line, want[i]), line)
	}
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, rec.CurrentState)
	require.Equal(t, int64(7), rec.TransitionSeq)
	require.Equal(t, int64(2), rec.WrapperEventSeq, "wake_signal is activity, force_sleep is not")
}

// TestDefaultMachineHasNoExtensions: the extensions are not defaults.
func TestDefaultMachineHasNoExtensions(t *testing.T) {
	for name, opts := range map[string][]lifecycle.Option{
		"no option":          nil,
		"WithTable(nil)":     {lifecycle.WithTable(nil)},
		"WithTable(default)": {lifecycle.WithTable(lifecycle.DefaultTable())},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m := newMachine(t, dir, opts...)
			_, err := m.Dispatch(forceSleep, lifecycle.Guards{})
			require.ErrorIs(t, err, lifecycle.ErrUnknownEvent)
			for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.Idle30Min} {
				_, err := m.Dispatch(ev, lifecycle.Guards{SleepEligible: true})
				require.NoError(t, err)
			}
			state, err := m.Dispatch(lifecycle.WakeSignal, lifecycle.Guards{})
			require.NoError(t, err)
			require.Equal(t, lifecycle.Sleep, state, "no morning wake in the seed")
		})
	}
}

// TestMachineTableStates: a table's own states are written, read back by a
// Machine with the same table, and refused by everything using the seed's.
func TestMachineTableStates(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m, err := lifecycle.New(dir, lifecycle.WithTable(napTable(t)))
	require.NoError(t, err)
	got, err := m.Dispatch("nap", lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.State("NAP"), got)
	require.NoError(t, m.Close())
	require.Contains(t, string(stRead(t, state)), `"current_state": "NAP"`)

	m = newMachine(t, dir, lifecycle.WithTable(napTable(t)))
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, lifecycle.State("NAP"), rec.CurrentState)
	rec, err = m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
	require.NoError(t, err)
	require.True(t, rec.CrisisMode)
	got, err = m.Dispatch("up", lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
	got, err = m.Dispatch("nap", lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.State("NAP"), got)
	before := stRead(t, state)

	_, err = lifecycle.LoadState(state)
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	require.ErrorContains(t, err, `"NAP"`)
	seed := newMachine(t, t.TempDir(), lifecycle.WithStatePath(state))
	_, err = seed.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	require.Equal(t, before, stRead(t, state))
}

// TestMachineTableEvents: a Machine dispatches its table's events only.
func TestMachineTableEvents(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithTable(napTable(t)))
	for _, ev := range []lifecycle.Event{lifecycle.Tick, lifecycle.Idle5Min, lifecycle.RequestArrived, forceSleep, ""} {
		_, err := m.Dispatch(ev, lifecycle.Guards{})
		require.ErrorIs(t, err, lifecycle.ErrUnknownEvent, "%q", ev)
		require.ErrorContains(t, err, "[nap up heartbeat_refresh]")
	}
	_, err := os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.ErrorIs(t, err, fs.ErrNotExist, "an unknown event writes nothing")
	// heartbeat_refresh is still activity, with or without a row.
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, int64(1), rec.WrapperEventSeq)
}

// TestMachineRefusesStateTheTableDoesNotKnow: a state file in HIBERNATION,
// under a table without it, is refused by every call and left as it is.
func TestMachineRefusesStateTheTableDoesNotKnow(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	seed := newMachine(t, dir)
	for _, s := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{{lifecycle.Idle5Min, lifecycle.Guards{}}, {lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}}} {
		_, err := seed.Dispatch(s.ev, s.g)
		require.NoError(t, err)
	}
	require.NoError(t, seed.Close())
	before, beforeLog := stRead(t, state), logLines(t, dir)

	noHibernation, err := lifecycle.NewTable(
		[]lifecycle.State{lifecycle.Wake, lifecycle.Drowsy, lifecycle.Sleep}, lifecycle.Events(), lifecycle.Rows()[:4])
	require.NoError(t, err)
	m := newMachine(t, dir, lifecycle.WithTable(noHibernation))
	check := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, lifecycle.ErrCorruptState)
		stRequirePathErr(t, err, state)
		require.ErrorContains(t, err, `current_state: unknown state "HIBERNATION" (want one of [WAKE DROWSY SLEEP])`)
	}
	for _, ev := range []lifecycle.Event{lifecycle.RequestArrived, lifecycle.WakeSignal, lifecycle.Tick} {
		_, err := m.Dispatch(ev, lifecycle.Guards{})
		check(err)
	}
	_, err = m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
	check(err)
	_, err = m.Snapshot()
	check(err)
	require.Equal(t, before, stRead(t, state))
	require.Equal(t, beforeLog, logLines(t, dir))
}

func TestWithTableEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	m, err := lifecycle.New(dir, lifecycle.WithTable(&lifecycle.Table{}))
	require.ErrorIs(t, err, lifecycle.ErrInvalidTable)
	require.Nil(t, m)
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, fs.ErrNotExist, "New refuses before it creates anything")
}

// crashedDispatch leaves dir as a dispatch that crashed between its log
// line and its state file would: the state file at WAKE, seq 0, and a log
// line for seq 1 from WAKE to `to`.
// crashedDispatch writes what a dispatch stopped between its state file and
// its log line leaves: a state file that moved WAKE -> to by ev (seq 1,
// carrying its last_transition), and no log line for it.
func crashedDispatch(t *testing.T, dir string, ev lifecycle.Event, to lifecycle.State) (state string, before []byte) {
	t.Helper()
	state = filepath.Join(dir, lifecycle.DefaultStateFile)
	at := time.Date(2026, 11, 25, 22, 45, 40, 0, time.UTC)
	rec := lifecycle.DefaultRecord(t0)
	rec.CurrentState, rec.SinceTS, rec.TransitionSeq = to, at, 1
	rec.LastTransition = &lifecycle.Transition{From: lifecycle.Wake, To: to, Event: ev, Seq: 1, Time: at}
	data, err := rec.MarshalJSON() // not SaveState: to may be a state only a custom table knows
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(state, data, 0o600))
	return state, stRead(t, state)
}

// TestRecoveryWithTable: the line a crashed dispatch owes the log is
// appended whatever the table; a state file in a state the Machine's table
// does not know is a corrupt one for that Machine, and stays as it is.
func TestRecoveryWithTable(t *testing.T) {
	t.Run("into a state of the table", func(t *testing.T) {
		dir := t.TempDir()
		_, before := crashedDispatch(t, dir, "nap", "NAP")
		m := newMachine(t, dir, lifecycle.WithTable(napTable(t)), lifecycle.WithClock(func() time.Time { return t0 }))
		rec, err := m.Snapshot()
		require.NoError(t, err)
		require.Equal(t, lifecycle.State("NAP"), rec.CurrentState)
		require.Equal(t, int64(1), rec.TransitionSeq)
		require.Equal(t, before, stRead(t, m.StatePath()))
		require.Equal(t, []string{`{"ts":"2026-11-25T22:45:40+00:00","event":"state_transition","from":"WAKE","to":"NAP","trigger":"nap","seq":1}`},
			logLines(t, dir))
	})
	for name, tb := range map[string]func(t *testing.T) *lifecycle.Table{
		"the seed's table": func(*testing.T) *lifecycle.Table { return lifecycle.DefaultTable() },
		"a custom table":   napTable,
	} {
		t.Run("into a state "+name+" does not know", func(t *testing.T) {
			dir := t.TempDir()
			state, before := crashedDispatch(t, dir, "dive", "DEEP")
			m := newMachine(t, dir, lifecycle.WithTable(tb(t)), lifecycle.WithClock(func() time.Time { return t0 }))
			for range 2 {
				_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				require.ErrorIs(t, err, lifecycle.ErrUnknownState)
				stRequirePathErr(t, err, state)
			}
			require.Equal(t, before, stRead(t, state))
			require.Empty(t, logLines(t, dir))
		})
	}
}
