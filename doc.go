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
// # Dispatch
//
//  1. Take the Machine's in-process mutex: goroutines queue.
//  2. flock(LOCK_EX|LOCK_NB) the lock file. Held elsewhere: Dispatch returns
//     ErrLocked; DispatchContext retries until the context ends.
//  3. Load the record (missing: the default). Corrupt: return the error and
//     write nothing.
//  4. Compute the transition with the Machine's table (WithTable).
//  5. Bookkeeping: heartbeat_refresh, request_arrived and wake_signal set
//     last_activity_ts and increment wrapper_event_seq; shadow_run is set to
//     the Machine's setting.
//  6. No transition: save only if the record changed.
//  7. Transition: increment transition_seq; append the state_transition line
//     (carrying that seq) to the log and fsync it; then write the state to a
//     temporary file beside it, fsync, and rename it over the state file.
//     The directory is not synced: the synced log line is the transition's
//     durable record, and recovery replays it should a power loss undo the
//     rename. A write without a transition has no log line, so it (and
//     Update, and recovery) also syncs the directory, which makes every
//     earlier rename durable too.
//  8. A failed write or sync poisons the Machine: later calls fail with
//     ErrPoisoned, and a new Machine recovers.
//
// # Crash assumptions
//
// A crash (kill -9, power loss) may stop a dispatch between any two system
// calls. We assume a local POSIX file system on which fsync(2) makes a file's
// data durable, fsync of a directory makes its entries durable, rename(2)
// within a directory is atomic, and write(2) with O_APPEND does not
// interleave with another process's write. NFS does not give these and is
// not supported.
//
// Under those assumptions the state file is always one whole record, old or
// new: it is only ever replaced by rename. The log may end in a torn line (a
// crash inside write(2)); the next append starts a new line first, and
// readers skip and count the torn one.
//
// # Recovery
//
// The log is the write-ahead record. The first time a Machine holds the lock
// (in New when the lock is free, else at the first call), it:
//
//  1. Removes temporary state files that a crash left before their rename.
//  2. Loads the state file; its transition_seq is S.
//  3. Reads the state_transition lines that follow the last line with a seq
//     of at most S (or without seq: the Python tools write those), from the
//     newest day of the log back, stopping at the first day that has one.
//  4. Replays them in order while each has seq one past the record's
//     transition_seq and from equal to the record's state: state, since_ts,
//     seq and the dispatch's bookkeeping, exactly as the dispatch computed
//     them from the same record. Each such line is a dispatch that crashed
//     after syncing its log line, or whose rename a power loss undid.
//  5. If it replayed any, replaces the state file durably (directory synced).
//     A line that does not follow (a gap) stops the replay and is reported
//     through the logger; the state file stands as it is. A line that leads
//     to a state the Machine's table does not know stops recovery: every
//     call fails with ErrCorruptState, as for a corrupt state file.
//
// A dispatch whose state file is unchanged since the last one (same inode,
// size and times: the file is only ever replaced by rename) skips reading
// and decoding it.
//
// A dispatch that returned an error may or may not have happened: if its log
// line reached the disk, recovery applies it. A dispatch that returned
// without error is in both files.
//
// # Daemons and watchers
//
// AcquireDaemon keeps a second daemon off a directory with a flock on
// .daemon.lock that the kernel releases when the holder dies. Watch follows
// the state file from another process, delivering every transition (from
// the log) and each new record.
package lifecycle
