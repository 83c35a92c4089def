// Package lifecycle owns the lifecycle of a long-running daemon: four
// states (WAKE, DROWSY, SLEEP, HIBERNATION), a pure transition function, and
// a Machine whose Dispatch is the one writer of a JSON state file.
//
// # The table
//
// ComputeTransition is the table below and nothing else; it does not
// allocate. Every other (state, event, guards) is a no-op, and so is a row
// whose target is the current state.
//
//	from         event                 guard           to
//	any          request_arrived       -               WAKE
//	WAKE         idle_5min             -               DROWSY
//	DROWSY       heartbeat_refresh     -               WAKE
//	DROWSY       idle_30min            sleep_eligible  SLEEP
//	SLEEP        sleep_cycle_done      still_idle      HIBERNATION
//	HIBERNATION  wake_signal           -               WAKE
//
// DefaultTable is this table as a value. A daemon that needs other states,
// events or rows builds a Table of its own with NewTable (or LoadTable, from
// its JSON form) and gives it to its Machine with WithTable; NewTable
// documents what it refuses. ExampleNewTable adds the two extensions of the
// Python project: force_sleep, and SLEEP + wake_signal -> WAKE.
//
// # Reasons
//
// A transition's log line names its trigger: the event, or the reason the
// dispatch gave (DispatchReason, DispatchReasonFunc, or WithReasons for
// every dispatch of a Machine), written as the Python project's
// dispatch(event, reason=...) writes it, byte for byte. PythonReason gives
// the Python daemon's reasons, such as drowsy_on_idle_5min. Observers see
// it as Transition.Trigger.
//
// # Observers
//
// WithObserver registers a function called with each Transition once it is
// durable, outside the Machine's locks, one at a time and in seq order; it
// may dispatch on its own Machine, and a panic in it is recovered and
// logged. WithObserver documents the details.
//
// # Files
//
// A Machine's directory holds the state file lifecycle_state.json, the lock
// file .lifecycle.lock and the event log logs/lifecycle-events-YYYY-MM-DD.jsonl
// (one file per UTC day, compressed to .jsonl.gz after the retention). The
// formats are those of the Python daemon this package re-creates, so the
// Python tools and a Go daemon can share one directory. Directories are
// created 0700, files 0600.
//
// The state file and the lock file must be regular files: a symbolic link
// at either path is refused (opened with O_NOFOLLOW), by New, LoadState,
// SaveState, Snapshot and every dispatch, with an *fs.PathError naming it;
// directories on the way are followed. New also refuses a lock path that is
// the state file or one of its temporary files, and a lock or state path
// inside the log directory or naming another file of the directory that the
// library or the Python daemon writes (.daemon.lock, wake.signal, .locked).
//
// # Dispatch
//
//  1. Take the Machine's in-process mutex: goroutines queue.
//  2. flock(LOCK_EX|LOCK_NB) the lock file. Held elsewhere: Dispatch returns
//     ErrLocked; DispatchContext retries until the context ends.
//  3. Load the record (missing: the default). Corrupt, or unreadable (the
//     system call's error, not ErrCorruptState): return the error and write
//     nothing.
//  4. Compute the transition with the Machine's table (WithTable).
//  5. Bookkeeping: heartbeat_refresh, request_arrived and wake_signal set
//     last_activity_ts and increment wrapper_event_seq; shadow_run is set to
//     the Machine's setting.
//  6. No transition: save only if the record changed.
//  7. Transition: increment transition_seq and record the transition in
//     the record's last_transition; open the day's log file (a log that
//     cannot be opened fails here, before anything changes); write the
//     state to a temporary file beside the state file, fsync, rename it over
//     the state file and fsync the directory; then append the
//     state_transition line (carrying the seq) and fsync it. A write without
//     a transition is the state file's part alone. When Dispatch or Update
//     returns nil, what it changed is on disk.
//  8. A failed write or sync poisons the Machine: later calls fail with
//     ErrPoisoned, and a new Machine recovers.
//
// Every dispatch reads the state file's bytes, and decodes them unless they
// are the bytes it last read or wrote: no cache is keyed on file metadata,
// which a file system with coarse timestamps that reuses inode numbers
// cannot be trusted with.
//
// # Crash assumptions
//
// A crash (kill -9, power loss) may stop a dispatch between any two system
// calls. We assume a local POSIX file system on which fsync(2) makes a file's
// data durable, fsync of a directory makes its entries durable (and nothing
// else does), rename(2) within a directory is atomic, and write(2) with
// O_APPEND does not interleave with another process's write. NFS does not
// give these and is not supported. Every directory and file entry the
// library relies on (the directories New creates, the lock file, a renamed
// state file, a new day's log file) has its parent synced first.
//
// Under those assumptions the state file is always one whole record, old or
// new: it is only ever replaced by rename. The log may end in a torn line (a
// crash inside write(2)); the next append starts a new line first, and
// readers skip and count the torn one.
//
// # Recovery
//
// The state file is written before the log, so the log never holds a
// transition that did not take effect, and after a crash it lacks at most
// the line of the state file's own last transition. A Machine reconciles
// the two whenever it reads a state file it did not write or read last (the
// first time it holds the lock, and after another process wrote):
//
//  1. The first time, it removes temporary state files a crash left before
//     their rename: those whose flock no writer holds.
//  2. It loads the state file; a corrupt one stops here, reported by every
//     call, until an operator mends it (RepairState, or lifecyclectl
//     repair, rebuilds it from the log). Otherwise it writes the file
//     again, byte for byte, through a new temporary file: its writer may
//     have stopped before its syncs, or its sync may have failed (a second
//     fsync then reports success for bytes the disk lacks), or be a Python
//     tool.
//  3. After a reset (no state file, or one without transition_seq, as the
//     Python tools make) it reads the whole log for its highest seq, so that
//     the next transition's seq is above every logged one. Nothing is
//     replayed onto the fresh record.
//  4. Otherwise, if last_transition's seq is transition_seq, it looks for
//     that line in the log files of last_transition's day (its .gz, and its
//     plain file from the end back). Found in the plain file, written by
//     another writer, it is written again at the end of the file, in new
//     blocks, and blanked where it was; missing, it is appended. A file
//     without last_transition (an earlier version's) is checked against the
//     end of the newest day's file. The next seq is above any line logged
//     after the state file's, in any file (a state file restored from a
//     backup).
//
// Recovery never changes the record: one another writer produced (a Python
// tool, an operator) stays as it is. A dispatch that returned an
// error may or may not have happened: if its rename reached the disk, it
// did. docs/durability.md in the repository writes all of this out, with
// what holds against the Python tools (which write without the lock) and
// what a wall clock that steps does to the log and its rotation.
//
// # Daemons and watchers
//
// AcquireDaemon keeps a second daemon off a directory with a flock on
// .daemon.lock that the kernel releases when the holder dies, and refuses
// while a live Python daemon holds the directory's .locked. Watch follows
// the state file from another process, delivering every transition (from
// the log) and each new record.
//
// # Sharing a directory with the Python project
//
// The files are the same bytes in both languages (docs/python.md has the
// details), but the lock is not shared by every Python writer: since the
// Python project's v1.0 its dispatch no longer takes .lifecycle.lock, and
// its sleep pipeline never did. The flock therefore excludes Machines (in
// any process) and old Python dispatches only. Against a Python program
// that writes the state file without the lock, the library still keeps its
// promises of whole records (both sides only replace the file by rename),
// fresh reads (a dispatch starts from the file's current bytes, Python's
// keys included), durability of what it acknowledges at the moment it
// acknowledges it, a recovery that leaves the Python record as it is, and
// unique seqs; it cannot keep its promises of no lost updates (a Python
// read-modify-write that overlaps a dispatch undoes the dispatch,
// acknowledged or not, or is undone by it) and of a log that agrees with
// the state file. Give the state file one writer at a time: one daemon per
// directory (AcquireDaemon), other programs signalling it (WriteWakeSignal)
// rather than writing.
//
// A Python daemon started after a Go daemon does not see the Go daemon's
// flock, and the Go daemon writes no .locked of its own (a Python daemon
// that checks a pid's command line would take it over; docs/python.md says
// why and what to do instead).
package lifecycle
