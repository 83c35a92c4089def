package daemon

import (
	"log/slog"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// Defaults of the options.
const (
	DefaultTick     = 10 * time.Second
	DefaultLockWait = 5 * time.Second
)

// Option configures a Daemon.
type Option func(*config)

type config struct {
	tick      time.Duration
	lockWait  time.Duration
	policy    lifecycle.IdlePolicy
	shadowRun bool
	cycle     SleepCycle
	logger    *slog.Logger
	narrate   func(string)
	reason    func(lifecycle.Event) string
	machine   []lifecycle.Option
}

func defaultConfig() config {
	return config{
		tick:     DefaultTick,
		lockWait: DefaultLockWait,
		policy:   lifecycle.DefaultIdlePolicy,
		logger:   slog.New(slog.DiscardHandler),
		narrate:  func(string) {},
	}
}

// WithTick sets how often the loop looks at the state (default 10 s). It
// bounds how late activity by other processes and wake signals are noticed.
// Zero or negative keeps the default.
func WithTick(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.tick = d
		}
	}
}

// WithLockWait sets how long a dispatch or a progress record waits for a
// lock held by another process (default 5 s). Zero or negative keeps the
// default. A wait that ends (even before the lock was tried, as a very
// short one can on a loaded machine) is narrated as busy and is not an
// error: the dispatch is tried again at the next tick, and a progress
// record is skipped, as the next one says as much. A wait shorter than the
// machine's scheduling delays may never reach the lock: keep it well above
// a millisecond.
func WithLockWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockWait = d
		}
	}
}

// WithIdlePolicy sets the idle thresholds (default: DROWSY after 5 minutes,
// SLEEP after 30).
func WithIdlePolicy(p lifecycle.IdlePolicy) Option { return func(c *config) { c.policy = p } }

// WithShadowRun keeps the daemon up in HIBERNATION; the Machine records
// shadow_run and logs a shadow_run_warning. It sets the Machine's
// lifecycle.WithShadowRun too, so that the two cannot disagree.
func WithShadowRun(on bool) Option { return func(c *config) { c.shadowRun = on } }

// WithSleepCycle sets the work done in SLEEP. Without it the cycle has no
// steps: SLEEP moves on to HIBERNATION on the next tick if still idle.
func WithSleepCycle(sc SleepCycle) Option { return func(c *config) { c.cycle = sc } }

// WithLogger sets the logger for what goes wrong without stopping the
// daemon (a failed notification, a failed sleep step); the Machine gets it
// too. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithNarrator sets a function that receives one line for each thing the
// loop does (see the package documentation). It is called from the loop's
// goroutine only.
func WithNarrator(fn func(line string)) Option {
	return func(c *config) {
		if fn != nil {
			c.narrate = fn
		}
	}
}

// WithReasons sets the reason each of the daemon's dispatches gives (see
// lifecycle.Machine.DispatchReason): fn(ev) becomes the "trigger" of the
// transition ev makes, in the log and the state file, and in the narration.
// An empty reason is the event's name; a reason the Machine refuses stops
// Run with its error. lifecycle.PythonReason gives the Python daemon's
// reasons (drowsy_on_idle_5min, ...). Default (and nil): no reasons, the
// event names.
func WithReasons(fn func(ev lifecycle.Event) string) Option {
	return func(c *config) { c.reason = fn }
}

// WithMachineOptions passes options to lifecycle.New: after the kit's
// logger (so a lifecycle.WithLogger here wins), before the kit's shadow run
// (so that WithShadowRun alone decides it).
func WithMachineOptions(opts ...lifecycle.Option) Option {
	return func(c *config) { c.machine = append(c.machine, opts...) }
}
