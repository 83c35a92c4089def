// Package daemon is the main loop of a daemon built on a lifecycle Machine,
// as a library: the boot rule, the idle clock, the sleep cycle, wake
// signals, hibernation, and the service manager's notifications. A daemon
// author writes the server; the kit decides when the daemon sleeps, wakes
// and exits.
//
//	d, err := daemon.Open(dir, daemon.WithSleepCycle(cycle))
//	// errors.Is(err, lifecycle.ErrDaemonRunning): another daemon runs on dir
//	defer d.Close()
//	raw, _, err := daemon.Listen("127.0.0.1:7070") // systemd's socket, or its own
//	ln, err := d.Listener(raw)                   // the kit decides when it accepts
//	go serve(ln, d)                              // per request: d.Request(ctx)
//	outcome, err := d.Run(ctx)                  // ctx: signal.NotifyContext
//	// outcome == daemon.Hibernated: close ln, exit 0; the next connection starts it again
//
// # The rules it follows
//
// One daemon per directory: Open takes the directory's daemon lock
// (lifecycle.AcquireDaemon) before anything else, and Close releases it. A
// second daemon fails with an error wrapping lifecycle.ErrDaemonRunning,
// having touched nothing.
//
// A start is demand. Run first consumes a pending wake signal and, if it
// took one or the state on disk is HIBERNATION, dispatches wake_signal,
// retrying while the lock is busy: a daemon that was started comes up awake,
// so a persisted HIBERNATION never traps it. Any other state is kept: a
// daemon restarted in SLEEP resumes its sleep cycle.
//
// The idle clock runs on this process's monotonic clock, started at boot
// (boot counts as activity). It restarts when a request is reported
// (Request) and when wrapper_event_seq in the state file moves: every
// activity event (heartbeat_refresh, request_arrived, wake_signal), this
// daemon's or another process's, Go or Python, increments it, so another
// process's heartbeat keeps this daemon awake. last_activity_ts is never
// subtracted from anything: it is a wall-clock reading, possibly another
// machine's idea of now, and a step of the wall clock would wake or sleep
// the daemon.
//
// Each tick Run consumes a wake signal (dispatching wake_signal if it took
// one), reads the state file, and then: in SLEEP runs the sleep cycle; in
// HIBERNATION ends with Hibernated, or in shadow run stays up waiting for a
// wake signal or a request; otherwise dispatches request_arrived if requests
// were reported since the last tick, else what the IdlePolicy says. With
// anything in flight (see Begin and Listener) the policy is told the daemon
// is active (a heartbeat_refresh), and a daemon found in SLEEP or
// HIBERNATION is woken with request_arrived. After a sleep cycle that
// completed without hibernating (activity came), the next one waits until
// the idle clock reaches the policy's sleep threshold again. Sleep is
// allowed unless the record is in crisis mode or in a quarantine whose
// until_ts has not passed (an unreadable until_ts counts as not passed).
//
// # Requests
//
// Request is called by the server once per request, from any goroutine. In
// WAKE it costs a few atomic operations and returns at once: requests are
// coalesced into one request_arrived dispatch on the next tick, not one
// durable write each. In any other state it wakes the loop, which
// interrupts a sleep step in progress and dispatches request_arrived at
// once (one dispatch for all the requests waiting), and returns the state
// after it, normally WAKE. Begin and End do the same and mark the request
// in flight between them. Requests reported since the last tick are
// recorded when Run stops, and Close records those served after it.
//
// # The hibernate boundary
//
// Listener wraps the server's listener: every connection it accepts is in
// flight until closed, and before the loop decides sleep_cycle_done it
// stops accepting and waits for the Accept calls in progress. still_idle is
// then decided with every connection this process will serve counted, and
// a client that connects later waits in the socket's queue for the next
// instance, which the service manager starts; if the daemon does not
// hibernate, accepting resumes. So no client of the listener is answered
// HIBERNATION by a process on its way out, none is refused, and none is
// lost, provided the service manager holds the socket. A request that comes
// another way (not through Listener) can still meet the exiting process.
//
// # The sleep cycle
//
// The sleep cycle is the caller's work, in steps (SleepCycle). After each
// step the kit records its progress in sleep_cycle_progress through
// Machine.UpdateContext:
//
//	{"last_completed_index":2,"attempt":1,"started_at":"...","steps":5}
//
// then reads the state file: if the state is no longer SLEEP the cycle stops
// there. A request reported to this daemon cancels the context of the step
// in progress, which is abandoned without being recorded. The next cycle
// resumes after the last completed step with attempt+1; a cycle that
// completed (completed_at set), or one of another length, starts afresh.
// When every step is done it dispatches sleep_cycle_done with still_idle
// true if no activity came since this attempt began and nothing is in
// flight, decided under the lock from the record the dispatch changes. A step that fails abandons the cycle
// (the next tick resumes it) and is reported through the logger.
//
// Every dispatch and progress record waits for the lock for at most the lock
// wait (WithLockWait); a busy lock skips this tick's event or this progress
// record, except for the boot wake-up and the end of a sleep cycle, which
// are retried until they land or ctx ends.
//
// # Service manager
//
// Open reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID once and removes
// them from the environment, so that programs the daemon runs do not
// inherit them and another library's sd_notify cannot silence it. When
// NOTIFY_SOCKET was set (systemd with Type=notify), Run sends READY=1 (with
// STATUS=<state>) once booted, STATUS=<state> on each transition it sees,
// WATCHDOG=1 at most every half of WATCHDOG_USEC when the manager asks for
// a watchdog, and STOPPING=1 on its way out. Without NOTIFY_SOCKET it sends
// nothing. The pings come from the loop's own progress (each turn of the
// loop, each sleep step done), never from a timer of their own: a loop that
// hangs stops them, and the manager restarts the daemon. A sleep step that
// may outlast half the interval calls Progress as it works. Listen
// takes the listening sockets systemd passes (LISTEN_FDS), all of them.
// The protocols are
// implemented by github.com/coreos/go-systemd/v22, the maintained Go
// implementation of sd_notify and sd_listen_fds, in pure Go.
//
// # Narration
//
// WithNarrator receives one line for everything the loop does, for people
// and tests to follow (examples/daemon prints them):
//
//	boot WAKE                                  the state found on disk
//	wake signal consumed                       a wake.signal was taken
//	WAKE -> DROWSY (idle_5min)                 a transition this daemon dispatched
//	SLEEP -> WAKE (by another process)         a change seen in the state file
//	sleep cycle started: attempt 1, step 0 of 5
//	sleep cycle interrupted: 2 of 5 steps done
//	sleep cycle stopped: 2 of 5 steps done     ctx ended during a step
//	sleep cycle failed: 2 of 5 steps done      a step returned an error
//	sleep cycle done: still_idle=true
//	busy: tick not dispatched, the lock is held elsewhere
//	busy: sleep cycle progress not recorded, the lock is held elsewhere
//	shadow run: staying up in HIBERNATION
//	HIBERNATION: a client is being served; waking
//	exit: HIBERNATION                          then Run returns Hibernated
package daemon
