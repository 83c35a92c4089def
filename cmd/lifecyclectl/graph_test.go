package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// extendedTable is the seed plus the two upstream extensions, as in the
// library's ExampleNewTable: force_sleep walks WAKE -> DROWSY -> SLEEP
// without the guards, and a morning wake_signal brings SLEEP back to WAKE.
func extendedTable(t *testing.T) *lifecycle.Table {
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

const forceSleep lifecycle.Event = "force_sleep"

// napTable has a state of its own and an any-state row.
func napTable(t *testing.T) *lifecycle.Table {
	t.Helper()
	tb, err := lifecycle.NewTable([]lifecycle.State{lifecycle.Wake, "NAP", "DEEP"},
		[]lifecycle.Event{"nap", "deeper", lifecycle.RequestArrived},
		[]lifecycle.Row{
			{From: lifecycle.Wake, Event: "nap", To: "NAP"},
			{From: "NAP", Event: "deeper", Guard: lifecycle.GuardStillIdle, To: "DEEP"},
			{From: lifecycle.AnyState, Event: lifecycle.RequestArrived, To: lifecycle.Wake},
		})
	require.NoError(t, err)
	return tb
}

// The diagram of a table has an edge exactly where the table's Transition
// moves the machine, labelled with the event and the guard it needs.
func TestEdgesAreTheTransitions(t *testing.T) {
	tables := []struct {
		name  string
		table func(*testing.T) *lifecycle.Table
		edges int
	}{
		{"default", func(*testing.T) *lifecycle.Table { return lifecycle.DefaultTable() }, 8},
		{"extended", extendedTable, 11},
		{"nap", napTable, 4},
	}
	type key struct {
		from, to lifecycle.State
		label    string
	}
	guards := []struct {
		g      lifecycle.Guards
		suffix string
	}{
		{lifecycle.Guards{}, ""},
		{lifecycle.Guards{SleepEligible: true}, " [sleep_eligible]"},
		{lifecycle.Guards{StillIdle: true}, " [still_idle]"},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			tb := tc.table(t)
			want := map[key]bool{}
			for _, from := range tb.States() {
				for _, ev := range tb.Events() {
					base, baseChanged := tb.Transition(from, ev, lifecycle.Guards{})
					for _, g := range guards {
						to, changed := tb.Transition(from, ev, g.g)
						if !changed || g.suffix != "" && baseChanged && base == to {
							continue // the guard is not what makes this edge
						}
						want[key{from, to, string(ev) + g.suffix}] = true
					}
				}
			}
			got := map[key]bool{}
			for _, e := range edges(tb) {
				k := key(e)
				require.False(t, got[k], "duplicate edge %v", k)
				got[k] = true
			}
			require.Equal(t, want, got)
			require.Len(t, got, tc.edges)
		})
	}
}

func TestGraphFormats(t *testing.T) {
	tests := []struct {
		format string
		first  string
		edge   string
	}{
		{"mermaid", "stateDiagram-v2\n    [*] --> WAKE\n", "    DROWSY --> SLEEP : idle_30min [sleep_eligible]\n"},
		{"dot", "digraph lifecycle {\n", `    "DROWSY" -> "SLEEP" [label="idle_30min [sleep_eligible]"];` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.Equal(t, exitOK, run([]string{"graph", "--format", tt.format}, &stdout, &stderr))
			require.Empty(t, stderr.String())
			require.True(t, bytes.HasPrefix(stdout.Bytes(), []byte(tt.first)), stdout.String())
			require.Contains(t, stdout.String(), tt.edge)
			// One line per edge, plus the frame.
			require.Equal(t, len(edges(lifecycle.DefaultTable())), bytes.Count(stdout.Bytes(), []byte(" --> "))+bytes.Count(stdout.Bytes(), []byte(" -> "))-1)
		})
	}
}

var mermaidBlock = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

// The README shows the output of "graph --format mermaid"; this fails when
// the two drift apart. To mend it, paste the command's output into the
// README's mermaid block.
func TestREADMEMermaidIsGraphOutput(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks := mermaidBlock.FindAllSubmatch(readme, -1)
	require.Len(t, blocks, 1, "README.md should have exactly one ```mermaid block")

	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"graph", "--format", "mermaid"}, &stdout, &stderr), stderr.String())
	require.Equal(t, stdout.String(), string(blocks[0][1]),
		"README.md's mermaid block differs from `go run ./cmd/lifecyclectl graph`")
}

// A state whose name is not a plain word gets a stand-in identifier in
// mermaid, declared with the name as its label, so that a name holding
// mermaid syntax cannot change the diagram; dot quotes every name.
func TestGraphOddStateNames(t *testing.T) {
	tb, err := lifecycle.NewTable([]lifecycle.State{lifecycle.Wake, "[*]", `say"hi"#1;`, "s1", "s1_"},
		[]lifecycle.Event{"go", "on", "back"},
		[]lifecycle.Row{
			{From: lifecycle.Wake, Event: "go", To: "[*]"},
			{From: "[*]", Event: "on", To: `say"hi"#1;`},
			{From: `say"hi"#1;`, Event: "on", To: "s1"},
			{From: "s1", Event: "on", To: "s1_"},
			{From: lifecycle.AnyState, Event: "back", To: lifecycle.Wake},
		})
	require.NoError(t, err)
	tests := []struct {
		name  string
		write func(io.Writer, *lifecycle.Table)
		want  string
	}{
		{"mermaid", writeMermaid, `stateDiagram-v2
    state "[*]" as s1__
    state "say#34;hi#34;#35;1;" as s2
    [*] --> WAKE
    WAKE --> s1__ : go
    s1__ --> s2 : on
    s2 --> s1 : on
    s1 --> s1_ : on
    s1__ --> WAKE : back
    s2 --> WAKE : back
    s1 --> WAKE : back
    s1_ --> WAKE : back
`},
		{"dot", writeDot, `digraph lifecycle {
    rankdir=LR;
    node [shape=box, style=rounded];
    start [shape=point];
    start -> "WAKE";
    "WAKE" -> "[*]" [label="go"];
    "[*]" -> "say\"hi\"#1;" [label="on"];
    "say\"hi\"#1;" -> "s1" [label="on"];
    "s1" -> "s1_" [label="on"];
    "[*]" -> "WAKE" [label="back"];
    "say\"hi\"#1;" -> "WAKE" [label="back"];
    "s1" -> "WAKE" [label="back"];
    "s1_" -> "WAKE" [label="back"];
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.write(&b, tb)
			require.Equal(t, tt.want, b.String())
		})
	}
}
