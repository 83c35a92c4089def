// Command daemon is a runnable daemon built on the lifecycle library. It
// shows every part of a daemon's main loop: the idle clock, the sleep cycle,
// hibernation, the wake signal and a clean stop.
//
//	go run ./examples/daemon --dir /tmp/lc                      # real thresholds: 5 and 30 minutes
//	go run ./examples/daemon --dir /tmp/lc --tick=10ms \
//	    --drowsy-after=100ms --sleep-after=300ms                # a whole idle day in a second
//
// It prints one line on stdout for everything it does, so that people and
// tests can follow it:
//
//	boot WAKE                                  the state found on disk
//	wake signal consumed                       a wake.signal was taken
//	WAKE -> DROWSY (idle_5min)                 a transition this daemon dispatched
//	SLEEP -> WAKE (by another process)         a change seen in the state file
//	sleep cycle started: attempt 1, step 0 of 5
//	sleep cycle interrupted: 2 of 5 steps done
//	sleep cycle done: still_idle=true
//	busy: tick not dispatched, the lock is held elsewhere
//	shadow run: staying up in HIBERNATION
//	exit: HIBERNATION                          then it exits 0
//	stopped: terminated signal received        SIGTERM or SIGINT; exits 0
//
// Errors and the library's own log go to stderr. Exit codes:
//
//	0  after HIBERNATION, or a stop signal (SIGTERM, SIGINT)
//	1  an error (a corrupt state file is left for an operator, never overwritten)
//	2  a bad command line
//	3  another daemon runs on this directory; the message names its pid
//
// # The rules it follows
//
// One daemon per directory. Before anything else the daemon takes the
// directory's daemon lock (lifecycle.AcquireDaemon, .daemon.lock) and holds
// it until it exits. A second daemon started on the same directory exits 3
// at once, having touched nothing (no wake signal consumed, nothing
// written), with a message on stderr that names the running daemon's pid:
//
//	level=ERROR msg="daemon: another daemon runs on this directory; not starting"
//	err="acquire daemon lock /tmp/lc/.daemon.lock: a daemon already runs on this directory (pid 4242)"
//
// The kernel releases the lock when the daemon's process ends, however it
// ends (kill -9 included), so the next daemon starts at once: there is no
// stale lock to remove. A supervisor that restarts the daemon can treat
// exit 3 as "already running" rather than as a failure.
//
// A start is demand. At boot the daemon consumes a pending wake signal and,
// if it took one or if the state on disk is HIBERNATION, dispatches
// wake_signal, retrying while the lock is busy: a daemon that was started
// always comes up awake, so a persisted HIBERNATION never traps it (a
// supervisor that restarts it gets a running daemon). Any other state is
// kept: a daemon restarted in SLEEP resumes its sleep cycle.
//
// The idle clock runs on this process's monotonic clock, started at boot
// (boot counts as activity). Each time the daemon reads the state file it
// compares wrapper_event_seq with the value it last saw: every activity
// event (heartbeat_refresh, request_arrived, wake_signal; this daemon's or
// another process's, Go or Python) increments it together with
// last_activity_ts. When it has moved, the clock restarts from the moment
// the daemon saw it, so activity is noticed at most one tick late.
// last_activity_ts itself is not subtracted from anything: it is a wall-clock
// reading, possibly from another process, a step of the wall clock would
// wake or sleep the daemon, and a missing state file reads as "now" on every
// load, which would keep the daemon awake for ever.
//
// Each tick it consumes a wake signal (dispatching wake_signal if it took
// one), reads the state file, and then: in SLEEP runs the sleep cycle; in
// HIBERNATION exits 0, or in shadow run stays up doing nothing but wait for a
// wake signal or a request; otherwise dispatches what
// lifecycle.IdlePolicy.Next says. Sleep is allowed unless the record is in
// crisis mode or in a quarantine whose until_ts has not passed (an unreadable
// until_ts counts as not passed). This example serves no clients, so it never
// reports one active; activity comes from other processes.
//
// Every dispatch and every progress record waits for the lock for at most
// --lock-wait (DispatchContext, UpdateContext); a busy lock skips this tick's
// event (the next tick computes a fresh one) or this progress record (the
// next carries the same information), except for the boot wake-up and the
// end of a sleep cycle, which are retried until they land or the daemon is
// stopped.
//
// The sleep cycle is --sleep-steps steps of simulated work, --sleep-step
// each. After each step it records its progress in sleep_cycle_progress
// through Machine.UpdateContext:
//
//	{"last_completed_index":2,"attempt":1,"started_at":"...","steps":5}
//
// then reads the state file: if the state is no longer SLEEP (a request
// arrived) the cycle stops there. The next cycle resumes after the last
// completed step with attempt+1; a cycle that completed (completed_at set),
// or one of another length, is started afresh. When every step is done it
// dispatches sleep_cycle_done with still_idle true if wrapper_event_seq has
// not moved since this attempt began; if they have, the machine stays
// in SLEEP and the next tick runs a fresh cycle.
//
// SIGTERM and SIGINT stop the daemon between dispatches: a dispatch waiting
// for the lock gives up, one holding it completes, and a step of simulated
// work in progress is abandoned without recording it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iai-mcp/lifecycle"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes, listed in the package doc.
const (
	exitOK      = 0 // HIBERNATION, or a stop signal
	exitError   = 1 // an error, reported on stderr
	exitUsage   = 2 // a bad command line
	exitRunning = 3 // another daemon runs on this directory; nothing was touched
)

// config is the command line.
type config struct {
	dir        string
	tick       time.Duration
	drowsy     time.Duration
	sleep      time.Duration
	sleepSteps int
	sleepStep  time.Duration
	lockWait   time.Duration
	shadowRun  bool
}

// errUsage is a bad command line, already reported.
var errUsage = errors.New("usage")

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: daemon --dir DIR [flags]")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.dir, "dir", "", "lifecycle directory: state file, lock, logs/, wake.signal (required)")
	fs.DurationVar(&c.tick, "tick", 10*time.Second, "how often the loop looks at the state")
	fs.DurationVar(&c.drowsy, "drowsy-after", lifecycle.DefaultDrowsyAfter, "idle time before idle_5min (WAKE -> DROWSY)")
	fs.DurationVar(&c.sleep, "sleep-after", lifecycle.DefaultSleepAfter, "idle time before idle_30min (DROWSY -> SLEEP)")
	fs.IntVar(&c.sleepSteps, "sleep-steps", 5, "steps in a sleep cycle")
	fs.DurationVar(&c.sleepStep, "sleep-step", 10*time.Millisecond, "simulated work per sleep step")
	fs.DurationVar(&c.lockWait, "lock-wait", 5*time.Second, "how long a dispatch or a progress record waits for a busy lock")
	fs.BoolVar(&c.shadowRun, "shadow-run", false, "stay up in HIBERNATION (the log records a shadow_run_warning)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	bad := func(format string, a ...any) (config, error) {
		fmt.Fprintf(stderr, "daemon: "+format+"\n", a...)
		fs.Usage()
		return c, errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case c.dir == "":
		return bad("--dir is required")
	case c.tick <= 0:
		return bad("--tick must be positive, got %v", c.tick)
	case c.drowsy <= 0:
		return bad("--drowsy-after must be positive, got %v", c.drowsy)
	case c.sleep <= 0:
		return bad("--sleep-after must be positive, got %v", c.sleep)
	case c.sleepSteps <= 0:
		return bad("--sleep-steps must be positive, got %d", c.sleepSteps)
	case c.sleepStep < 0:
		return bad("--sleep-step must not be negative, got %v", c.sleepStep)
	case c.lockWait <= 0:
		return bad("--lock-wait must be positive, got %v", c.lockWait)
	}
	return c, nil
}

// run is the daemon; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	// One daemon per directory: before anything else, so that a daemon
	// that is refused has consumed no wake signal and written nothing.
	lock, err := lifecycle.AcquireDaemon(cfg.dir)
	switch {
	case errors.Is(err, lifecycle.ErrDaemonRunning):
		logger.Error("daemon: another daemon runs on this directory; not starting", "err", err)
		return exitRunning
	case err != nil:
		logger.Error("daemon: cannot take the daemon lock", "err", err)
		return exitError
	}
	code := runLocked(cfg, stdout, logger)
	if err := lock.Release(); err != nil {
		logger.Error("daemon: releasing the daemon lock", "err", err)
		code = exitError
	}
	return code
}

// runLocked is the daemon's life once it holds the daemon lock.
func runLocked(cfg config, stdout io.Writer, logger *slog.Logger) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	m, err := lifecycle.New(cfg.dir, lifecycle.WithShadowRun(cfg.shadowRun), lifecycle.WithLogger(logger))
	if err != nil {
		logger.Error("daemon: cannot open the lifecycle directory", "err", err)
		return exitError
	}
	d := &daemon{
		cfg:    cfg,
		m:      m,
		out:    stdout,
		log:    logger,
		policy: lifecycle.IdlePolicy{Drowsy: cfg.drowsy, Sleep: cfg.sleep},
	}
	code := d.exitCode(ctx, d.run(ctx))
	if err := m.Close(); err != nil {
		logger.Error("daemon: closing the machine", "err", err)
		code = exitError
	}
	return code
}

// exitCode reports how the loop ended and turns it into the exit code.
func (d *daemon) exitCode(ctx context.Context, err error) int {
	switch {
	case errors.Is(err, errHibernate):
		return exitOK
	case ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())):
		d.say("stopped: %v", context.Cause(ctx))
		return exitOK
	case err != nil:
		d.log.Error("daemon: stopping on error", "err", err)
		return exitError
	}
	return exitOK
}

var (
	// errHibernate ends the loop: the machine is in HIBERNATION.
	errHibernate = errors.New("hibernation")
	// errBusy: a dispatch gave up waiting for the lock.
	errBusy = errors.New("lock busy")
)

// daemon is the loop's state. Only the loop's goroutine touches it.
type daemon struct {
	cfg    config
	m      *lifecycle.Machine
	out    io.Writer
	log    *slog.Logger
	policy lifecycle.IdlePolicy

	state lifecycle.State // the state this daemon last saw
	// wrapper_event_seq as last seen, and when this process saw it change:
	// activeAt carries a monotonic reading.
	seenSeq  int64
	activeAt time.Time
}

// say prints one line of the daemon's output.
func (d *daemon) say(format string, a ...any) {
	if _, err := fmt.Fprintf(d.out, format+"\n", a...); err != nil {
		d.log.Warn("daemon: cannot write to stdout", "err", err)
	}
}

// run boots, then ticks until HIBERNATION, a signal or an error.
func (d *daemon) run(ctx context.Context) error {
	if err := d.boot(ctx); err != nil {
		return err
	}
	ticker := time.NewTicker(d.cfg.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		if err := d.tick(ctx); err != nil {
			return err
		}
	}
}

// boot applies the rule "a start is demand".
func (d *daemon) boot(ctx context.Context) error {
	rec, err := d.m.Snapshot()
	if err != nil {
		return err
	}
	d.state = rec.CurrentState
	d.seenSeq, d.activeAt = rec.WrapperEventSeq, time.Now()
	d.say("boot %s", d.state)
	consumed, err := d.consumeWakeSignal()
	if err != nil {
		return err
	}
	if !consumed && d.state != lifecycle.Hibernation {
		return nil
	}
	for {
		if err := d.dispatch(ctx, lifecycle.WakeSignal, lifecycle.Guards{}); !errors.Is(err, errBusy) {
			return err
		}
	}
}

// consumeWakeSignal takes a pending wake signal. A signal taken whose
// removal could not be synced is still acted on.
func (d *daemon) consumeWakeSignal() (bool, error) {
	consumed, err := lifecycle.ConsumeWakeSignal(d.cfg.dir)
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
func (d *daemon) tick(ctx context.Context) error {
	consumed, err := d.consumeWakeSignal()
	if err != nil {
		return err
	}
	if consumed {
		if err := d.dispatch(ctx, lifecycle.WakeSignal, lifecycle.Guards{}); err != nil && !errors.Is(err, errBusy) {
			return err
		}
	}
	rec, err := d.refresh()
	if err != nil {
		return err
	}
	switch d.state {
	case lifecycle.Sleep:
		return d.sleepCycle(ctx, rec)
	case lifecycle.Hibernation:
		// observe has already ended a daemon that is not in shadow run;
		// this is a second line of defence.
		if !d.cfg.shadowRun {
			d.say("exit: HIBERNATION")
			return errHibernate
		}
		return nil // wait for a wake signal or a request
	}
	ev, g := d.policy.Next(lifecycle.Observation{
		State:        d.state,
		Idle:         time.Since(d.activeAt),
		Active:       false, // this example serves no clients
		SleepAllowed: sleepAllowed(rec, time.Now()),
	})
	if err := d.dispatch(ctx, ev, g); !errors.Is(err, errBusy) {
		return err
	}
	return nil
}

// refresh reads the state file and observes it.
func (d *daemon) refresh() (lifecycle.Record, error) {
	rec, err := d.m.Snapshot()
	if err != nil {
		return lifecycle.Record{}, err
	}
	return rec, d.observe(rec)
}

// observe takes in a record read from the state file: it restarts the idle
// clock if wrapper_event_seq moved, and reports a state this daemon did not
// dispatch itself.
func (d *daemon) observe(rec lifecycle.Record) error {
	if rec.WrapperEventSeq != d.seenSeq {
		d.seenSeq, d.activeAt = rec.WrapperEventSeq, time.Now()
	}
	if rec.CurrentState != d.state {
		return d.moved(rec.CurrentState, "by another process")
	}
	return nil
}

// moved records and prints a transition, and decides what HIBERNATION means.
func (d *daemon) moved(to lifecycle.State, why string) error {
	d.say("%s -> %s (%s)", d.state, to, why)
	d.state = to
	if to != lifecycle.Hibernation {
		return nil
	}
	if d.cfg.shadowRun {
		d.say("shadow run: staying up in HIBERNATION")
		return nil
	}
	d.say("exit: HIBERNATION")
	return errHibernate
}

// dispatch sends ev, waiting at most --lock-wait for the lock. A busy lock is
// errBusy; a stop signal while waiting is the context's error.
func (d *daemon) dispatch(ctx context.Context, ev lifecycle.Event, g lifecycle.Guards) error {
	return d.dispatchFunc(ctx, ev, func(lifecycle.Record) lifecycle.Guards { return g })
}

// dispatchFunc is dispatch with guards computed under the lock, from the
// record the dispatch changes.
func (d *daemon) dispatchFunc(ctx context.Context, ev lifecycle.Event, guards func(lifecycle.Record) lifecycle.Guards) error {
	dctx, cancel := context.WithTimeout(ctx, d.cfg.lockWait)
	to, err := d.m.DispatchFunc(dctx, ev, guards)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, lifecycle.ErrLocked):
		d.say("busy: %s not dispatched, the lock is held elsewhere", ev)
		return errBusy
	default:
		return err
	}
	if to != d.state {
		return d.moved(to, string(ev))
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

// progress is the sleep cycle's sleep_cycle_progress object.
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
	var p progress
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil {
		return 0, 1
	}
	if p.CompletedAt != "" || p.Steps != steps || p.Attempt < 1 || p.Attempt >= maxAttempt ||
		p.LastCompletedIndex < -1 || p.LastCompletedIndex >= steps-1 {
		return 0, 1
	}
	return p.LastCompletedIndex + 1, p.Attempt + 1
}

// sleepCycle runs (or resumes) one sleep cycle. It returns nil when the
// cycle was interrupted by a change of state or ended without hibernating.
func (d *daemon) sleepCycle(ctx context.Context, rec lifecycle.Record) error {
	n := d.cfg.sleepSteps
	next, attempt := resumePoint(rec.SleepCycleProgress, n)
	p := progress{LastCompletedIndex: next - 1, Attempt: attempt,
		StartedAt: lifecycle.FormatTimestamp(time.Now()), Steps: n}
	baseSeq := rec.WrapperEventSeq
	d.say("sleep cycle started: attempt %d, step %d of %d", attempt, next, n)
	if err := d.recordProgress(ctx, p); err != nil {
		return err
	}
	for i := next; i < n; i++ {
		if err := d.sleepStep(ctx); err != nil {
			d.say("sleep cycle stopped: %d of %d steps done", i, n)
			return err
		}
		p.LastCompletedIndex = i
		if err := d.recordProgress(ctx, p); err != nil {
			return err
		}
		if _, err := d.refresh(); err != nil {
			return err
		}
		if d.state != lifecycle.Sleep {
			d.say("sleep cycle interrupted: %d of %d steps done", i+1, n)
			return nil
		}
	}
	p.CompletedAt = lifecycle.FormatTimestamp(time.Now())
	if err := d.recordProgress(ctx, p); err != nil {
		return err
	}
	// still_idle is decided under the lock, from the record the dispatch
	// changes: a heartbeat from another process just before it counts.
	for {
		if _, err := d.refresh(); err != nil {
			return err
		}
		if d.state != lifecycle.Sleep {
			d.say("sleep cycle interrupted: %d of %d steps done", n, n)
			return nil
		}
		stillIdle := func(r lifecycle.Record) lifecycle.Guards {
			still := r.WrapperEventSeq == baseSeq
			d.say("sleep cycle done: still_idle=%t", still)
			return lifecycle.Guards{StillIdle: still}
		}
		if err := d.dispatchFunc(ctx, lifecycle.SleepCycleDone, stillIdle); !errors.Is(err, errBusy) {
			return err
		}
	}
}

// sleepStep is one step of the cycle's simulated work.
func (d *daemon) sleepStep(ctx context.Context) error {
	t := time.NewTimer(d.cfg.sleepStep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// recordProgress writes p to sleep_cycle_progress, waiting for a busy lock
// for at most --lock-wait. If the lock stays busy the write is skipped: the
// next one carries the same information, as last_completed_index only
// grows. A stop signal ends the wait.
func (d *daemon) recordProgress(ctx context.Context, p progress) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	uctx, cancel := context.WithTimeout(ctx, d.cfg.lockWait)
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
	case errors.Is(err, lifecycle.ErrLocked):
		d.say("busy: sleep cycle progress not recorded, the lock is held elsewhere")
		return nil
	}
	return err
}
