package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// The demo daemon's timing, in simulated time.
const (
	simTick       = 30 * time.Second // the main loop's period
	simIdleDrowsy = 5 * time.Minute  // idle this long in WAKE: idle_5min
	simIdleSleep  = 30 * time.Minute // idle this long in DROWSY: idle_30min
	simStepTime   = 3 * time.Minute  // each sleep step
	simMaxTicks   = 1000             // a bound, should the simulation go astray
)

// simRestart is when the daemon is started again, the morning after.
var simRestart = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

// simSteps are the steps of the demo's sleep cycle.
var simSteps = []string{"CONSOLIDATE", "SCHEMA_MINE", "DREAM_DECAY", "COMPACT"}

// simClients is what the daemon's clients do, at offsets from the start.
var simClients = []struct {
	at   time.Duration
	ev   lifecycle.Event
	note string
}{
	{0, lifecycle.RequestArrived, "the daemon starts and serves a request"},
	{1 * time.Minute, lifecycle.HeartbeatRefresh, "a client heartbeat"},
	{2 * time.Minute, lifecycle.RequestArrived, "a request"},
	{9 * time.Minute, lifecycle.HeartbeatRefresh, "the client is back for a moment"},
}

// simProgress is what the demo's sleep cycle saves after each step.
type simProgress struct {
	LastCompletedIndex int    `json:"last_completed_index"`
	LastCompletedStep  string `json:"last_completed_step"`
	Attempt            int    `json:"attempt"`
	StartedAt          string `json:"started_at"`
}

// simDaemon is the demo's daemon: a main loop that looks at its record
// every tick and dispatches what its clients and its idle timers call for.
type simDaemon struct {
	e     *env
	dir   string
	clock *simClock
	pace  time.Duration
	m     *lifecycle.Machine
	state lifecycle.State // as the last dispatch left it
	day   string          // the simulated day last printed
}

// live runs the daemon from its start until it hibernates and exits.
func (d *simDaemon) live() (err error) {
	if d.m, err = d.newMachine(); err != nil {
		return err
	}
	defer func() {
		if cerr := d.m.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", d.m.LockPath(), cerr)
		}
	}()
	client, step := 0, 0
	for range simMaxTicks {
		now := d.clock.Now()
		for ; client < len(simClients) && now.Sub(demoStart) >= simClients[client].at; client++ {
			c := simClients[client]
			if err := d.dispatch(c.ev, lifecycle.Guards{}, c.note); err != nil {
				return err
			}
		}
		rec, err := d.m.Snapshot()
		if err != nil {
			return err
		}
		idle := now.Sub(rec.LastActivityTS)
		switch rec.CurrentState {
		case lifecycle.Wake:
			if idle >= simIdleDrowsy {
				err = d.dispatch(lifecycle.Idle5Min, lifecycle.Guards{}, "idle for 5 minutes")
			}
		case lifecycle.Drowsy:
			if idle >= simIdleSleep {
				err = d.dispatch(lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: rec.Quarantine == nil},
					"idle for 30 minutes, not in quarantine")
			}
		case lifecycle.Sleep:
			if now.Sub(rec.SinceTS) >= time.Duration(step+1)*simStepTime {
				err = d.sleepStep(rec, step)
				step++
			}
			if err == nil && step == len(simSteps) {
				stillIdle := !rec.LastActivityTS.After(rec.SinceTS)
				err = d.dispatch(lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: stillIdle},
					"the cycle is done and no client came")
			}
		}
		if err != nil {
			return err
		}
		if d.state == lifecycle.Hibernation {
			d.say("", "", "the daemon exits: HIBERNATION means stop")
			return nil
		}
		if err := d.pause(simTick); err != nil {
			return err
		}
	}
	return errors.New("demo: the simulated daemon never hibernated")
}

// restart is the next morning: a client connects, the daemon is started
// again, and waking is its decision at boot.
func (d *simDaemon) restart() (err error) {
	d.clock.advance(simRestart.Sub(d.clock.Now()))
	if d.m, err = d.newMachine(); err != nil {
		return err
	}
	d.say("", "", "a client connects; the daemon starts again and wakes at boot")
	err = d.dispatch(lifecycle.WakeSignal, lifecycle.Guards{}, "")
	if cerr := d.m.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", d.m.LockPath(), cerr)
	}
	return err
}

func (d *simDaemon) newMachine() (*lifecycle.Machine, error) {
	return lifecycle.New(d.dir, lifecycle.WithClock(d.clock.Now))
}

// sleepStep runs step i of the sleep cycle and saves its progress in the
// state file.
func (d *simDaemon) sleepStep(rec lifecycle.Record, i int) error {
	p, err := json.Marshal(simProgress{LastCompletedIndex: i, LastCompletedStep: simSteps[i], Attempt: 1,
		StartedAt: lifecycle.FormatTimestamp(rec.SinceTS)})
	if err != nil {
		return err
	}
	if _, err := d.m.Update(func(r *lifecycle.Record) error {
		r.SleepCycleProgress = p
		return nil
	}); err != nil {
		return err
	}
	d.say(fmt.Sprintf("sleep step %d/%d", i+1, len(simSteps)), simSteps[i], "done; progress saved with Machine.Update")
	return nil
}

// dispatch dispatches ev and prints what it did.
func (d *simDaemon) dispatch(ev lifecycle.Event, g lifecycle.Guards, note string) error {
	from, err := d.m.Snapshot()
	if err != nil {
		return err
	}
	to, err := d.m.Dispatch(ev, g)
	if err != nil {
		return err
	}
	label := string(ev)
	switch {
	case ev == lifecycle.Idle30Min && g.SleepEligible:
		label += " [sleep_eligible]"
	case ev == lifecycle.SleepCycleDone && g.StillIdle:
		label += " [still_idle]"
	}
	result := fmt.Sprintf("no transition (%s)", to)
	if to != from.CurrentState {
		result = fmt.Sprintf("%s -> %s", from.CurrentState, to)
	}
	d.state = to
	d.say(label, result, note)
	return nil
}

// say prints one line of the simulation, headed by the date when it is a
// new one.
func (d *simDaemon) say(what, result, note string) {
	now := d.clock.Now().UTC()
	if day := now.Format(time.DateOnly); day != d.day {
		if d.day == "" {
			fmt.Fprintf(d.e.out, "\n%s\n", day)
		} else {
			fmt.Fprintf(d.e.out, "%s (a new UTC day: the log goes on in a new file)\n", day)
		}
		d.day = day
	}
	line := fmt.Sprintf("%s  %-30s %-21s %s", now.Format(time.TimeOnly), what, result, note)
	if what == "" {
		line = fmt.Sprintf("%s  %s", now.Format(time.TimeOnly), note)
	}
	fmt.Fprintln(d.e.out, trimRight(line))
}

// pause advances the simulated clock by d, taking the real time the pace
// gives it; an interrupt ends the demo.
func (d *simDaemon) pause(sim time.Duration) error {
	d.clock.advance(sim)
	if d.pace == 0 {
		return nil
	}
	if err := d.e.out.Flush(); err != nil {
		return err
	}
	t := time.NewTimer(time.Duration(float64(d.pace) * sim.Minutes()))
	defer t.Stop()
	select {
	case <-d.e.ctx.Done():
		return errors.New("demo interrupted")
	case <-t.C:
		return nil
	}
}

func trimRight(s string) string {
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}
