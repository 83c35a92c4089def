package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const statusDetails = `Reads the state file without taking the lock and without writing anything.
With --json, prints the record as the state file holds it (key order
included). The directory must exist (exit 1 otherwise); a directory without
a state file yet (no machine has written one) says so in one line, and
--json prints null.

--watch follows the state file until interrupted (Ctrl-C or SIGTERM, exit
0), one line per change, each led by a UTC time:

  TIME  WAKE since T (AGO); last activity T (AGO); seq N; wrapper event M
  TIME  WAKE -> DROWSY (idle_5min) seq 4
  TIME  DROWSY  last activity T; wrapper event 13

The first line is the whole record: state, since when, last activity,
sequences, then sleep cycle, quarantine, shadow run, crisis mode and the
essential variable counters when set. Every transition is then a line, read
from the event log, none lost however fast they come; its TIME is when it
happened. A change of the record that no transition explains (activity,
sleep cycle progress, quarantine, crisis mode, ...) is a line of what
changed (of the progress, the keys that changed), timed when it was seen;
bookkeeping updates that follow each other quickly may show as one.

Errors (a corrupt state file, say) are printed on standard error and the
watch goes on; once the file reads again, the whole record is printed
again. The directory must exist (exit 1 otherwise). With --json each event
is one JSON line: {"kind":"record","record":{...}} (the state file's keys),
{"kind":"transition","transition":{"ts":...,"from":...,"to":...,
"trigger":...,"seq":N}} (the log line's) or {"kind":"error","error":"..."}
(also printed on standard error). --limit N stops after N lines.

The state must be one of the library's table, or with --table FILE one of
that table's states (what a Machine with that table accepts). A table file
that cannot be read or is not a valid table is an error (exit 1) naming it.
`

type statusCmd struct {
	json  bool
	table tableArg
	watch bool
	limit int
	ready string
}

func (c *statusCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.json, "json", false, "print the record as JSON, in the state file's layout (with --watch: each event as a JSON line)")
	c.table.define(fs)
	fs.BoolVar(&c.watch, "watch", false, "go on printing each change as it happens, until interrupted")
	fs.IntVar(&c.limit, "limit", 0, "with --watch, stop after `N` lines (0: no limit)")
	// A test hook: the file is created once --watch has printed the current
	// record (or why it could not) and only changes remain to be seen.
	fs.StringVar(&c.ready, "ready", "", "")
}

func (c *statusCmd) run(e *env, args []string) error {
	switch {
	case len(args) > 0:
		return usagef("status", "unexpected argument %q", args[0])
	case c.limit < 0:
		return usagef("status", "--limit %d: want 0 or more", c.limit)
	case c.limit > 0 && !c.watch:
		return usagef("status", "--limit goes with --watch")
	case c.ready != "" && !c.watch:
		return usagef("status", "--ready goes with --watch")
	}
	t, err := c.table.load()
	if err != nil {
		return err
	}
	dir, err := e.lifecycleDir("status")
	if err != nil {
		return err
	}
	if c.watch {
		return c.runWatch(e, t, dir)
	}
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		// No record to show: a made-up one would read as a real file.
		if c.json {
			_, err := e.out.WriteString("null\n")
			return err
		}
		fmt.Fprintf(e.out, "%-15s%s: none yet (no machine has written one; a new machine starts in %s)\n",
			"state file", path, initialState())
		return nil
	}
	rec, t, err := c.table.loadState(t, path)
	if err != nil {
		return err
	}
	if c.json {
		return writeRecordJSON(e.out, rec)
	}
	writeStatus(e.out, path, rec, e.now(), t.HasCoreRecord())
	return nil
}

// writeRecordJSON writes rec in the state file's layout (2-space indent,
// the file's key order), ending in a newline.
func writeRecordJSON(w io.Writer, rec lifecycle.Record) error {
	compact, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}

// writeStatus writes rec as one block of "label  value" lines; a core
// record (core) has none of the Python daemon's fields to show.
func writeStatus(w io.Writer, path string, rec lifecycle.Record, now time.Time, core bool) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-15s%s\n", label, fmt.Sprintf(format, args...))
	}
	line("state file", "%s", path)
	line("state", "%s since %s (%s)", rec.CurrentState, humanTime(rec.SinceTS), ago(rec.SinceTS, now))
	line("last activity", "%s (%s)", humanTime(rec.LastActivityTS), ago(rec.LastActivityTS, now))
	line("sequences", "transition %d, wrapper event %d", rec.TransitionSeq, rec.WrapperEventSeq)
	if !core {
		writePythonFields(line, rec)
	}
	if len(rec.Extra) > 0 {
		keys := make([]string, len(rec.Extra))
		for i, f := range rec.Extra {
			keys[i] = f.Key
		}
		line("other keys", "%s", strings.Join(keys, ", "))
	}
}

// writePythonFields writes the lines of the Python daemon's fields.
func writePythonFields(line func(label, format string, args ...any), rec lifecycle.Record) {
	line("shadow run", "%s", onOff(rec.ShadowRun))
	if len(rec.SleepCycleProgress) == 0 || string(rec.SleepCycleProgress) == "null" {
		line("sleep cycle", "no progress recorded")
	} else {
		var b bytes.Buffer
		if json.Compact(&b, rec.SleepCycleProgress) != nil {
			b.Reset()
			b.Write(rec.SleepCycleProgress)
		}
		line("sleep cycle", "%s", b.String())
	}
	if q := rec.Quarantine; q == nil {
		line("quarantine", "none")
	} else {
		line("quarantine", "until %s (since %s): %s", q.UntilTS, q.SinceTS, q.Reason)
	}
	switch {
	case !rec.CrisisMode:
		line("crisis mode", "off")
	case rec.CrisisModeSinceTS != nil:
		line("crisis mode", "on since %s", *rec.CrisisModeSinceTS)
	default:
		line("crisis mode", "on")
	}
	line("essential var", "%d consecutive breaches, %d consecutive clears",
		rec.EssentialVariableConsecutiveBreaches, rec.EssentialVariableConsecutiveClears)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// humanTime is t in UTC, to the second.
func humanTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// ago says how long before now t was, to the second: "3d4h5m6s ago". A t
// after now (clock skew) is said to be in the future.
func ago(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return humanDuration(-d) + " in the future: clock skew?"
	}
	return humanDuration(d) + " ago"
}

// humanDuration is d with days split off: "3d4h5m6s", "2d", "12m0s", "0s".
func humanDuration(d time.Duration) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	s := d.String()
	if days == 0 {
		return s
	}
	if d == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%s", days, s)
}
