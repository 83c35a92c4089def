// Command daemon is a runnable daemon built on the lifecycle library's
// daemon kit (package daemon): the idle clock, the sleep cycle,
// hibernation, the wake signal and a clean stop, with a simulated sleep
// cycle and no clients of its own.
//
//	go run ./examples/daemon --dir /tmp/lc                      # real thresholds: 5 and 30 minutes
//	go run ./examples/daemon --dir /tmp/lc --tick=10ms \
//	    --drowsy-after=100ms --sleep-after=300ms                # a whole idle day in a second
//
// It prints one line on stdout for everything it does, so that people and
// tests can follow it (the kit's narration, then its own last line):
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
//	stopped: terminated signal received        SIGTERM, SIGINT or SIGHUP; exits 0
//
// Warnings and errors go to stderr (a clean life writes nothing there).
// Exit codes:
//
//	0   after HIBERNATION, or a stop signal (SIGTERM, SIGINT, SIGHUP)
//	1   an error (a corrupt state file is left for an operator, never overwritten)
//	2   the Go runtime ended it: a panic, or SIGABRT (systemd's watchdog kill)
//	3   another daemon runs on this directory; the message names its pid
//	64  a bad command line (EX_USAGE)
//
// SIGHUP stops it like SIGTERM: it has no configuration to reload, and a
// daemon started from a terminal that goes away should end cleanly, saying
// so, rather than die with status 129.
// A second stop signal while it is on its way out ends it at once. SIGPIPE
// is ignored: when stdout's reader goes away its lines are dropped (said
// once on stderr), and it runs on and stops cleanly.
//
// The rules it follows (one daemon per directory, a start is demand, the
// idle clock, the sleep cycle's progress, busy locks) are the kit's: see
// `go doc github.com/iai-mcp/lifecycle/daemon`. A second daemon on the same
// directory exits 3 at once, having touched nothing, with a message on
// stderr that names the running daemon's pid:
//
//	level=ERROR msg="daemon: another daemon runs on this directory; not starting"
//	err="acquire daemon lock /tmp/lc/.daemon.lock: a daemon already runs on this directory (pid 4242)"
//
// The sleep cycle is --sleep-steps steps of simulated work, --sleep-step
// each; its progress is recorded in sleep_cycle_progress after each step:
//
//	{"last_completed_index":2,"attempt":1,"started_at":"...","steps":5}
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes, listed in the package doc.
const (
	exitOK      = 0  // HIBERNATION, or a stop signal
	exitError   = 1  // an error, reported on stderr
	exitUsage   = 64 // a bad command line (EX_USAGE: 2 is the Go runtime's)
	exitRunning = 3  // another daemon runs on this directory; nothing was touched
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
	fs.DurationVar(&c.tick, "tick", daemon.DefaultTick, "how often the loop looks at the state")
	fs.DurationVar(&c.drowsy, "drowsy-after", lifecycle.DefaultDrowsyAfter, "idle time before idle_5min (WAKE -> DROWSY)")
	fs.DurationVar(&c.sleep, "sleep-after", lifecycle.DefaultSleepAfter, "idle time before idle_30min (DROWSY -> SLEEP)")
	fs.IntVar(&c.sleepSteps, "sleep-steps", 5, "steps in a sleep cycle")
	fs.DurationVar(&c.sleepStep, "sleep-step", 10*time.Millisecond, "simulated work per sleep step")
	fs.DurationVar(&c.lockWait, "lock-wait", daemon.DefaultLockWait, "how long a dispatch or a progress record waits for a busy lock")
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
	// Transitions are narrated on stdout; the kit's log also records them
	// at Info, which would say each one twice. stderr keeps what needs a
	// person: warnings and errors.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// stdout's reader may go away (a pipe into a pager, a log shipper that
	// died): its writes then fail with EPIPE, reported once, instead of
	// SIGPIPE killing the process with no drain and no STOPPING=1.
	signal.Ignore(syscall.SIGPIPE)
	var sayFailed sync.Once
	say := func(line string) {
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			sayFailed.Do(func() { logger.Warn("daemon: cannot write to stdout; its lines are dropped from now on", "err", err) })
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	// The first stop signal asks for a clean stop; the second one, while
	// the daemon is on its way out, ends it at once, as the signal's
	// default does.
	context.AfterFunc(ctx, stop)

	d, err := daemon.Open(cfg.dir,
		daemon.WithTick(cfg.tick),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: cfg.drowsy, Sleep: cfg.sleep}),
		daemon.WithSleepCycle(daemon.SleepCycle{Steps: cfg.sleepSteps, Step: simulatedWork(cfg.sleepStep)}),
		daemon.WithLockWait(cfg.lockWait),
		daemon.WithShadowRun(cfg.shadowRun),
		daemon.WithLogger(logger),
		daemon.WithNarrator(say))
	switch {
	case errors.Is(err, lifecycle.ErrDaemonRunning):
		logger.Error("daemon: another daemon runs on this directory; not starting", "err", err)
		return exitRunning
	case err != nil:
		logger.Error("daemon: cannot start", "err", err)
		return exitError
	}
	code := exitOK
	switch outcome, err := d.Run(ctx); {
	case err != nil:
		logger.Error("daemon: stopping on error", "err", err)
		code = exitError
	case outcome == daemon.Stopped:
		stop() // a second signal from now on ends the process
		say(fmt.Sprintf("stopped: %v", context.Cause(ctx)))
	}
	if err := d.Close(); err != nil {
		logger.Error("daemon: closing", "err", err)
		code = exitError
	}
	return code
}

// simulatedWork is a sleep step that takes d, or less if ctx ends first.
func simulatedWork(d time.Duration) func(context.Context, int) error {
	return func(ctx context.Context, _ int) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
}
