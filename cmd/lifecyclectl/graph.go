package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const graphDetails = `Generated from the transition table: one edge per row, a row from any
state giving one edge from each other state, labelled "event [guard]". The
start marker points at the state a new machine has. The table is the
library's, or with --table FILE the one in that file (a table file that
cannot be read or is not a valid table is an error, exit 1, naming it).
Mermaid renders on GitHub; dot is Graphviz (dot -Tsvg); json is the table's
JSON form, the form --table reads (a start for a table of one's own). The
diagram takes no --dir: it reads no lifecycle directory. In mermaid, a state
whose name is not a plain word ([A-Za-z_][A-Za-z0-9_]*) is drawn under a
stand-in identifier labelled with its name.
`

type graphCmd struct {
	format string
	table  tableArg
}

func (c *graphCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", "mermaid", "`mermaid`, dot, or json (the table's JSON form)")
	c.table.define(fs)
}

func (c *graphCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("graph", "unexpected argument %q", args[0])
	}
	write := writeMermaid
	switch c.format {
	case "mermaid", "json":
	case "dot":
		write = writeDot
	default:
		return usagef("graph", "--format %q: want mermaid, dot or json", c.format)
	}
	t, err := c.table.load()
	if err != nil {
		return err
	}
	if c.format == "json" {
		return writeTableJSON(e.out, t)
	}
	write(e.out, t)
	return nil
}

// writeTableJSON writes t in the JSON form --table reads, a row a line.
func writeTableJSON(w io.Writer, t *lifecycle.Table) error {
	type row struct {
		From  lifecycle.State `json:"from"`
		Event lifecycle.Event `json:"event"`
		Guard lifecycle.Guard `json:"guard,omitempty"`
		To    lifecycle.State `json:"to"`
	}
	states, err := json.Marshal(t.States())
	if err != nil {
		return err
	}
	events, err := json.Marshal(t.Events())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "{\n  \"states\": %s,\n  \"events\": %s,\n  \"rows\": [\n", states, events)
	rows := t.Rows()
	for i, r := range rows {
		b, err := json.Marshal(row(r))
		if err != nil {
			return err
		}
		sep := ","
		if i == len(rows)-1 {
			sep = ""
		}
		fmt.Fprintf(w, "    %s%s\n", b, sep)
	}
	_, err = fmt.Fprintln(w, "  ]\n}")
	return err
}

// edge is one arrow of the diagram.
type edge struct {
	from, to lifecycle.State
	label    string
}

// edges are t's rows in order, a row from AnyState expanded to one edge
// from each other state, in the order t lists its states.
func edges(t *lifecycle.Table) []edge {
	var out []edge
	for _, r := range t.Rows() {
		label := string(r.Event)
		if r.Guard != lifecycle.NoGuard {
			label += " [" + string(r.Guard) + "]"
		}
		if r.From != lifecycle.AnyState {
			out = append(out, edge{r.From, r.To, label})
			continue
		}
		for _, s := range t.States() {
			if s != r.To {
				out = append(out, edge{s, r.To, label})
			}
		}
	}
	return out
}

// initialState is the state of a machine that has never run, whatever its
// table (every table has it).
func initialState() lifecycle.State { return lifecycle.DefaultRecord(time.Time{}).CurrentState }

func writeMermaid(w io.Writer, t *lifecycle.Table) {
	ids, decls := mermaidIDs(t)
	fmt.Fprintln(w, "stateDiagram-v2")
	for _, d := range decls {
		fmt.Fprintf(w, "    %s\n", d)
	}
	fmt.Fprintf(w, "    [*] --> %s\n", ids[initialState()])
	for _, e := range edges(t) {
		fmt.Fprintf(w, "    %s --> %s : %s\n", ids[e.from], ids[e.to], e.label)
	}
}

// mermaidIDs maps t's states to mermaid identifiers, and returns the
// declarations they need. A plain word is its own identifier; any other
// name (a custom table may have "[*]" or "a-->b") gets a stand-in, "s" and
// its position in t's states, declared with the name as its label, so that
// the name cannot change the diagram.
func mermaidIDs(t *lifecycle.Table) (map[lifecycle.State]string, []string) {
	states := t.States()
	taken := make(map[string]bool, len(states))
	for _, s := range states {
		taken[string(s)] = true
	}
	ids := make(map[lifecycle.State]string, len(states))
	var decls []string
	for i, s := range states {
		if plainWord.MatchString(string(s)) {
			ids[s] = string(s)
			continue
		}
		id := "s" + strconv.Itoa(i)
		for taken[id] {
			id += "_"
		}
		ids[s] = id
		decls = append(decls, fmt.Sprintf("state \"%s\" as %s", mermaidEscape.Replace(string(s)), id))
	}
	return ids, decls
}

var (
	plainWord = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// mermaidEscape writes a label's # and " as mermaid's entity codes.
	mermaidEscape = strings.NewReplacer("#", "#35;", `"`, "#34;")
)

func writeDot(w io.Writer, t *lifecycle.Table) {
	fmt.Fprintln(w, "digraph lifecycle {")
	fmt.Fprintln(w, "    rankdir=LR;")
	fmt.Fprintln(w, "    node [shape=box, style=rounded];")
	fmt.Fprintln(w, "    start [shape=point];")
	fmt.Fprintf(w, "    start -> %q;\n", initialState())
	for _, e := range edges(t) {
		fmt.Fprintf(w, "    %q -> %q [label=%q];\n", e.from, e.to, e.label)
	}
	fmt.Fprintln(w, "}")
}
