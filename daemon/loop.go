package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iai-mcp/lifecycle"
)

var (
	// errHibernate ends the loop: the machine is in HIBERNATION.
	errHibernate = errors.New("hibernation")
	// errBusy: a dispatch gave up waiting for the lock.
	errBusy = errors.New("lock busy")
	// errUntried: busy, as the lock wait ended before the lock was tried.
	errUntried = fmt.Errorf("%w: not tried", errBusy)
	// errLockWait is the cause a lock wait ends with: it tells the end of
	// the wait from that of the loop's own context.
	errLockWait = errors.New("lock wait ended")
)

// boot applies the rule "a start is demand".
func (d *Daemon) boot(ctx context.Context) error {
	rec, err := d.m.Snapshot()
	if err != nil {
		return err
	}
	d.setState(rec.CurrentState)
	d.seenSeq, d.activeAt = rec.WrapperEventSeq, d.now()
	d.say("boot %s", d.state)
	consumed, err := d.consumeWakeSignal()
	if err != nil {
		return err
	}
	if !consumed && d.state != lifecycle.Hibernation {
		return nil
	}
	for {
		err := d.dispatch(ctx, lifecycle.WakeSignal, lifecycle.Guards{})
		if !errors.Is(err, errBusy) {
			return err
		}
		if err := d.pauseAfter(ctx, err); err != nil {
			return err
		}
	}
}

// pauseAfter paces a loop that retries a busy dispatch at once. A dispatch
// that waited for the lock paced itself; one whose wait ended before the
// lock was tried did not, and would spin: it waits the lock wait (at least
// a millisecond), or until ctx ends.
func (d *Daemon) pauseAfter(ctx context.Context, busy error) error {
	if !errors.Is(busy, errUntried) {
		return nil
	}
	t := time.NewTimer(max(d.cfg.lockWait, time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// consumeWakeSignal takes a pending wake signal. A signal taken whose
// removal could not be synced is still acted on.
func (d *Daemon) consumeWakeSignal() (bool, error) {
	consumed, err := lifecycle.ConsumeWakeSignal(d.dir)
	if consumed {
		d.say("wake signal consumed")
		if err != nil {
			d.log.Warn("daemon: wake signal taken, but its removal may not be durable", "err", err)
		}
		return true, nil
	}
	return false, err
}

// tick is one turn of the loop.
func (d *Daemon) tick(ctx context.Context) error {
	consumed, err := d.consumeWakeSignal()
	if err != nil {
		return err
	}
	if consumed || d.wakePending {
		// A signal taken is this process's to act on: its file is gone.
		// Should the lock be busy, it is dispatched at the next tick.
		err := d.dispatch(ctx, lifecycle.WakeSignal, lifecycle.Guards{})
		switch {
		case errors.Is(err, errBusy):
			d.wakePending = true
		case err != nil:
			return err
		default:
			d.wakePending = false
		}
	}
	rec, err := d.refresh()
	if err != nil {
		return err
	}
	// The requests counted so far, read before the check below: a request
	// reported after it is one the sleep cycle has not seen, and stops it
	// from hibernating.
	seen := d.req.count()
	switch d.state {
	case lifecycle.Sleep:
		if d.req.undispatched.Load() {
			break // a request came: it wakes the machine instead
		}
		if d.inFlight() {
			break // a client is being served: it wakes the machine
		}
		if d.rested && !d.idleEnough(rec) {
			// A cycle completed and did not hibernate: activity came.
			// The next waits for the idle clock, as the first one did.
			return nil
		}
		return d.sleepCycle(ctx, rec, seen)
	case lifecycle.Hibernation:
		if d.req.undispatched.Load() || d.inFlight() {
			break // a request, or a client being served, wakes it
		}
		// observe has already ended a daemon that is not in shadow run;
		// this is a second line of defence.
		if !d.cfg.shadowRun {
			d.say("exit: HIBERNATION")
			return errHibernate
		}
		return nil // wait for a wake signal or a request
	}
	ev, g := lifecycle.RequestArrived, lifecycle.Guards{}
	if !d.req.undispatched.Load() && (d.state == lifecycle.Wake || d.state == lifecycle.Drowsy) {
		ev, g = d.cfg.policy.Next(d.observation(rec))
	}
	// sleep_eligible is looked at again under the lock: a client accepted
	// since the observation keeps the machine out of SLEEP.
	guards := func(lifecycle.Record) lifecycle.Guards {
		return lifecycle.Guards{SleepEligible: g.SleepEligible && !d.inFlight(), StillIdle: g.StillIdle}
	}
	if err := d.dispatchFunc(ctx, ev, guards); !errors.Is(err, errBusy) {
		return err
	}
	return nil
}

// observation is what the idle policy is asked about.
func (d *Daemon) observation(rec lifecycle.Record) lifecycle.Observation {
	return lifecycle.Observation{
		State:        d.state,
		Idle:         d.now() - max(d.activeAt, d.req.latest()),
		Active:       d.inFlight(),
		SleepAllowed: sleepAllowed(rec, time.Now()),
	}
}

// idleEnough reports whether the idle clock has reached the point where
// the policy would put the daemon to sleep: then a new sleep cycle may run.
func (d *Daemon) idleEnough(rec lifecycle.Record) bool {
	ev, _ := d.cfg.policy.Next(d.observation(rec))
	return ev == lifecycle.Idle30Min
}

// serveRequests moves the machine for the requests waiting for the loop:
// outside WAKE it dispatches request_arrived at once; in WAKE (the machine
// got there since they asked) the next tick records them.
func (d *Daemon) serveRequests(ctx context.Context) error {
	served, ok := d.req.take()
	if !ok {
		return nil
	}
	defer close(served)
	if d.state == lifecycle.Wake {
		return nil
	}
	if err := d.dispatch(ctx, lifecycle.RequestArrived, lifecycle.Guards{}); !errors.Is(err, errBusy) {
		return err
	}
	return nil
}

// refresh reads the state file and observes it.
func (d *Daemon) refresh() (lifecycle.Record, error) {
	rec, err := d.m.Snapshot()
	if err != nil {
		return lifecycle.Record{}, err
	}
	return rec, d.observe(rec)
}

// observe takes in a record read from the state file: it restarts the idle
// clock if wrapper_event_seq moved, and reports a state this daemon did not
// dispatch itself.
func (d *Daemon) observe(rec lifecycle.Record) error {
	if rec.WrapperEventSeq != d.seenSeq {
		d.seenSeq, d.activeAt = rec.WrapperEventSeq, d.now()
	}
	if rec.CurrentState != d.state {
		return d.moved(rec.CurrentState, "by another process")
	}
	return nil
}

// moved records, narrates and notifies a transition, and decides what
// HIBERNATION means.
func (d *Daemon) moved(to lifecycle.State, why string) error {
	d.say("%s -> %s (%s)", d.state, to, why)
	d.setState(to)
	d.rested = false
	if d.booted { // the boot's wake-up goes with READY=1
		d.note.send("STATUS=" + string(to))
	}
	if to != lifecycle.Hibernation {
		return nil
	}
	if d.cfg.shadowRun {
		d.say("shadow run: staying up in HIBERNATION")
		return nil
	}
	// Accept no more, then look: a client this process has accepted, or a
	// request it has not recorded, is served awake (the next tick
	// dispatches request_arrived) rather than by a process on its way out.
	d.gate.pause()
	if d.req.undispatched.Load() || d.inFlight() {
		d.gate.resume()
		d.say("HIBERNATION: a client is being served; waking")
		return nil
	}
	d.say("exit: HIBERNATION")
	return errHibernate
}

// dispatch sends ev, waiting at most the lock wait for the lock. A busy lock
// is errBusy; ctx's end while waiting is ctx's error.
func (d *Daemon) dispatch(ctx context.Context, ev lifecycle.Event, g lifecycle.Guards) error {
	return d.dispatchFunc(ctx, ev, func(lifecycle.Record) lifecycle.Guards { return g })
}

// dispatchFunc is dispatch with guards computed under the lock, from the
// record the dispatch changes.
func (d *Daemon) dispatchFunc(ctx context.Context, ev lifecycle.Event, guards func(lifecycle.Record) lifecycle.Guards) error {
	if ev == lifecycle.RequestArrived {
		// Cleared before: a request reported during the dispatch is
		// dispatched again next tick rather than lost.
		d.req.undispatched.Store(false)
	}
	var reason string
	if d.cfg.reason != nil {
		reason = d.cfg.reason(ev)
	}
	dctx, cancel := context.WithTimeoutCause(ctx, d.cfg.lockWait, errLockWait)
	to, err := d.m.DispatchReasonFunc(dctx, ev, reason, guards)
	cancel()
	if err != nil && ev == lifecycle.RequestArrived {
		d.req.undispatched.Store(true)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	case busy(err):
		d.say("busy: %s not dispatched, %s", ev, whyBusy(err))
		if !errors.Is(err, lifecycle.ErrLocked) {
			return errUntried
		}
		return errBusy
	default:
		return err
	}
	if to != d.state {
		if reason == "" {
			reason = string(ev)
		}
		return d.moved(to, reason)
	}
	return nil
}

// sleepAllowed reports whether the record lets the daemon sleep at now.
func sleepAllowed(rec lifecycle.Record, now time.Time) bool {
	if rec.CrisisMode {
		return false
	}
	if q := rec.Quarantine; q != nil {
		until, err := lifecycle.ParseTimestamp(q.UntilTS)
		if err != nil || now.Before(until) {
			return false
		}
	}
	return true
}

// recordProgress writes p to sleep_cycle_progress, waiting for a busy lock
// for at most the lock wait. If the lock stays busy the write is skipped:
// the next one carries the same information, as last_completed_index only
// grows. ctx's end ends the wait.
func (d *Daemon) recordProgress(ctx context.Context, p progress) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	uctx, cancel := context.WithTimeoutCause(ctx, d.cfg.lockWait, errLockWait)
	_, err = d.m.UpdateContext(uctx, func(r *lifecycle.Record) error {
		r.SleepCycleProgress = raw
		return nil
	})
	cancel()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case busy(err):
		d.say("busy: sleep cycle progress not recorded, %s", whyBusy(err))
		return nil
	}
	return err
}

// busy reports whether err, from a call given the lock wait as its
// context (one whose cause is errLockWait), means the lock was not had in
// time: it was held elsewhere, or the wait ended before the lock was even
// tried (a Machine fails a call whose context is already done, and on a
// loaded machine a short wait can end before the call starts). Either way
// nothing was written, and the next tick tries again.
func busy(err error) bool {
	return errors.Is(err, lifecycle.ErrLocked) || errors.Is(err, errLockWait)
}

// whyBusy says why, for the narration.
func whyBusy(err error) string {
	if errors.Is(err, lifecycle.ErrLocked) {
		return "the lock is held elsewhere"
	}
	return "the lock wait ended before the lock was tried"
}
