// Package lifecycle keeps a long-running daemon's state, WAKE, DROWSY, SLEEP
// or HIBERNATION, in a JSON state file that a crash cannot lose, and records
// every transition in an append-only event log.
//
// # Using it
//
// New opens a Machine on a directory (made if missing); Dispatch gives it an
// event and returns the state it is in now, on disk when it returns; Close
// releases it:
//
//	m, err := lifecycle.New(dir) // dir holds lifecycle_state.json, .lifecycle.lock, logs/
//	if err != nil {
//		return err
//	}
//	defer m.Close()
//	state, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
//
// Dispatch fails at once with ErrLocked while another process holds the
// directory's lock; DispatchContext waits for it until its context ends.
// DispatchReason also says why (the log line's trigger), Update changes the
// record's other fields under the same lock, and Snapshot reads the record.
// HIBERNATION means the daemon should exit; waking is its next start's
// decision (dispatch WakeSignal or RequestArrived then).
//
// What to dispatch on each tick of a daemon's loop is the idle policy's
// answer: DefaultIdlePolicy.Next (an IdlePolicy) turns an Observation (the
// state, the idle time, whether a client is active, whether sleep is
// allowed) into an event and its guards, without a clock or a file, so a
// test can drive it directly.
//
// Package github.com/iai-mcp/lifecycle/daemon is that loop as a library: one
// daemon per directory, the sleep cycle, wake signals, systemd's socket
// activation and watchdog. Start there to write a daemon.
//
// # The transition table
//
// The table is data: States, Events and Rows return it, DefaultTable is it
// as a Table, and ComputeTransition applies it (pure, no allocation). Every
// other (state, event, guards) is a no-op, and so is a row whose target is
// the current state.
//
//	from         event                 guard           to
//	any          request_arrived       -               WAKE
//	WAKE         idle_5min             -               DROWSY
//	DROWSY       heartbeat_refresh     -               WAKE
//	DROWSY       idle_30min            sleep_eligible  SLEEP
//	SLEEP        sleep_cycle_done      still_idle      HIBERNATION
//	HIBERNATION  wake_signal           -               WAKE
//
// A daemon with other states, events or rows builds its own Table with
// NewTable (or LoadTable, from JSON) and gives it to New with WithTable.
//
// # Reading more
//
// The repository's docs directory holds the rest:
//
//   - docs/api.md: this package by task, and what a newcomer needs first.
//   - docs/durability.md: the guarantees (acknowledged means on disk), the
//     crash assumptions, what a dispatch writes and in which order, and
//     recovery step by step.
//   - docs/files.md: the state file, the event log and table files, byte by
//     byte, and the paths New refuses.
//   - docs/python.md: sharing a directory with the Python project, whose
//     writers take no lock.
//   - docs/tables.md: custom tables and observers (WithObserver).
//   - docs/general.md: a daemon of its own kind (examples/jobrunner): its
//     own states, events and record fields, and no key of the Python
//     daemon's in its state file (Table.CoreRecord, Record.SetField).
//   - docs/daemon.md: the daemon kit, systemd and launchd.
//   - docs/cli.md: lifecyclectl, the command that inspects and drives a
//     directory.
//   - docs/performance.md: the benchmarks and their figures.
//
// # The files
//
// A Machine's directory holds the state file lifecycle_state.json, the lock
// file .lifecycle.lock and the event log logs/lifecycle-events-YYYY-MM-DD.jsonl
// (one file per UTC day, compressed to .jsonl.gz after the retention,
// WithRetention). They are the Python daemon's formats, so the Python tools
// and a Go daemon can share one directory. Directories are created 0700,
// files 0600; the state and lock files must not be symbolic links.
//
// # The guarantees
//
// Dispatches are serialised across goroutines and processes by an flock on
// the lock file. When Dispatch or Update returns nil, what it changed is on
// disk, a transition's log line included; the log never holds a transition
// that did not take effect; and after a crash the next Machine completes
// the log from the state file without ever changing the record. A failed write
// or sync poisons the Machine (ErrPoisoned): make a new one. A corrupt
// state file is reported (ErrCorruptState) and never overwritten;
// RepairState mends it from the log. docs/durability.md states the rules in
// full; docs/python.md says which of them hold against Python writers.
//
// # The past and other processes
//
// ReadLog streams the event log, History and StateAt answer what state the
// daemon was in and when, and Watch follows a directory from another
// process. AcquireDaemon keeps a second daemon off a directory;
// WriteWakeSignal asks a hibernated one to wake.
package lifecycle
