package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// SleepCycle is the work a daemon does in SLEEP (consolidation, compaction,
// backups), in Steps steps. The kit runs Step(ctx, i) for each i from the
// first not yet done, and records each completed step in the state file, so
// that a cycle interrupted by a request, a stop or a crash resumes where it
// stopped.
//
// ctx ends when a request is reported to this daemon or Run's context ends;
// a step should then return promptly (its work is not recorded as done, and
// runs again on resume). A step that returns another error abandons the
// cycle until the next tick.
type SleepCycle struct {
	Steps int
	Step  func(ctx context.Context, step int) error
}

// progress is the sleep cycle's sleep_cycle_progress object, the one the
// example daemon has always written.
type progress struct {
	LastCompletedIndex int    `json:"last_completed_index"`
	Attempt            int    `json:"attempt"`
	StartedAt          string `json:"started_at"`
	Steps              int    `json:"steps"`
	CompletedAt        string `json:"completed_at,omitempty"`
}

// maxAttempt bounds the attempt counter read back from the file.
const maxAttempt = 1 << 30

// resumePoint reads the progress left in the state file and returns the
// step to run next and the attempt number: after the last completed step
// with attempt+1 if an unfinished cycle of the same length is recorded, else
// step 0 of attempt 1. Anything it cannot read starts afresh.
func resumePoint(raw json.RawMessage, steps int) (next, attempt int) {
	p, ok := decodeProgress(raw)
	if !ok {
		return 0, 1
	}
	if p.CompletedAt != "" || p.Steps != steps || p.Attempt < 1 || p.Attempt >= maxAttempt ||
		p.LastCompletedIndex < -1 || p.LastCompletedIndex >= steps-1 {
		return 0, 1
	}
	return p.LastCompletedIndex + 1, p.Attempt + 1
}

// decodeProgress reads the progress in raw, matching its keys exactly as
// every other reader of the state file does: encoding/json alone would
// take "Completed_At" for "completed_at". ok is false when raw is not a
// JSON object or a known key holds a value of the wrong type.
func decodeProgress(raw json.RawMessage) (p progress, ok bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return progress{}, false
	}
	for _, f := range []struct {
		key  string
		into any
	}{
		{"last_completed_index", &p.LastCompletedIndex},
		{"attempt", &p.Attempt},
		{"started_at", &p.StartedAt},
		{"steps", &p.Steps},
		{"completed_at", &p.CompletedAt},
	} {
		if v, found := m[f.key]; found && json.Unmarshal(v, f.into) != nil {
			return progress{}, false
		}
	}
	return p, true
}

// sleepCycle runs (or resumes) one sleep cycle. baseReq is the count of
// requests the loop had seen when it chose to sleep: any after it keeps the
// machine from hibernating. It returns nil when the cycle was interrupted,
// failed or ended without hibernating; errHibernate when it hibernated.
func (d *Daemon) sleepCycle(ctx context.Context, rec lifecycle.Record, baseReq int64) error {
	n := max(d.cfg.cycle.Steps, 0)
	next, attempt := resumePoint(rec.SleepCycleProgress, n)
	p := progress{LastCompletedIndex: next - 1, Attempt: attempt,
		StartedAt: lifecycle.FormatTimestamp(time.Now()), Steps: n}
	baseSeq := rec.WrapperEventSeq
	d.say("sleep cycle started: attempt %d, step %d of %d", attempt, next, n)
	if err := d.recordProgress(ctx, p); err != nil {
		return err
	}
	for i := next; i < n; i++ {
		if err := d.sleepStep(ctx, i); err != nil {
			switch {
			case ctx.Err() != nil:
				d.say("sleep cycle stopped: %d of %d steps done", i, n)
				return ctx.Err()
			case errors.Is(err, errInterrupted):
				// A request: the loop dispatches it next, which wakes.
				d.say("sleep cycle interrupted: %d of %d steps done", i, n)
				return nil
			}
			d.say("sleep cycle failed: %d of %d steps done", i, n)
			d.log.Warn("daemon: sleep step failed; the next tick resumes the cycle", "step", i, "err", err)
			return nil
		}
		d.note.alive()
		p.LastCompletedIndex = i
		if err := d.recordProgress(ctx, p); err != nil {
			return err
		}
		if interrupted, err := d.leftSleep(); interrupted || err != nil {
			if err == nil {
				d.say("sleep cycle interrupted: %d of %d steps done", i+1, n)
			}
			return err
		}
	}
	p.CompletedAt = lifecycle.FormatTimestamp(time.Now())
	if err := d.recordProgress(ctx, p); err != nil {
		return err
	}
	// still_idle is decided under the lock, from the record the dispatch
	// changes: a heartbeat from another process just before it counts, and
	// so does a request reported here and not yet dispatched.
	for {
		d.note.alive()
		if interrupted, err := d.leftSleep(); interrupted || err != nil {
			if err == nil {
				d.say("sleep cycle interrupted: %d of %d steps done", n, n)
			}
			return err
		}
		stillIdle := func(r lifecycle.Record) lifecycle.Guards {
			still := r.WrapperEventSeq == baseSeq && d.req.count() == baseReq && !d.inFlight()
			d.say("sleep cycle done: still_idle=%t", still)
			return lifecycle.Guards{StillIdle: still}
		}
		// The listeners stop accepting before still_idle is decided: every
		// connection this process serves is then counted, and a client
		// that comes later waits in the queue for the next instance.
		d.gate.pause()
		err := d.dispatchFunc(ctx, lifecycle.SleepCycleDone, stillIdle)
		if !errors.Is(err, errHibernate) {
			d.gate.resume()
		}
		if !errors.Is(err, errBusy) {
			d.rested = err == nil && d.state == lifecycle.Sleep
			return err
		}
		if err := d.pauseAfter(ctx, err); err != nil {
			return err
		}
	}
}

// leftSleep reports whether the machine has left SLEEP, or a request waits
// to move it out.
func (d *Daemon) leftSleep() (bool, error) {
	if _, err := d.refresh(); err != nil {
		return false, err
	}
	return d.state != lifecycle.Sleep || d.req.waiting(), nil
}

// errInterrupted: a request cancelled the sleep step.
var errInterrupted = errors.New("sleep step interrupted by a request")

// sleepStep runs one step of the caller's cycle, with a context that a
// request cancels.
func (d *Daemon) sleepStep(ctx context.Context, i int) error {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sctx := context.WithValue(cctx, progressKey{}, d)
	stop := d.req.onWaiting(func() { cancel(errInterrupted) })
	defer stop()
	if d.req.waiting() {
		return errInterrupted
	}
	err := d.cfg.cycle.Step(sctx, i)
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		return errInterrupted
	}
	return err
}
