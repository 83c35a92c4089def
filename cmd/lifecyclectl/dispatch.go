package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

Without --wait a lock held by another process fails at once (exit 3); with
--wait the command waits up to DURATION for it.

The shadow_run flag of the state file is kept as it is. The command never
rotates the log (see "rotate"). It prints "FROM -> TO" or "no transition
(STATE)". FROM is read just before the dispatch; should another process
dispatch in between, the printed line says so rather than guess.

When the table explains a "no transition", a hint on stderr says how: the
row from STATE for EVENT has a guard whose flag was not given, or no row of
the table has EVENT at all, from any state (sleep_eligible and
hibernation_grace_expired in the default table: sleep_eligible is not the
guard of that name, which is --sleep-eligible). tick, a no-op by design,
gets no hint.
`
}

type dispatchCmd struct {
	guards lifecycle.Guards
	wait   time.Duration
	table  tableArg
}

func (c *dispatchCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.guards.SleepEligible, "sleep-eligible", false, "set the sleep_eligible guard (DROWSY + idle_30min -> SLEEP)")
	fs.BoolVar(&c.guards.StillIdle, "still-idle", false, "set the still_idle guard (SLEEP + sleep_cycle_done -> HIBERNATION)")
	fs.DurationVar(&c.wait, "wait", 0, "wait up to `DURATION` for the lock instead of failing at once")
	c.table.define(fs)
}

func (c *dispatchCmd) run(e *env, args []string) error {
	if c.wait < 0 {
		return usagef("dispatch", "--wait %v: want a positive duration", c.wait)
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
	dir, err := e.storeDir()
	if err != nil {
		return err
	}
	// Dispatch writes the Machine's shadow_run setting into the record, so
	// the Machine takes the file's own. A corrupt file, or one in a state
	// the table does not know, stops us here, before anything is created.
	cur, err := c.table.loadState(t, filepath.Join(dir, lifecycle.DefaultStateFile))
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir, lifecycle.WithTable(t), lifecycle.WithShadowRun(cur.ShadowRun), lifecycle.WithRetention(0))
	if err != nil {
		return err
	}
	line, hint, err := c.dispatch(e.ctx, m, t, ev)
	if cerr := m.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", m.LockPath(), cerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, line)
	if hint != "" {
		fmt.Fprintln(e.stderr, hint)
	}
	return nil
}

// dispatch dispatches ev and describes what it did, with a hint when the
// table explains why nothing moved.
func (c *dispatchCmd) dispatch(ctx context.Context, m *lifecycle.Machine, t *lifecycle.Table, ev lifecycle.Event) (line, hint string, err error) {
	// The state before the dispatch, for the message.
	before, err := m.Snapshot()
	if err != nil {
		return "", "", err
	}
	var to lifecycle.State
	if c.wait > 0 {
		ctx, cancel := context.WithTimeout(ctx, c.wait)
		to, err = m.DispatchContext(ctx, ev, c.guards)
		cancel()
	} else {
		to, err = m.Dispatch(ev, c.guards)
	}
	if errors.Is(err, lifecycle.ErrLocked) && c.wait == 0 {
		return "", "", fmt.Errorf("%w (use --wait DURATION to wait for it)", err)
	}
	if err != nil {
		return "", "", err
	}
	if want, changed := t.Transition(before.CurrentState, ev, c.guards); want == to && !changed {
		hint = noTransitionHint(t, to, ev, c.guards)
	}
	return describe(t, before.CurrentState, ev, c.guards, to), hint, nil
}

// guardFlags are the flags that set each guard.
var guardFlags = map[lifecycle.Guard]string{
	lifecycle.GuardSleepEligible: "--sleep-eligible",
	lifecycle.GuardStillIdle:     "--still-idle",
}

// noTransitionHint says, from the table t, why ev did not move the machine
// out of the state from with the guards g, when the table tells: the row
// for (from, ev) needs a guard that g lacks, or no row has ev at all (which
// makes an event named like a guard easy to mistake for it). Otherwise, and
// for tick, a no-op by design, it returns "".
func noTransitionHint(t *lifecycle.Table, from lifecycle.State, ev lifecycle.Event, g lifecycle.Guards) string {
	rows := t.Rows()
	hasRow := false
	for _, r := range rows {
		if r.Event != ev {
			continue
		}
		hasRow = true
		if (r.From == from || r.From == lifecycle.AnyState) && r.To != from && !r.Guard.Holds(g) {
			return fmt.Sprintf("no transition (%s): the row %s needs %s", from, rowText(r, from), guardFlags[r.Guard])
		}
	}
	if hasRow || ev == lifecycle.Tick {
		return ""
	}
	hint := fmt.Sprintf("no transition (%s): no row of the table has the event %s, from any state, so it never moves the machine", from, ev)
	guard := lifecycle.Guard(ev)
	flag, ok := guardFlags[guard]
	if !ok {
		return hint
	}
	hint += fmt.Sprintf("; the guard %s is the flag %s", guard, flag)
	var readers []string
	for _, r := range rows {
		if r.Guard == guard {
			readers = append(readers, rowText(r, r.From))
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

// rowText writes r as "FROM --event--> TO", FROM being from (the state an
// AnyState row is read from; "any" if that is AnyState too).
func rowText(r lifecycle.Row, from lifecycle.State) string {
	if from == lifecycle.AnyState {
		from = "any"
	}
	return fmt.Sprintf("%s --%s--> %s", from, r.Event, r.To)
}

// describe says what a dispatch of ev from the state from did, given the
// state to that Dispatch returned. Dispatch does not say which state it
// started from; from was read just before it, and another process may have
// moved the machine in between. The table t, the Machine's, tells whether
// to is what ev does from from; when it is not, from is stale and the line
// says so.
func describe(t *lifecycle.Table, from lifecycle.State, ev lifecycle.Event, g lifecycle.Guards, to lifecycle.State) string {
	want, changed := t.Transition(from, ev, g)
	switch {
	case want != to:
		return fmt.Sprintf("%s (another process moved the machine from %s meanwhile)", to, from)
	case changed:
		return fmt.Sprintf("%s -> %s", from, to)
	}
	return fmt.Sprintf("no transition (%s)", to)
}
