package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

func dispatchDetails() string {
	return `Dispatches EVENT through a lifecycle Machine, exactly as a daemon would:
under the lock, durably, with the transition recorded in the event log. The
guard flags are the payload that guarded rows of the table read.

EVENT is one of:
` + wrapWords(eventNames(lifecycle.DefaultTable()), "  ", 76) + `
With --table FILE it is one of that table's events instead, and the
Machine has that table (lifecycle.WithTable): its rows move the machine,
and its states are those the state file may hold. A state file in a state
the table does not know (without --table: a state of another table) is
refused and left as it is. A table file that cannot be read or is not a
valid table is an error (exit 1) naming the file.

The directory must exist (exit 1 otherwise): --init creates it (0700, with
its parents) when it does not, and says so on standard error.

Without --wait a lock held by another process fails at once (exit 3); with
--wait the command waits up to DURATION for it.

With --reason REASON the transition's log line and the state file's
last_transition give REASON as their "trigger" instead of the event's
name, as the Python project's dispatch(event, reason=...) writes it (the
Python daemon writes reasons such as drowsy_on_idle_5min). A reason that
is not valid UTF-8, holds a character that is not printable (a newline, a
tab) or is longer than 256 bytes is refused (exit 2), before anything is
written.

The shadow_run flag of the state file is kept as it is. The command never
rotates the log (see "rotate"). It prints what its own dispatch did, as the
Machine reports it: "FROM -> TO", or "no transition (STATE)", followed,
when a row of the table would have moved the machine but for a guard flag
that was not given, by the flag it needs. With --json, one object:
{"event":...,"reason":...,"sleep_eligible":...,"still_idle":...,"from":...,"to":...,
"changed":true,"seq":N,"ts":...} for a transition (seq and ts those of its
log line), {...,"changed":false,"missing_guard":"sleep_eligible"} for none
(reason only when given, missing_guard only when a guard was missing).
`
}

type dispatchCmd struct {
	reason string
	guards lifecycle.Guards
	wait   time.Duration
	table  tableArg
	init   bool
	json   bool
}

func (c *dispatchCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.guards.SleepEligible, "sleep-eligible", false, "set the sleep_eligible guard (DROWSY + idle_30min -> SLEEP)")
	fs.BoolVar(&c.guards.StillIdle, "still-idle", false, "set the still_idle guard (SLEEP + sleep_cycle_done -> HIBERNATION)")
	fs.StringVar(&c.reason, "reason", "", "write `REASON` as the transition's trigger instead of the event's name")
	durationVar(fs, &c.wait, "wait", 0, "wait up to `DURATION` for the lock instead of failing at once")
	c.table.define(fs)
	fs.BoolVar(&c.init, "init", false, "create the lifecycle directory if it does not exist")
	fs.BoolVar(&c.json, "json", false, "print what the dispatch did as one JSON object")
}

func (c *dispatchCmd) run(e *env, args []string) error {
	if c.wait < 0 {
		return usagef("dispatch", "--wait %v: want a positive duration", c.wait)
	}
	if err := lifecycle.CheckReason(c.reason); err != nil {
		return usagef("dispatch", "--reason: %v", err)
	}
	t, err := c.table.load()
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("dispatch", "want exactly one EVENT, one of%s: %s", c.table.which(), eventList(t))
	}
	ev, err := t.ParseEvent(args[0])
	if err != nil {
		return usagef("dispatch", "unknown event %q; valid events%s: %s", args[0], c.table.which(), eventList(t))
	}
	dir, how, err := e.storeDir()
	if err != nil {
		return err
	}
	created := false
	if err := checkDir("dispatch", dir, how); err != nil {
		switch {
		case !isNoSuchDir(dir):
			return err
		case !c.init:
			return fmt.Errorf("%w; --init creates it", err)
		}
		created = true
	}
	// Dispatch writes the Machine's shadow_run setting into the record, so
	// the Machine takes the file's own. A corrupt file, or one in a state
	// the table does not know, stops us here, before anything is created.
	cur, t, err := c.table.loadState(t, filepath.Join(dir, lifecycle.DefaultStateFile))
	if err != nil {
		return err
	}
	// The observer hears of the transition this dispatch makes, before
	// Dispatch returns: what the Machine did, not a guess from a state read
	// before it (another process may dispatch in between).
	var made *lifecycle.Transition
	m, err := lifecycle.New(dir, lifecycle.WithTable(t), lifecycle.WithShadowRun(cur.ShadowRun), lifecycle.WithRetention(0),
		lifecycle.WithObserver(func(tr lifecycle.Transition) { made = &tr }),
		lifecycle.WithReasons(func(lifecycle.Event) string { return c.reason }))
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stderr, "%s dispatch: created the lifecycle directory %s\n", progName, dir)
	}
	to, err := c.dispatch(e.ctx, m, ev)
	if cerr := m.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", m.LockPath(), cerr)
	}
	if err != nil {
		return err
	}
	r := dispatchResult{Event: ev, Reason: c.reason, SleepEligible: c.guards.SleepEligible, StillIdle: c.guards.StillIdle, From: to, To: to}
	if made != nil {
		r.From, r.Changed, r.Seq, r.TS = made.From, true, made.Seq, lifecycle.FormatTimestamp(made.Time)
	} else {
		if row, ok := missingGuard(t, to, ev, c.guards); ok {
			r.MissingGuard, r.blockedTo = row.Guard, row.To
		}
	}
	if !r.Changed && r.MissingGuard == lifecycle.NoGuard {
		if hint := rowlessHint(t, to, ev); hint != "" {
			fmt.Fprintln(e.stderr, hint)
		}
	}
	if c.json {
		return json.NewEncoder(e.out).Encode(r)
	}
	fmt.Fprintln(e.out, r.line())
	return nil
}

// isNoSuchDir reports whether nothing is at dir.
func isNoSuchDir(dir string) bool {
	_, err := os.Stat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

// dispatch dispatches ev, at once or waiting for the lock.
func (c *dispatchCmd) dispatch(ctx context.Context, m *lifecycle.Machine, ev lifecycle.Event) (lifecycle.State, error) {
	var to lifecycle.State
	var err error
	if c.wait > 0 {
		ctx, cancel := context.WithTimeout(ctx, c.wait)
		to, err = m.DispatchContext(ctx, ev, c.guards)
		cancel()
	} else {
		to, err = m.Dispatch(ev, c.guards)
	}
	if errors.Is(err, lifecycle.ErrLocked) && c.wait == 0 {
		return "", fmt.Errorf("%w (use --wait DURATION to wait for it)", err)
	}
	return to, err
}

// dispatchResult is what a dispatch did, as --json prints it.
type dispatchResult struct {
	Event         lifecycle.Event `json:"event"`
	Reason        string          `json:"reason,omitempty"`
	SleepEligible bool            `json:"sleep_eligible"`
	StillIdle     bool            `json:"still_idle"`
	From          lifecycle.State `json:"from"`
	To            lifecycle.State `json:"to"`
	Changed       bool            `json:"changed"`
	Seq           int64           `json:"seq,omitempty"`
	TS            string          `json:"ts,omitempty"`
	MissingGuard  lifecycle.Guard `json:"missing_guard,omitempty"`
	blockedTo     lifecycle.State // where the row MissingGuard blocked goes
}

// line is the result as one human line.
func (r dispatchResult) line() string {
	switch {
	case r.Changed:
		return fmt.Sprintf("%s -> %s", r.From, r.To)
	case r.MissingGuard != lifecycle.NoGuard:
		return fmt.Sprintf("no transition (%s): %s moves %s to %s only with %s", r.To, r.Event, r.To, r.blockedTo, guardFlag(r.MissingGuard))
	}
	return fmt.Sprintf("no transition (%s)", r.To)
}

// missingGuard finds the row of t that would have moved the machine out of
// state on ev but for its guard, which g does not hold. There is none when
// no guard is to blame (no row, or a row to state itself).
func missingGuard(t *lifecycle.Table, state lifecycle.State, ev lifecycle.Event, g lifecycle.Guards) (lifecycle.Row, bool) {
	for _, r := range t.Rows() {
		if (r.From == state || r.From == lifecycle.AnyState) && r.Event == ev && r.To != state &&
			r.Guard != lifecycle.NoGuard && !r.Guard.Holds(g) {
			return r, true
		}
	}
	return lifecycle.Row{}, false
}

// guardFlag is the command-line flag that sets g.
func guardFlag(g lifecycle.Guard) string {
	switch g {
	case lifecycle.GuardSleepEligible:
		return "--sleep-eligible"
	case lifecycle.GuardStillIdle:
		return "--still-idle"
	}
	return string(g)
}

// rowlessHint says, on a "no transition", that no row of the table t has
// the event ev from any state (tick, a no-op by design, aside): such an
// event never moves the machine, and one named like a guard is easy to
// mistake for the guard, whose flag it then names. "" otherwise.
func rowlessHint(t *lifecycle.Table, from lifecycle.State, ev lifecycle.Event) string {
	rows := t.Rows()
	for _, r := range rows {
		if r.Event == ev {
			return ""
		}
	}
	if ev == lifecycle.Tick {
		return ""
	}
	hint := fmt.Sprintf("no transition (%s): no row of the table has the event %s, from any state, so it never moves the machine", from, ev)
	guard := lifecycle.Guard(ev)
	if guard != lifecycle.GuardSleepEligible && guard != lifecycle.GuardStillIdle {
		return hint
	}
	hint += fmt.Sprintf("; the guard %s is the flag %s", guard, guardFlag(guard))
	var readers []string
	for _, r := range rows {
		if r.Guard == guard {
			from := r.From
			if from == lifecycle.AnyState {
				from = "any"
			}
			readers = append(readers, fmt.Sprintf("%s --%s--> %s", from, r.Event, r.To))
		}
	}
	switch len(readers) {
	case 0:
	case 1:
		hint += ", read by the row " + readers[0]
	default:
		hint += ", read by the rows " + strings.Join(readers, ", ")
	}
	return hint
}
