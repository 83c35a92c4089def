package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const logDetails = `Streams the event log, oldest day first, plain and rotated (.jsonl.gz)
files alike, as aligned lines: the time (UTC), the event, then the line's
other fields as key=value. --json prints the lines as they are written.

T is an RFC 3339 time (2026-11-25T22:45:32Z; a space may stand for the T,
and a time without an offset is UTC), a UTC date (2026-11-25, meaning its
midnight), a duration (2h, meaning that long ago) or now. --since
is inclusive, --until exclusive.

--follow keeps printing lines as they are appended, polling every 200ms and
moving on to the next day's file after midnight, until interrupted (or
--limit lines have been printed). Only lines ended by a newline are read.

Malformed lines (a torn last line after a crash, say) are skipped and
reported on standard error, with their file and byte offset (in a .gz
file, the offset in its uncompressed content); they never fail the
command. The directory must exist (exit 1 otherwise); logs/ need not.
When nothing matches, standard error says so, with the UTC days the log's
files cover.
`

// pollInterval is how often --follow looks for new lines and files.
const pollInterval = 200 * time.Millisecond

type logCmd struct {
	since, until string
	kind         string
	follow, json bool
	limit        int
	ready        string
}

func (c *logCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.since, "since", "", "only lines at or after `T`")
	fs.StringVar(&c.until, "until", "", "only lines before `T`")
	fs.StringVar(&c.kind, "kind", "", "only lines whose event is `K` (state_transition, wrapper_event, ...)")
	fs.BoolVar(&c.follow, "follow", false, "keep printing lines as they are appended")
	fs.BoolVar(&c.json, "json", false, "print the raw JSON lines")
	fs.IntVar(&c.limit, "limit", 0, "stop after `N` lines (0: no limit)")
	// A test hook: the file is created once --follow has read what was
	// there and only new lines remain to be seen.
	fs.StringVar(&c.ready, "ready", "", "")
}

// errLimit stops a read once --limit lines are out.
var errLimit = errors.New("limit reached")

func (c *logCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("log", "unexpected argument %q", args[0])
	}
	q, err := c.query(e.now())
	if err != nil {
		return err
	}
	dir, err := e.lifecycleDir("log")
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, lifecycle.DefaultLogDir)

	bad := badLines{cmd: "log"}
	q.OnMalformed = func(m lifecycle.MalformedLine) { bad.report(e, m) }
	emit := c.printer(e)
	if c.follow {
		f := &follower{dir: logDir, q: q, emit: emit, flush: e.out.Flush, ready: c.ready}
		err = f.run(e.ctx)
	} else {
		var st lifecycle.LogStats
		st, err = lifecycle.ReadLog(logDir, q, emit)
		if err == nil && st.Entries == 0 {
			err = c.sayNothing(e, logDir, q)
		}
	}
	if errors.Is(err, errLimit) {
		err = nil
	}
	bad.summary(e)
	return err
}

// sayNothing tells, on stderr, why a read printed no line: no log at all,
// or none in the period and kind asked for, with the days the log's files
// cover so that the next --since or --until can hit them.
func (c *logCmd) sayNothing(e *env, logDir string, q lifecycle.LogQuery) error {
	files, err := lifecycle.LogFiles(logDir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintf(e.stderr, "%s log: no log files in %s\n", progName, logDir)
		return nil
	}
	what := "no lines"
	if q.Kind != "" {
		what = fmt.Sprintf("no %s lines", q.Kind)
	}
	first, last := files[0].Day.Format(time.DateOnly), files[len(files)-1].Day.Format(time.DateOnly)
	fmt.Fprintf(e.stderr, "%s log: %s%s (the log's files cover %s to %s, UTC days)\n",
		progName, what, periodWords(q.Since, q.Until), first, last)
	return nil
}

// periodWords is " between X and Y", " at or after X", " before Y" or "".
func periodWords(since, until time.Time) string {
	const layout = time.RFC3339Nano
	switch {
	case !since.IsZero() && !until.IsZero():
		return fmt.Sprintf(" between %s and %s", since.UTC().Format(layout), until.UTC().Format(layout))
	case !since.IsZero():
		return " at or after " + since.UTC().Format(layout)
	case !until.IsZero():
		return " before " + until.UTC().Format(layout)
	}
	return ""
}

// query checks the flags and turns them into a LogQuery.
func (c *logCmd) query(now time.Time) (lifecycle.LogQuery, error) {
	q := lifecycle.LogQuery{Kind: c.kind}
	var err error
	if c.since != "" {
		if q.Since, err = parseTimeArg(c.since, now); err != nil {
			return q, usagef("log", "--since %v", err)
		}
	}
	if c.until != "" {
		if c.follow {
			return q, usagef("log", "--until and --follow contradict each other")
		}
		if q.Until, err = parseTimeArg(c.until, now); err != nil {
			return q, usagef("log", "--until %v", err)
		}
	}
	switch {
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until):
		return q, usagef("log", "--since must be before --until")
	case c.limit < 0:
		return q, usagef("log", "--limit %d: want 0 or more", c.limit)
	case c.ready != "" && !c.follow:
		return q, usagef("log", "--ready goes with --follow")
	}
	return q, nil
}

// printer writes each entry it gets, human or JSON, and ends the read with
// errLimit once --limit entries are out.
func (c *logCmd) printer(e *env) func(lifecycle.LogEntry) error {
	printed := 0
	return func(le lifecycle.LogEntry) error {
		var err error
		if c.json {
			if _, err = e.out.Write(le.Raw); err == nil {
				err = e.out.WriteByte('\n')
			}
		} else {
			_, err = e.out.WriteString(formatEntry(le))
		}
		if err != nil {
			return err
		}
		printed++
		if c.limit > 0 && printed >= c.limit {
			return errLimit
		}
		return nil
	}
}

// badLines reports and counts the malformed lines a read of the command
// cmd skipped.
type badLines struct {
	cmd     string
	n, torn int
}

func (b *badLines) report(e *env, m lifecycle.MalformedLine) {
	b.n++
	kind := "malformed"
	if m.Torn {
		b.torn++
		kind = "torn"
	}
	where := "byte offset"
	if strings.HasSuffix(m.File, ".gz") {
		where = "uncompressed byte offset"
	}
	fmt.Fprintf(e.stderr, "%s %s: skipped %s line at %s %d of %s: %v\n", progName, b.cmd, kind, where, m.Offset, m.File, m.Err)
}

func (b *badLines) summary(e *env) {
	if b.n > 0 {
		fmt.Fprintf(e.stderr, "%s %s: malformed lines skipped: %d (%d torn)\n", progName, b.cmd, b.n, b.torn)
	}
}
