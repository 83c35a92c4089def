package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/iai-mcp/lifecycle"
)

const repairDetails = `Mends a corrupt state file: moves it aside (to STATEFILE.corrupt-TIME,
beside it; it is never deleted) and writes, durably, a record rebuilt from
the event log's last transition: its state, its time as since_ts, the log's
highest seq as transition_seq, and the transition as last_transition. The
fields the log cannot know take their defaults, and the command lists
them. A log without a transition gives the default record.

--dry-run shows what it would write and changes nothing. A sound or
missing state file is left as it is. It refuses while a daemon holds the
directory or another process holds the lifecycle lock (exit 3). A
directory kept with a table of its own needs its --table FILE: the states
of another table read as unknown, so as corrupt.

With --json, one object: {"state_file":...,"corrupt":true|false,
"problem":...,"dry_run":...,"moved_to":...,"from":{transition}|null,
"defaults":[...],"record":{the record}}.
`

type repairCmd struct {
	dryRun bool
	json   bool
	table  tableArg
}

func (c *repairCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.dryRun, "dry-run", false, "show what would be written; change nothing")
	fs.BoolVar(&c.json, "json", false, "print what was done as one JSON object")
	c.table.define(fs)
}

func (c *repairCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("repair", "unexpected argument %q", args[0])
	}
	t, err := c.table.load()
	if err != nil {
		return err
	}
	dir, err := e.lifecycleDir("repair")
	if err != nil {
		return err
	}
	r, err := lifecycle.RepairState(dir, c.dryRun, lifecycle.WithTable(t), lifecycle.WithClock(e.now))
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(e, r)
	}
	c.printHuman(e, r)
	return nil
}

func (c *repairCmd) printHuman(e *env, r lifecycle.Repair) {
	if r.Problem == nil {
		fmt.Fprintf(e.out, "%s is sound or missing: nothing to repair\n", r.StatePath)
		return
	}
	fmt.Fprintf(e.out, "corrupt: %v\n", r.Problem)
	if c.dryRun {
		fmt.Fprintf(e.out, "would move it aside (kept, not deleted) and write:\n")
	} else {
		fmt.Fprintf(e.out, "moved it to %s (kept, not deleted) and wrote:\n", r.MovedTo)
	}
	// As the state file has it: indented by two spaces.
	var file bytes.Buffer
	if data, err := r.Record.MarshalJSON(); err == nil && json.Indent(&file, data, "", "  ") == nil {
		fmt.Fprintf(e.out, "%s\n", file.Bytes())
	}
	if r.From == nil {
		fmt.Fprintf(e.out, "the log has no transition: the record is the default, at seq %d\n", r.Record.TransitionSeq)
	} else {
		fmt.Fprintf(e.out, "from the log's last transition: %s\n", transitionText(*r.From))
	}
	fmt.Fprintf(e.out, "set to defaults (the log cannot know them): %s\n", strings.Join(r.Defaults, ", "))
	if c.dryRun {
		fmt.Fprintf(e.out, "dry run: nothing changed; run without --dry-run to write it\n")
	}
}

func (c *repairCmd) printJSON(e *env, r lifecycle.Repair) error {
	out := struct {
		StateFile string            `json:"state_file"`
		Corrupt   bool              `json:"corrupt"`
		Problem   *string           `json:"problem"`
		DryRun    bool              `json:"dry_run"`
		MovedTo   *string           `json:"moved_to"`
		From      *lineJSON         `json:"from"`
		Defaults  []string          `json:"defaults"`
		Record    *lifecycle.Record `json:"record"`
	}{StateFile: r.StatePath, Corrupt: r.Problem != nil, DryRun: c.dryRun, From: trJSON(r.From), Defaults: []string{}}
	if r.Problem != nil {
		p := r.Problem.Error()
		out.Problem, out.Record, out.Defaults = &p, &r.Record, r.Defaults
	}
	if r.MovedTo != "" {
		out.MovedTo = &r.MovedTo
	}
	return json.NewEncoder(e.out).Encode(out)
}
