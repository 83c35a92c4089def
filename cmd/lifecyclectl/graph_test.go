package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// The diagram has an edge exactly where ComputeTransition moves the
// machine, labelled with the event and the guard it needs.
func TestEdgesAreTheTransitions(t *testing.T) {
	type key struct {
		from, to lifecycle.State
		label    string
	}
	want := map[key]bool{}
	guards := []struct {
		g      lifecycle.Guards
		suffix string
	}{
		{lifecycle.Guards{}, ""},
		{lifecycle.Guards{SleepEligible: true}, " [sleep_eligible]"},
		{lifecycle.Guards{StillIdle: true}, " [still_idle]"},
	}
	for _, from := range lifecycle.States() {
		for _, ev := range lifecycle.Events() {
			base, baseChanged := lifecycle.ComputeTransition(from, ev, lifecycle.Guards{})
			for _, g := range guards {
				to, changed := lifecycle.ComputeTransition(from, ev, g.g)
				if !changed || g.suffix != "" && baseChanged && base == to {
					continue // the guard is not what makes this edge
				}
				want[key{from, to, string(ev) + g.suffix}] = true
			}
		}
	}
	got := map[key]bool{}
	for _, e := range edges() {
		k := key(e)
		require.False(t, got[k], "duplicate edge %v", k)
		got[k] = true
	}
	require.Equal(t, want, got)
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
			require.Equal(t, len(edges()), bytes.Count(stdout.Bytes(), []byte(" --> "))+bytes.Count(stdout.Bytes(), []byte(" -> "))-1)
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
