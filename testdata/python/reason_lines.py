"""The state_transition lines a Python dispatch given a reason appends.

The Python project's dispatch(event, *, reason=...) appends
{"event": "state_transition", "from": ..., "to": ..., "trigger": reason}
through its event log, which writes json.dumps({"ts": ts, **event},
separators=(",", ":")) and a newline. This script writes, that way, the line
of an idle_5min dispatch from WAKE to DROWSY at 2026-11-25T22:45:32.123456+00:00
for each reason below, to standard output: reason_lines.jsonl is its output.

Usage: python3 reason_lines.py > reason_lines.jsonl
"""
import json
import sys

TS = "2026-11-25T22:45:32.123456+00:00"

REASONS = [
    "drowsy_on_idle_5min",
    "force_sleep_request",
    "heartbeat_refresh_active_wrapper",
    'a "quoted" back\\slash',
    "<html> & ampersand",
    "caf\u00e9 \u00fcber \u4e2d\u6587",
    "moon \U0001F319 astral",
    "x" * 256,
]


def main():
    for reason in REASONS:
        event = {"event": "state_transition", "from": "WAKE", "to": "DROWSY", "trigger": reason}
        sys.stdout.write(json.dumps({"ts": TS, **event}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
