package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/iai-mcp/lifecycle"
)

// Outcome is how Run ended without an error.
type Outcome int

const (
	// Stopped: Run's context ended (a stop signal). The state on disk is
	// whatever it was; the next start carries on from it.
	Stopped Outcome = iota + 1
	// Hibernated: the machine is in HIBERNATION and not in shadow run.
	// The daemon should stop serving and exit 0; the next start (the
	// service manager's, on the next connection) wakes it.
	Hibernated
)

func (o Outcome) String() string {
	switch o {
	case Stopped:
		return "stopped"
	case Hibernated:
		return "hibernated"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Daemon is a lifecycle directory's one daemon: the daemon lock, the
// Machine, and the loop that Run runs. Request, State, Ready and Done are
// safe for concurrent use; Run is called once.
type Daemon struct {
	dir   string
	cfg   config
	lock  *lifecycle.DaemonLock
	m     *lifecycle.Machine
	log   *slog.Logger
	note  *notifier
	req   *requests
	epoch time.Time // the monotonic origin of the idle clock

	current atomic.Value // lifecycle.State: the loop's d.state, for other goroutines
	ready   chan struct{}
	done    chan struct{}
	ran     atomic.Bool

	closeOnce sync.Once
	closeErr  error
	// active counts what is in flight: requests between Begin and End,
	// connections accepted through Listener and not yet closed.
	active atomic.Int64
	gate   gate // when the listeners from Listener accept

	// stopped: Run returned Stopped; Close records the requests served
	// since (a server's drain).
	stopped atomic.Bool

	// The loop's own; only Run's goroutine touches them.
	state  lifecycle.State // the state this daemon last saw
	booted bool            // READY=1 sent: transitions are notified from then on
	// wrapper_event_seq as last seen, and when this process saw it change.
	seenSeq  int64
	activeAt time.Duration
	// A wake signal was taken but its dispatch met a busy lock.
	wakePending bool
	// rested: a sleep cycle completed in this SLEEP and did not hibernate;
	// the next one waits for the idle clock.
	rested bool
}

// Open makes this process the daemon of dir: it takes the directory's
// daemon lock (lifecycle.AcquireDaemon), then opens the Machine. Another
// daemon on dir is an error wrapping lifecycle.ErrDaemonRunning, and then
// nothing in dir was touched.
func Open(dir string, opts ...Option) (*Daemon, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if sc := cfg.cycle; sc.Steps < 0 || sc.Steps > 0 && sc.Step == nil {
		return nil, fmt.Errorf("daemon: a sleep cycle of %d steps needs a Step function and a step count >= 0", sc.Steps)
	}
	lock, err := lifecycle.AcquireDaemon(dir)
	if err != nil {
		return nil, err
	}
	mopts := append([]lifecycle.Option{lifecycle.WithLogger(cfg.logger)}, cfg.machine...)
	mopts = append(mopts, lifecycle.WithShadowRun(cfg.shadowRun))
	m, err := lifecycle.New(dir, mopts...)
	if err != nil {
		return nil, errors.Join(err, lock.Release())
	}
	d := &Daemon{
		dir:   dir,
		cfg:   cfg,
		lock:  lock,
		m:     m,
		log:   cfg.logger,
		note:  newNotifier(cfg.logger),
		req:   newRequests(),
		epoch: time.Now(),
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	d.gate.cond.L = &d.gate.mu
	d.current.Store(lifecycle.State(""))
	return d, nil
}

// Close closes the Machine and releases the daemon lock. Call it after Run
// has returned; later calls return the first one's result.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var err error
		if d.stopped.Load() {
			err = d.recordServed()
		}
		d.closeErr = errors.Join(err, d.m.Close(), d.lock.Release())
	})
	return d.closeErr
}

// Machine is the daemon's Machine, for reading it (Snapshot) or for events
// of the caller's own. Dispatching on it does not tell the loop, which sees
// the result on its next tick.
func (d *Daemon) Machine() *lifecycle.Machine { return d.m }

// Dir is the lifecycle directory.
func (d *Daemon) Dir() string { return d.dir }

// State is the state the loop last saw; empty before Run has booted.
func (d *Daemon) State() lifecycle.State { return d.current.Load().(lifecycle.State) }

// Ready is closed once Run has booted (the state is WAKE, or kept as found
// for SLEEP and DROWSY): the moment READY=1 is sent.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Done is closed when Run's loop has ended, before Run returns.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Request reports one request from a client. Call it for every request,
// from any goroutine, before answering. It returns the state the request is
// served in.
//
// In WAKE it only records the request (a few atomic operations) and
// returns WAKE: requests are coalesced into one request_arrived dispatch per
// tick. In any other state it wakes the loop, which interrupts a sleep step
// in progress and dispatches request_arrived for all the requests waiting,
// and returns the state after that dispatch (normally WAKE; the state as it
// was if the lock stayed busy for the lock wait). Before Run has booted it
// waits for the boot. After Run has ended it returns at once with the last
// state, HIBERNATION on the way out of a hibernating daemon (which a
// server that accepts through Listener never meets: the daemon does not
// hibernate with one of its connections open). An error is ctx's cause,
// when ctx ended first.
func (d *Daemon) Request(ctx context.Context) (lifecycle.State, error) {
	d.req.report(d.now())
	if st := d.State(); st == lifecycle.Wake {
		return st, nil
	}
	select {
	case <-d.done:
		return d.State(), nil
	default:
	}
	select {
	case <-d.req.await():
	case <-d.done:
	case <-ctx.Done():
		return d.State(), context.Cause(ctx)
	}
	return d.State(), nil
}

// now reads the idle clock: the monotonic time since Open.
func (d *Daemon) now() time.Duration { return time.Since(d.epoch) }

// setState records the state the loop now sees.
func (d *Daemon) setState(s lifecycle.State) {
	d.state = s
	d.current.Store(s)
}

// say narrates one line.
func (d *Daemon) say(format string, a ...any) { d.cfg.narrate(fmt.Sprintf(format, a...)) }

// errRunTwice: Run was called again.
var errRunTwice = errors.New("daemon: Run called twice")

// Run is the daemon's loop: it boots, tells the service manager it is
// ready, then ticks until the machine hibernates (Hibernated), ctx ends
// (Stopped), or an error that the loop cannot carry on from: the state file
// is corrupt or unreadable, or a write failed (the Machine is poisoned).
// Busy locks, failed sleep steps and failed notifications are not such
// errors.
func (d *Daemon) Run(ctx context.Context) (Outcome, error) {
	if d.ran.Swap(true) {
		return 0, errRunTwice
	}
	err := d.run(ctx)
	d.gate.end()
	stopped := !errors.Is(err, errHibernate) && ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err()))
	if stopped {
		err = d.recordServed()
		d.stopped.Store(err == nil)
	}
	close(d.done)
	d.note.stopping()
	switch {
	case errors.Is(err, errHibernate):
		return Hibernated, nil
	case stopped && err == nil:
		return Stopped, nil
	}
	return 0, err
}

// run boots, then ticks until HIBERNATION, ctx's end or an error.
func (d *Daemon) run(ctx context.Context) error {
	if err := d.boot(ctx); err != nil {
		return err
	}
	d.booted = true
	close(d.ready)
	d.note.ready(sd.SdNotifyReady + "\nSTATUS=" + string(d.state))
	ticker := time.NewTicker(d.cfg.tick)
	defer ticker.Stop()
	// The watchdog is fed from this loop, after each turn: a turn that
	// hangs (a sleep step that never returns) stops the pings. The timer
	// wakes the loop only when no tick comes before a ping is due.
	if every := d.note.pingEvery(); every > 0 {
		t := time.NewTimer(every)
		defer t.Stop()
		return d.loop(ctx, ticker.C, t.C, func() { t.Reset(max(d.note.untilPing(), time.Millisecond)) })
	}
	return d.loop(ctx, ticker.C, nil, nil)
}

// loop turns until HIBERNATION, ctx's end or an error, feeding the watchdog
// after each turn and then rearming its timer.
func (d *Daemon) loop(ctx context.Context, tick, ping <-chan time.Time, rearm func()) error {
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.req.poke:
			err = d.serveRequests(ctx)
		case <-tick:
			err = d.tick(ctx)
		case <-ping:
		}
		if err != nil {
			return err
		}
		d.note.alive()
		if rearm != nil {
			rearm()
		}
	}
}
