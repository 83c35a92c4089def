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
` + wrapWords(eventNames(), "  ", 76) + `
Without --wait a lock held by another process fails at once (exit 3); with
--wait the command waits up to DURATION for it.

The shadow_run flag of the state file is kept as it is. The command never
rotates the log (see "rotate"). It prints "FROM -> TO" or "no transition
(STATE)". FROM is read just before the dispatch; should another process
dispatch in between, the printed line says so rather than guess.
`
}

func eventNames() []string {
	evs := lifecycle.Events()
	names := make([]string, len(evs))
	for i, ev := range evs {
		names[i] = string(ev)
	}
	return names
}

func eventList() string { return strings.Join(eventNames(), ", ") }

type dispatchCmd struct {
	guards lifecycle.Guards
	wait   time.Duration
}

func (c *dispatchCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.guards.SleepEligible, "sleep-eligible", false, "set the sleep_eligible guard (DROWSY + idle_30min -> SLEEP)")
	fs.BoolVar(&c.guards.StillIdle, "still-idle", false, "set the still_idle guard (SLEEP + sleep_cycle_done -> HIBERNATION)")
	fs.DurationVar(&c.wait, "wait", 0, "wait up to `DURATION` for the lock instead of failing at once")
}

func (c *dispatchCmd) run(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("dispatch", "want exactly one EVENT, one of: %s", eventList())
	}
	ev, err := lifecycle.ParseEvent(args[0])
	if err != nil {
		return usagef("dispatch", "unknown event %q; valid events: %s", args[0], eventList())
	}
	if c.wait < 0 {
		return usagef("dispatch", "--wait %v: want a positive duration", c.wait)
	}
	dir, err := e.storeDir()
	if err != nil {
		return err
	}
	// Dispatch writes the Machine's shadow_run setting into the record, so
	// the Machine takes the file's own. A corrupt file stops us here.
	cur, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir, lifecycle.WithShadowRun(cur.ShadowRun), lifecycle.WithRetention(0))
	if err != nil {
		return err
	}
	line, err := c.dispatch(e.ctx, m, ev)
	if cerr := m.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", m.LockPath(), cerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, line)
	return nil
}

// dispatch dispatches ev and describes what it did.
func (c *dispatchCmd) dispatch(ctx context.Context, m *lifecycle.Machine, ev lifecycle.Event) (string, error) {
	// New may have rolled the state forward from the log: read it again.
	before, err := m.Snapshot()
	if err != nil {
		return "", err
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
		return "", fmt.Errorf("%w (use --wait DURATION to wait for it)", err)
	}
	if err != nil {
		return "", err
	}
	return describe(before.CurrentState, ev, c.guards, to), nil
}

// describe says what a dispatch of ev from the state from did, given the
// state to that Dispatch returned. Dispatch does not say which state it
// started from; from was read just before it, and another process may have
// moved the machine in between. The table tells whether to is what ev does
// from from; when it is not, from is stale and the line says so.
func describe(from lifecycle.State, ev lifecycle.Event, g lifecycle.Guards, to lifecycle.State) string {
	want, changed := lifecycle.ComputeTransition(from, ev, g)
	switch {
	case want != to:
		return fmt.Sprintf("%s (another process moved the machine from %s meanwhile)", to, from)
	case changed:
		return fmt.Sprintf("%s -> %s", from, to)
	}
	return fmt.Sprintf("no transition (%s)", to)
}
