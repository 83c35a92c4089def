package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const historyDetails = `Answers from the event log alone (lifecycle.History), reading it once, in
constant memory however long it is.

With --at T: the state the daemon was in at T, since when, the transition
that entered it and the one that left it. Before the log's first transition
the state is the one that transition left, since a time the log does not
give.

Otherwise, a summary of each UTC day of the period from --since (default:
the day of the oldest log file) to --until (default: now): the time in each
state (h:mm:ss), the time before the log's first transition (whose state the
log does not give), the transitions, and the longest sleep that began that
day (whole, up to the period's end); then the total. The states are the
library's, or with --table FILE that table's; time in any other state is
shown as "other". --svg prints instead a self-contained SVG timeline, one
row per UTC day, a bar per stretch of time in a state (at least 2 px wide),
and the time after the log's last line drawn as unknown.

T is an RFC 3339 time (2026-11-25T22:45:32Z; a space may stand for the T,
and a time without an offset is UTC), a UTC date (2026-11-25, meaning its
midnight), a duration (2h, meaning that long ago) or now.

Transitions go in the order of their seq, not of the files' names (a clock
stepped back across midnight writes into the previous day's file); a line
without a seq (the Python tools') goes right after the line with a seq read
before it, where it was written among the others. A transition logged
before the one preceding it counts from that one's time. Malformed lines,
and state_transition lines without both states or with a bad seq, are
skipped and reported on standard error, as by "log".

Days are counted on the calendar: a period of any length, centuries
included, gives each of its days. SIGINT or SIGTERM stops the command
before its next line of the log or its next day, with exit status 1 and a
message saying that what it printed is incomplete.

With --json: for --at, one object {"at":...,"state":...,"since":...,
"until":...,"entered":{...},"left":{...}} (since, until, entered, left null
when the log does not give them; a transition in its log line's keys);
otherwise one document {"log_dir":...,"since":...,"until":...,"days":[{"day":
"2026-11-25","start":...,"end":...,"seconds":{"WAKE":...},
"before_log_seconds":...,"transitions":N,"longest_sleep":{"start":...,
"end":...,"seconds":...} or null},...],"total":{...},"skipped":{...}}, a
day a line.
`

type historyCmd struct {
	at, since, until string
	table            tableArg
	json, svg        bool
}

func (c *historyCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.at, "at", "", "the state at `T`, instead of the summary")
	fs.StringVar(&c.since, "since", "", "the period starts at `T` (default: the oldest log file's day)")
	fs.StringVar(&c.until, "until", "", "the period ends before `T` (default: now)")
	c.table.define(fs)
	fs.BoolVar(&c.json, "json", false, "print JSON (every state the log names, whatever the table)")
	fs.BoolVar(&c.svg, "svg", false, "print an SVG timeline of the period instead of the summary")
}

func (c *historyCmd) run(e *env, args []string) error {
	switch {
	case len(args) > 0:
		return usagef("history", "unexpected argument %q", args[0])
	case c.at != "" && (c.since != "" || c.until != ""):
		return usagef("history", "--at goes without --since and --until")
	case c.at != "" && c.svg:
		return usagef("history", "--svg draws a period: it goes without --at")
	case c.at != "" && c.table.path != "":
		return usagef("history", "--table goes with the summary, not --at")
	case c.json && c.svg:
		return usagef("history", "--json and --svg: choose one")
	case c.json && c.table.path != "":
		return usagef("history", "--table makes the text's columns and the SVG's colours: it goes without --json")
	}
	now := e.now()
	var at, since, until time.Time
	var err error
	if c.at != "" {
		if at, err = parseTimeArg(c.at, now); err != nil {
			return usagef("history", "--at %v", err)
		}
	}
	if c.since != "" {
		if since, err = parseTimeArg(c.since, now); err != nil {
			return usagef("history", "--since %v", err)
		}
	}
	until = now.UTC()
	if c.until != "" {
		if until, err = parseTimeArg(c.until, now); err != nil {
			return usagef("history", "--until %v", err)
		}
	}
	if !since.IsZero() && !since.Before(until) {
		return usagef("history", "--since must be before --until")
	}
	t, err := c.table.load()
	if err != nil {
		return err
	}
	dir, err := e.lifecycleDir("history")
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, lifecycle.DefaultLogDir)
	bad := badLines{cmd: "history"}
	h := lifecycle.History{Dir: logDir, OnMalformed: func(m lifecycle.MalformedLine) { bad.report(e, m) }}
	defer bad.summary(e)

	if c.at != "" {
		m, err := h.StateAtContext(e.ctx, at)
		reportUnordered(e, m.Stats)
		if err != nil {
			return interrupted(e, err)
		}
		if c.json {
			return json.NewEncoder(e.out).Encode(momentJSON(m))
		}
		writeMoment(e.out, m)
		return nil
	}

	if since.IsZero() {
		files, err := lifecycle.LogFiles(logDir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return &fs.PathError{Op: "history", Path: logDir, Err: fmt.Errorf("no log file to start the period from; give --since")}
		}
		since = files[0].Day
		if !since.Before(until) {
			return usagef("history", "--until %s is not after the oldest log file's day, %s: give --since",
				humanTime(until), since.Format(time.DateOnly))
		}
	}
	var st lifecycle.HistoryStats
	switch {
	case c.svg:
		st, err = writeSVG(e.ctx, e.out, h, t, since, until)
	case c.json:
		st, err = writeDaysJSON(e.ctx, e.out, h, since, until)
	default:
		st, err = writeDays(e.ctx, e.out, h, t, since, until)
	}
	reportUnordered(e, st)
	return interrupted(e, err)
}

// interrupted says so when err is the end of the command's context: a
// SIGINT or SIGTERM stopped the read, and what was printed is incomplete.
func interrupted(e *env, err error) error {
	if err != nil && e.ctx.Err() != nil && errors.Is(err, e.ctx.Err()) {
		return errors.New("history: interrupted by a signal; what it printed is incomplete")
	}
	return err
}

// reportUnordered notes on standard error the transitions History could not
// place; the malformed lines were reported one by one.
func reportUnordered(e *env, st lifecycle.HistoryStats) {
	if st.Unordered > 0 {
		fmt.Fprintf(e.stderr, "%s history: state_transition lines skipped, out of order beyond 4096 transitions or a seq seen before: %d\n",
			progName, st.Unordered)
	}
}

// writeMoment writes what StateAt found as a block of "label  value" lines.
func writeMoment(w io.Writer, m lifecycle.Moment) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-15s%s\n", label, fmt.Sprintf(format, args...))
	}
	line("at", "%s", humanTime(m.At))
	if m.Entered == nil {
		line("state", "%s since before the log's first transition (the log does not say since when)", m.State)
		line("entered by", "-")
	} else {
		line("state", "%s since %s (%s before)", m.State, humanTime(m.Start), humanDuration(m.At.Sub(m.Start).Round(time.Second)))
		line("entered by", "%s", transitionText(*m.Entered))
	}
	if m.Left == nil {
		line("left", "not yet, as far as the log goes")
	} else {
		line("left", "at %s (%s after), by %s", humanTime(m.End), humanDuration(m.End.Sub(m.At).Round(time.Second)), transitionText(*m.Left))
	}
}

// transitionText is "FROM -> TO (trigger) seq N, logged T".
func transitionText(tr lifecycle.Transition) string {
	s := fmt.Sprintf("%s -> %s (%s)", tr.From, tr.To, tr.Event)
	if tr.Seq > 0 {
		s += fmt.Sprintf(" seq %d", tr.Seq)
	}
	return s + ", logged " + humanTime(tr.Time)
}

// lineJSON is a transition in its log line's keys, the seq left out when
// the line has none.
type lineJSON struct {
	TS      string          `json:"ts"`
	From    lifecycle.State `json:"from"`
	To      lifecycle.State `json:"to"`
	Trigger lifecycle.Event `json:"trigger"`
	Seq     int64           `json:"seq,omitempty"`
}

func trJSON(tr *lifecycle.Transition) *lineJSON {
	if tr == nil {
		return nil
	}
	return &lineJSON{lifecycle.FormatTimestamp(tr.Time), tr.From, tr.To, tr.Event, tr.Seq}
}

// stamp is t as the files write it, or nil for the zero time.
func stamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := lifecycle.FormatTimestamp(t)
	return &s
}

func momentJSON(m lifecycle.Moment) any {
	return struct {
		At      string          `json:"at"`
		State   lifecycle.State `json:"state"`
		Since   *string         `json:"since"`
		Until   *string         `json:"until"`
		Entered *lineJSON       `json:"entered"`
		Left    *lineJSON       `json:"left"`
	}{lifecycle.FormatTimestamp(m.At), m.State, stamp(m.Start), stamp(m.End), trJSON(m.Entered), trJSON(m.Left)}
}

// hms writes d, to the second, as hours:minutes:seconds.
func hms(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// longSum is a sum of durations that may be longer than a time.Duration
// holds (292 years): whole seconds, and the nanoseconds over.
type longSum struct{ sec, nsec int64 }

func (l *longSum) add(d time.Duration) {
	l.sec += int64(d / time.Second)
	if l.nsec += int64(d % time.Second); l.nsec >= int64(time.Second) {
		l.sec, l.nsec = l.sec+1, l.nsec-int64(time.Second)
	}
}

func (l longSum) seconds() float64 { return float64(l.sec) + float64(l.nsec)/1e9 }

// hms writes the sum, to the second, as hours:minutes:seconds.
func (l longSum) hms() string {
	return fmt.Sprintf("%d:%02d:%02d", l.sec/3600, l.sec/60%60, l.sec%60)
}

// dayTotal sums days into a summary of the whole period, however long.
type dayTotal struct {
	in           map[lifecycle.State]*longSum
	beforeLog    longSum
	transitions  int
	longestSleep *lifecycle.Span
}

func (t *dayTotal) add(d lifecycle.DaySummary) {
	if t.in == nil {
		t.in = map[lifecycle.State]*longSum{}
	}
	for s, v := range d.InState {
		if t.in[s] == nil {
			t.in[s] = &longSum{}
		}
		t.in[s].add(v)
	}
	t.beforeLog.add(d.BeforeLog)
	t.transitions += d.Transitions
	if s := d.LongestSleep; s != nil && (t.longestSleep == nil || s.Duration() > t.longestSleep.Duration()) {
		t.longestSleep = s
	}
}

// seconds is the time in each state, in seconds.
func (t *dayTotal) seconds() map[lifecycle.State]float64 {
	out := make(map[lifecycle.State]float64, len(t.in))
	for s, v := range t.in {
		out[s] = v.seconds()
	}
	return out
}

// writeDays writes the summary as a table, a UTC day a line, a column for
// each of the table's states. Time in a state the table does not have
// (the log's table is another) is in no column; a note after the total
// says how much there was.
func writeDays(ctx context.Context, w io.Writer, h lifecycle.History, t *lifecycle.Table, since, until time.Time) (lifecycle.HistoryStats, error) {
	cols := t.States()
	widths := make([]int, len(cols))
	fmt.Fprintf(w, "History of %s from %s to %s, by UTC day (h:mm:ss)\n", h.Dir, humanTime(since), humanTime(until))
	fmt.Fprintf(w, "%-10s", "day")
	for i, s := range cols {
		widths[i] = max(len(s), 9)
		fmt.Fprintf(w, "  %*s", widths[i], s)
	}
	fmt.Fprintf(w, "  %10s  %11s  %s\n", "before log", "transitions", "longest sleep")
	row := func(label string, in func(lifecycle.State) string, beforeLog string, transitions int, sleep *lifecycle.Span, sleepAt string) string {
		line := fmt.Sprintf("%-10s", label)
		for i, s := range cols {
			line += fmt.Sprintf("  %*s", widths[i], in(s))
		}
		line += fmt.Sprintf("  %10s  %11d", beforeLog, transitions)
		if sleep != nil {
			line += fmt.Sprintf("  %s from %s", hms(sleep.Duration()), sleep.Start.Format(sleepAt))
		} else {
			line += "  -"
		}
		return line + "\n"
	}
	var total dayTotal
	st, err := h.DaysContext(ctx, since, until, func(d lifecycle.DaySummary) error {
		total.add(d)
		in := func(s lifecycle.State) string { return hms(d.InState[s]) }
		_, err := io.WriteString(w, row(d.Day.Format(time.DateOnly), in, hms(d.BeforeLog), d.Transitions, d.LongestSleep, "15:04"))
		return err
	})
	if err != nil {
		return st, err
	}
	in := func(s lifecycle.State) string {
		if v := total.in[s]; v != nil {
			return v.hms()
		}
		return hms(0)
	}
	_, err = io.WriteString(w, row("total", in, total.beforeLog.hms(), total.transitions, total.longestSleep, "2006-01-02 15:04"))
	var other []string
	for s, v := range total.in {
		if !slices.Contains(cols, s) {
			other = append(other, fmt.Sprintf("%s %s", s, v.hms()))
		}
	}
	if err == nil && len(other) > 0 {
		slices.Sort(other)
		_, err = fmt.Fprintf(w, "Not in a column, in states the table does not have (give their table with --table): %s\n", strings.Join(other, ", "))
	}
	return st, err
}

// spanJSON is a span as --json writes it.
type spanJSON struct {
	Start   string  `json:"start"`
	End     string  `json:"end"`
	Seconds float64 `json:"seconds"`
}

func sleepJSON(s *lifecycle.Span) *spanJSON {
	if s == nil {
		return nil
	}
	return &spanJSON{lifecycle.FormatTimestamp(s.Start), lifecycle.FormatTimestamp(s.End), s.Duration().Seconds()}
}

// summaryJSON is the part of a day, or of the total, --json writes.
type summaryJSON struct {
	Seconds      map[lifecycle.State]float64 `json:"seconds"`
	BeforeLog    float64                     `json:"before_log_seconds"`
	Transitions  int                         `json:"transitions"`
	LongestSleep *spanJSON                   `json:"longest_sleep"`
}

func newSummaryJSON(seconds map[lifecycle.State]float64, beforeLog float64, transitions int, sleep *lifecycle.Span) summaryJSON {
	return summaryJSON{seconds, beforeLog, transitions, sleepJSON(sleep)}
}

// writeDaysJSON writes the summary as one JSON document, a day a line.
func writeDaysJSON(ctx context.Context, w io.Writer, h lifecycle.History, since, until time.Time) (lifecycle.HistoryStats, error) {
	head, err := json.Marshal(struct {
		LogDir string `json:"log_dir"`
		Since  string `json:"since"`
		Until  string `json:"until"`
	}{h.Dir, lifecycle.FormatTimestamp(since), lifecycle.FormatTimestamp(until)})
	if err != nil {
		return lifecycle.HistoryStats{}, err
	}
	if _, err := fmt.Fprintf(w, "%s,\"days\":[", head[:len(head)-1]); err != nil {
		return lifecycle.HistoryStats{}, err
	}
	var total dayTotal
	sep := "\n"
	st, err := h.DaysContext(ctx, since, until, func(d lifecycle.DaySummary) error {
		total.add(d)
		seconds := make(map[lifecycle.State]float64, len(d.InState))
		for s, v := range d.InState {
			seconds[s] = v.Seconds()
		}
		b, err := json.Marshal(struct {
			Day   string `json:"day"`
			Start string `json:"start"`
			End   string `json:"end"`
			summaryJSON
		}{d.Day.Format(time.DateOnly), lifecycle.FormatTimestamp(d.Start), lifecycle.FormatTimestamp(d.End),
			newSummaryJSON(seconds, d.BeforeLog.Seconds(), d.Transitions, d.LongestSleep)})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s%s", sep, b)
		sep = ",\n"
		return err
	})
	if err != nil {
		return st, err
	}
	type skipped struct {
		Malformed int `json:"malformed"`
		Invalid   int `json:"invalid"`
		Unordered int `json:"unordered"`
	}
	tail, err := json.Marshal(struct {
		Total   summaryJSON `json:"total"`
		Skipped skipped     `json:"skipped"`
	}{newSummaryJSON(total.seconds(), total.beforeLog.seconds(), total.transitions, total.longestSleep),
		skipped{st.Log.Malformed, st.Invalid, st.Unordered}})
	if err != nil {
		return st, err
	}
	_, err = fmt.Fprintf(w, "\n],%s\n", tail[1:])
	return st, err
}
