package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const graphDetails = `Generated from the library's transition table: one edge per row, a row
from any state giving one edge from each other state, labelled
"event [guard]". The start marker points at the state a new machine has.
Mermaid renders on GitHub; dot is Graphviz (dot -Tsvg).
`

type graphCmd struct{ format string }

func (c *graphCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", "mermaid", "`mermaid` or dot")
}

func (c *graphCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("graph", "unexpected argument %q", args[0])
	}
	switch c.format {
	case "mermaid":
		writeMermaid(e.out)
	case "dot":
		writeDot(e.out)
	default:
		return usagef("graph", "--format %q: want mermaid or dot", c.format)
	}
	return nil
}

// edge is one arrow of the diagram.
type edge struct {
	from, to lifecycle.State
	label    string
}

// edges are the table's rows in order, a row from AnyState expanded to one
// edge from each other state, in States order.
func edges() []edge {
	var out []edge
	for _, r := range lifecycle.Rows() {
		label := string(r.Event)
		if r.Guard != lifecycle.NoGuard {
			label += " [" + string(r.Guard) + "]"
		}
		if r.From != lifecycle.AnyState {
			out = append(out, edge{r.From, r.To, label})
			continue
		}
		for _, s := range lifecycle.States() {
			if s != r.To {
				out = append(out, edge{s, r.To, label})
			}
		}
	}
	return out
}

// initialState is the state of a machine that has never run.
func initialState() lifecycle.State { return lifecycle.DefaultRecord(time.Time{}).CurrentState }

func writeMermaid(w io.Writer) {
	fmt.Fprintln(w, "stateDiagram-v2")
	fmt.Fprintf(w, "    [*] --> %s\n", initialState())
	for _, e := range edges() {
		fmt.Fprintf(w, "    %s --> %s : %s\n", e.from, e.to, e.label)
	}
}

func writeDot(w io.Writer) {
	fmt.Fprintln(w, "digraph lifecycle {")
	fmt.Fprintln(w, "    rankdir=LR;")
	fmt.Fprintln(w, "    node [shape=box, style=rounded];")
	fmt.Fprintln(w, "    start [shape=point];")
	fmt.Fprintf(w, "    start -> %q;\n", initialState())
	for _, e := range edges() {
		fmt.Fprintf(w, "    %q -> %q [label=%q];\n", e.from, e.to, e.label)
	}
	fmt.Fprintln(w, "}")
}
