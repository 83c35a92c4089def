"""A tick as the Python original dispatches it, timed beside the Go library.

The Python project's LifecycleStateMachine.dispatch(TICK) takes the flock on
.lifecycle.lock (opening the file each time), loads lifecycle_state.json
(read and json.loads), computes no transition, finds the record unchanged
and writes nothing, then unlocks and closes. This script does those steps
on a directory the Go benchmarks prepared, N times, and prints the mean
nanoseconds per tick: BenchmarkPythonTick runs it beside BenchmarkDispatchTick,
so that the two are measured in one run.

Usage: python3 tick.py DIR N
"""
import errno
import fcntl
import json
import os
import sys
import time

STATES = {"WAKE", "DROWSY", "SLEEP", "HIBERNATION"}


def load_state(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    if record.get("current_state") not in STATES:
        raise ValueError("corrupt state file")
    return record


def tick(state_path, lock_path, shadow_run=False):
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise RuntimeError("locked") from exc
            raise
        try:
            current = load_state(state_path)
            updated = dict(current)
            updated["shadow_run"] = shadow_run
            if updated != current:
                raise RuntimeError("a tick must not write")
            return current["current_state"]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def main():
    d, n = sys.argv[1], int(sys.argv[2])
    state, lock = os.path.join(d, "lifecycle_state.json"), os.path.join(d, ".lifecycle.lock")
    tick(state, lock)  # warm the page cache and the imports
    start = time.perf_counter_ns()
    for _ in range(n):
        tick(state, lock)
    print((time.perf_counter_ns() - start) / n)


if __name__ == "__main__":
    main()
