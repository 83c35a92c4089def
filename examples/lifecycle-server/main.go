// Command lifecycle-server is a socket-activated service built on the
// lifecycle daemon kit: it hibernates to zero processes when idle, and the
// service manager starts it again on the next connection, which it
// answers. No client is refused meanwhile: the manager holds the listening
// socket, and the kernel queues connections while no server runs.
//
//	go run ./examples/lifecycle-server --dir /tmp/lc --listen 127.0.0.1:7070   # started by hand
//	bash -c 'exec 3<>/dev/tcp/127.0.0.1/7070; echo hello >&3; head -n1 <&3'    # WAKE
//
// Under systemd (user units in examples/lifecycle-server/systemd) it takes
// its listeners from the manager (LISTEN_FDS; every socket the unit
// lists) and ignores --listen; by hand it listens on --listen, which it
// then needs. Each line a client sends is a request: it is reported to the
// kit (request_arrived, coalesced) and answered with the state it was
// served in and a newline, e.g. "WAKE\n". A connection may send any number
// of lines.
//
// It prints the kit's lines on stdout (see package daemon), plus:
//
//	listening on 127.0.0.1:7070 (socket from the service manager)
//	listening on 127.0.0.1:7070, [::1]:7070 (socket from the service manager)
//	listening on 127.0.0.1:7070 (own socket)
//	waiting for another daemon to leave: ... (pid 4242)
//	stopped: terminated signal received        SIGTERM, SIGINT or SIGHUP; exits 0
//
// Started by its socket while another daemon runs on --dir, it waits for
// that daemon to exit (telling the service manager so, with the holder's
// pid), then serves: exiting would only make the manager start it again for
// the connection still queued, until its start limit failed the socket.
//
// A client cannot hold a descriptor for good: a line begun must end within
// --line-timeout (10 s; the connection is closed otherwise, the unfinished
// line unanswered), a connection may stay silent between lines for
// --idle-timeout (5 min), and an answer must be taken within
// --line-timeout. At most --max-conns connections are open at once (by
// default the descriptor limit less a reserve of an eighth, 16 to 256, for
// the state file and the logs); more wait in the socket's queue. Should
// accepting fail all the same (descriptors used elsewhere), it backs off up
// to 1 s and logs at most one line per 10 s.
//
// On HIBERNATION ("exit: HIBERNATION") it stops accepting and closes its
// listener (the manager's socket stays open in the manager), answers what
// the connections it already accepted send within --drain, closes them and
// exits 0; a stop signal does the same. A second stop signal during the
// drain ends it at once. SIGPIPE is ignored: when stdout's reader goes
// away its lines are dropped (said once on stderr). Exit codes
// (docs/daemon.md has the table for both examples):
//
//	0   after HIBERNATION, or a stop signal (SIGTERM, SIGINT, SIGHUP)
//	1   an error
//	2   the Go runtime ended it: a panic, or SIGABRT, which is how systemd's
//	    watchdog kills a server that stopped pinging (stacks on stderr)
//	3   started by hand while another daemon runs on this directory; the
//	    message names its pid
//	64  a bad command line (EX_USAGE; also: no --listen and no socket
//	    passed); nothing was created
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
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
	exitOK      = 0
	exitError   = 1
	exitUsage   = 64 // EX_USAGE: 2 is the Go runtime's (a panic, a watchdog's SIGABRT)
	exitRunning = 3
)

// config is the command line.
type config struct {
	dir        string
	listen     string
	tick       time.Duration
	drowsy     time.Duration
	sleep      time.Duration
	sleepSteps int
	sleepStep  time.Duration
	drain      time.Duration
	shadowRun  bool
	lineWait   time.Duration
	idleWait   time.Duration
	maxConns   int
}

var errUsage = errors.New("usage")

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("lifecycle-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lifecycle-server --dir DIR [--listen ADDR] [flags]")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.dir, "dir", "", "lifecycle directory: state file, lock, logs/, wake.signal (required)")
	fs.StringVar(&c.listen, "listen", "", `address to listen on when the service manager passes no socket: "host:port" or "unix:PATH"`)
	fs.DurationVar(&c.tick, "tick", daemon.DefaultTick, "how often the loop looks at the state")
	fs.DurationVar(&c.drowsy, "drowsy-after", lifecycle.DefaultDrowsyAfter, "idle time before idle_5min (WAKE -> DROWSY)")
	fs.DurationVar(&c.sleep, "sleep-after", lifecycle.DefaultSleepAfter, "idle time before idle_30min (DROWSY -> SLEEP)")
	fs.IntVar(&c.sleepSteps, "sleep-steps", 5, "steps in a sleep cycle")
	fs.DurationVar(&c.sleepStep, "sleep-step", 10*time.Millisecond, "simulated work per sleep step")
	fs.DurationVar(&c.drain, "drain", time.Second, "on the way out, how long accepted connections may still send")
	fs.BoolVar(&c.shadowRun, "shadow-run", false, "stay up in HIBERNATION (the log records a shadow_run_warning)")
	fs.DurationVar(&c.lineWait, "line-timeout", 10*time.Second, "a line begun must end within this, and an answer be taken; else the connection is closed (0: no limit)")
	fs.DurationVar(&c.idleWait, "idle-timeout", 5*time.Minute, "a connection silent between lines this long is closed (0: no limit)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "connections open at once; more wait in the socket's queue (0: the descriptor limit less a reserve; -1: no cap)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	bad := func(format string, a ...any) (config, error) {
		fmt.Fprintf(stderr, "lifecycle-server: "+format+"\n", a...)
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
	case c.drain < 0:
		return bad("--drain must not be negative, got %v", c.drain)
	case c.lineWait < 0:
		return bad("--line-timeout must not be negative, got %v", c.lineWait)
	case c.idleWait < 0:
		return bad("--idle-timeout must not be negative, got %v", c.idleWait)
	case c.maxConns < -1:
		return bad("--max-conns must be -1 (no cap), 0 (automatic) or positive, got %d", c.maxConns)
	}
	return c, nil
}

// run is the server; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage
	}
	activated := daemon.Activated()
	if !activated && cfg.listen == "" {
		// Checked before anything is created: a command line to fix.
		fmt.Fprintln(stderr, "lifecycle-server: no socket from the service manager (LISTEN_FDS) and no --listen address: give --listen host:port or unix:PATH, or start it from its socket unit")
		if fds := os.Getenv("LISTEN_FDS"); fds != "" {
			fmt.Fprintf(stderr, "lifecycle-server: LISTEN_FDS=%q with LISTEN_PID=%q passes no socket to this process (pid %d)\n",
				fds, os.Getenv("LISTEN_PID"), os.Getpid())
		}
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	// stdout's reader may go away (a pipe into a pager, a log shipper that
	// died): its writes then fail with EPIPE, reported once, instead of
	// SIGPIPE killing the process with no drain and no STOPPING=1.
	signal.Ignore(syscall.SIGPIPE)
	var sayFailed sync.Once
	say := func(line string) {
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			sayFailed.Do(func() { logger.Warn("server: cannot write to stdout; its lines are dropped from now on", "err", err) })
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	// The first stop signal asks for a clean stop; the second one, during
	// the drain, ends the process at once, as the signal's default does.
	// (serve stops the notification itself before its drain; this covers
	// a first signal that comes during a hibernation's drain.)
	context.AfterFunc(ctx, stop)

	opts := []daemon.Option{
		daemon.WithTick(cfg.tick),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: cfg.drowsy, Sleep: cfg.sleep}),
		daemon.WithSleepCycle(daemon.SleepCycle{Steps: cfg.sleepSteps, Step: simulatedWork(cfg.sleepStep)}),
		daemon.WithShadowRun(cfg.shadowRun),
		daemon.WithLogger(logger),
		daemon.WithNarrator(say),
	}
	var d *daemon.Daemon
	if activated {
		// Started by a connection, which stays queued: exiting would only
		// be started again. Wait for the other daemon instead.
		d, err = daemon.OpenWait(ctx, cfg.dir, opts...)
	} else {
		d, err = daemon.Open(cfg.dir, opts...)
	}
	switch {
	case errors.Is(err, lifecycle.ErrDaemonRunning):
		logger.Error("server: another daemon runs on this directory; not starting", "err", err)
		return exitRunning
	case err != nil && ctx.Err() != nil:
		say(fmt.Sprintf("stopped: %v", context.Cause(ctx)))
		return exitOK
	case err != nil:
		logger.Error("server: cannot start", "err", err)
		return exitError
	}
	code := serve(ctx, stop, d, cfg, say, logger)
	if err := d.Close(); err != nil {
		logger.Error("server: closing", "err", err)
		code = exitError
	}
	return code
}

// serve listens, runs the kit's loop, and serves until it ends. ctx ends on
// a stop signal; stopSignals gives the next one back its default action.
func serve(ctx context.Context, stopSignals func(), d *daemon.Daemon, cfg config, say func(string), logger *slog.Logger) int {
	ln, passed, err := daemon.Listen(cfg.listen)
	if err == nil {
		// The kit decides when it accepts: not while it decides to
		// hibernate, and never again once it has.
		ln, err = d.Listener(ln)
	}
	if err != nil {
		logger.Error("server: cannot listen", "err", err)
		return exitError
	}
	if passed {
		say(fmt.Sprintf("listening on %s (socket from the service manager)", addrs(ln)))
	} else {
		say(fmt.Sprintf("listening on %s (own socket)", addrs(ln)))
	}
	s := newServer(d, ln, logger, newAcceptGuard(cfg.maxConns, cfg.lineWait, cfg.idleWait, logger))
	go s.accept()
	go func() {
		// Once the loop has ended (HIBERNATION decided, or a stop), accept
		// no more: a client that comes now waits in the queue and wakes
		// the next server, rather than being answered by this one on its
		// way out. Its Close error is shutdown's to report.
		<-d.Done()
		_ = s.closeListener()
	}()
	outcome, runErr := d.Run(ctx)
	code := exitOK
	switch {
	case runErr != nil:
		logger.Error("server: stopping on error", "err", runErr)
		code = exitError
	case outcome == daemon.Stopped:
		// Before the drain, and before saying so: a second signal from
		// now on ends the process.
		stopSignals()
		say(fmt.Sprintf("stopped: %v", context.Cause(ctx)))
	}
	if err := s.shutdown(cfg.drain); err != nil {
		logger.Error("server: closing the listener", "err", err)
		code = exitError
	}
	return code
}

// addrs is the listener's addresses, comma-separated: a socket unit may
// pass several (ListenStream= for IPv4 and for IPv6), all served.
func addrs(ln net.Listener) string {
	m, ok := ln.(interface{ Addrs() []net.Addr })
	if !ok {
		return ln.Addr().String()
	}
	var b strings.Builder
	for i, a := range m.Addrs() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	return b.String()
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
