//go:build unix

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// ErrNoHistory: the event log holds no state_transition line to answer
// from.
var ErrNoHistory = errors.New("no state transition in the event log")

// histWindowSize is how many transitions History holds back to put them in
// order; it bounds History's memory whatever the size of the log.
var histWindowSize = 4096

// History answers an operator's questions about the past from the event log
// alone: what state the daemon was in at a given time, since when and after
// which transition (StateAt); how each UTC day was spent (Days); the spans of
// its states over a period (Timeline). It streams the log with ReadLog, one
// pass, in memory bounded by the number of transitions it holds back to put
// them in order (at most 4096; in a log written by this library, whose seqs
// follow each other, one or two), not by the size of the log or the length
// of the period. Each method has a Context form whose read ends with its
// context.
//
// Order. Transitions are put in one total order, which this library's
// lines (with a seq, counting up as they are written) and the Python
// tools' lines (without a seq, appended under the same lock to the file of
// the same UTC day) both keep. The log is read as ReadLog reads it: days
// oldest first, a day's rotated part before its plain file, each file's
// lines in the order they were written. A transition with a seq goes by
// its seq. One without a seq goes right after the transition with a seq
// read last before it (after the others without a seq that follow that
// one, in read order); those read before any seq come first. A seq read
// again is a line written twice: the first line read is the transition,
// the others are skipped and counted in HistoryStats.Unordered.
//
// So where each day's file was written after the days before it, the order
// is the order the lines were written in, whatever times they carry. Where
// a wall clock stepped back across midnight and wrote later transitions
// into an earlier day's file, the transitions with a seq still go by seq,
// and one without a seq still goes after the line with a seq before it in
// its file; only one at the head of a file, before the file's first seq,
// goes after the last seq of the files read before it, which may be later
// than it was written. Log file names are not taken to be in write order.
//
// History holds back at most 4096 transitions to put them in order, so its
// memory is bounded whatever the log holds. A transition whose place went
// by before it was read (more than 4096 transitions ahead of it in read
// order) is skipped and counted in Unordered, and so are the transitions
// without a seq that follow it.
//
// Time. Each transition starts a span of its target state, which lasts until
// the next transition. A transition logged earlier than the one before it (the
// clock stepped back) is taken to have happened when that one did, so spans
// never overlap and the timeline never runs backwards. Before the log's first
// transition the daemon was in that transition's From state, since a time the
// log does not give: that span starts at the zero time, and its Entered is
// nil. The last transition's span has no end as far as the log goes.
type History struct {
	// Dir is the event log's directory, as for ReadLog: a Machine's is
	// DIR/logs.
	Dir string
	// OnMalformed, if not nil, is told of each line skipped: those ReadLog
	// skips, and state_transition lines without both states, with a seq
	// that is not a positive integer, or at the zero time.
	OnMalformed func(MalformedLine)
}

// HistoryStats counts what a History read saw.
type HistoryStats struct {
	Log         LogStats // the read of the log (its Entries: state_transition lines)
	Transitions int      // transitions put on the timeline
	Invalid     int      // state_transition lines without both states, with a bad seq, or at the zero time
	Unordered   int      // state_transition lines too late for their place, or a seq placed already
}

// Span is a stretch of time the daemon spent in one state.
type Span struct {
	State State
	// Start and End bound the span: [Start, End). The zero Start is the
	// span before the log's first transition, which starts at a time the
	// log does not give; a zero End is a span that has not ended as far as
	// the log goes. Timeline and Days clip spans to their period.
	Start, End time.Time
	// Entered is the transition into State: nil for the span before the
	// log's first transition. Left is the transition out of it: nil for the
	// last span. Their Time is the logged one, which may differ from Start
	// and End when the clock stepped back (see History).
	Entered, Left *Transition
}

// Duration is End - Start; 0 for an unbounded span.
func (s Span) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() {
		return 0
	}
	return s.End.Sub(s.Start)
}

// contains reports whether t is in [Start, End), the zero times unbounded.
func (s Span) contains(t time.Time) bool {
	return (s.Start.IsZero() || !t.Before(s.Start)) && (s.End.IsZero() || t.Before(s.End))
}

// Moment is what the log says of the daemon at a time: the span it was in.
type Moment struct {
	At time.Time
	// Span is the span At falls in. Its Start is when the daemon entered
	// State (zero: before the log's first transition, since a time the log
	// does not give); its End is when it left (zero: it has not, as far as
	// the log goes).
	Span
	// Stats count what was read; StateAt stops once the answer is settled.
	Stats HistoryStats
}

// StateAt is History{Dir: logDir}.StateAt(t).
func StateAt(logDir string, t time.Time) (Moment, error) {
	return History{Dir: logDir}.StateAt(t)
}

// errHistSettled stops a read whose answer is known.
var errHistSettled = errors.New("settled")

// StateAt returns the state the daemon was in at t, since when, and after
// which transition, from the log alone. When the clock stepped back, it
// showed some times twice; for those the answer is for the first time, since
// the transitions logged after the step count from the one before them (see
// History).
//
// A log without a transition gives an *fs.PathError naming h.Dir and
// wrapping ErrNoHistory; a missing directory reads as such a log. Other
// errors are ReadLog's.
func (h History) StateAt(t time.Time) (Moment, error) {
	return h.StateAtContext(context.Background(), t)
}

// StateAtContext is StateAt, its read ending with ctx: once ctx has ended
// it reads no more lines and returns ctx's error.
func (h History) StateAtContext(ctx context.Context, t time.Time) (Moment, error) {
	m := Moment{At: t}
	found := false
	st, err := h.spans(ctx, func(s Span) error {
		if s.contains(t) {
			m.Span, found = s, true
			return errHistSettled
		}
		return nil
	})
	m.Stats = st
	if errors.Is(err, errHistSettled) {
		err = nil
	}
	if err == nil && !found {
		err = &fs.PathError{Op: "history", Path: h.Dir, Err: ErrNoHistory}
	}
	return m, err
}

// Timeline calls fn with each span of the period [since, until), clipped to
// it, oldest first: the spans that overlap the period, and a span of no
// length (two transitions at one time) when its time is in the period, so
// that every transition of the period is the Entered of one span. A zero
// since starts the period at the log's first transition; a zero until ends it
// now. The part of the period before the log's first transition is a span
// whose Entered is nil.
//
// An error from fn stops the read and is returned as it is.
func (h History) Timeline(since, until time.Time, fn func(Span) error) (HistoryStats, error) {
	return h.TimelineContext(context.Background(), since, until, fn)
}

// TimelineContext is Timeline, its read ending with ctx: once ctx has ended
// it reads no more lines and returns ctx's error.
func (h History) TimelineContext(ctx context.Context, since, until time.Time, fn func(Span) error) (HistoryStats, error) {
	if until.IsZero() {
		until = time.Now()
	}
	if !since.IsZero() && !since.Before(until) {
		return HistoryStats{}, fmt.Errorf("history of %s: the period's start %s is not before its end %s",
			h.Dir, FormatTimestamp(since), FormatTimestamp(until))
	}
	return h.clipped(ctx, since, until, fn)
}

// clipped streams the spans of [since, until) as Timeline documents; since
// is set from the first transition when zero.
func (h History) clipped(ctx context.Context, since, until time.Time, fn func(Span) error) (HistoryStats, error) {
	st, err := h.spans(ctx, func(s Span) error {
		if since.IsZero() { // the span before the log: the period starts after it
			since = s.End
		}
		if !s.Start.IsZero() && !s.Start.Before(until) {
			return errHistSettled // every later span starts later still
		}
		empty := !s.Start.IsZero() && s.Start.Equal(s.End)
		if empty {
			if s.Start.Before(since) {
				return nil
			}
		} else if !s.End.IsZero() && !s.End.After(since) {
			return nil
		}
		if s.Start.IsZero() || s.Start.Before(since) {
			s.Start = since
		}
		if s.End.IsZero() || s.End.After(until) {
			s.End = until
		}
		return fn(s)
	})
	if errors.Is(err, errHistSettled) {
		err = nil
	}
	return st, err
}

// DaySummary is how the daemon spent one UTC day, by the log.
type DaySummary struct {
	// Day is the UTC midnight the day starts at.
	Day time.Time
	// Start and End bound the part of the day in the period: the whole day
	// but for the period's first and last.
	Start, End time.Time
	// InState is the time spent in each state the daemon was in that day.
	InState map[State]time.Duration
	// BeforeLog is the time before the log's first transition, in a state
	// the log gives but since a time it does not; it is in no InState.
	BeforeLog time.Duration
	// Transitions counts the transitions of the day.
	Transitions int
	// LongestSleep is the longest span in SLEEP that began that day, whole
	// (up to the period's end), or nil.
	LongestSleep *Span
}

// Days calls fn with a summary of each UTC day of the period [since,
// until), oldest first, days without a transition included. A zero since
// starts the period at the UTC midnight before the log's first transition; a
// zero until ends it now. A log without a transition then gives no day; with
// a since, it gives days whose whole time is BeforeLog. Days are counted on
// the calendar, so a period of any length, centuries included, gives each
// of its days, one at a time: memory does not grow with the period.
//
// An error from fn stops the read and is returned as it is.
func (h History) Days(since, until time.Time, fn func(DaySummary) error) (HistoryStats, error) {
	return h.DaysContext(context.Background(), since, until, fn)
}

// DaysContext is Days, its read ending with ctx: once ctx has ended it reads
// no more lines, sums no more days, and returns ctx's error.
func (h History) DaysContext(ctx context.Context, since, until time.Time, fn func(DaySummary) error) (HistoryStats, error) {
	if until.IsZero() {
		until = time.Now()
	}
	if !since.IsZero() && !since.Before(until) {
		return HistoryStats{}, fmt.Errorf("history of %s: the period's start %s is not before its end %s",
			h.Dir, FormatTimestamp(since), FormatTimestamp(until))
	}
	d := &histDays{ctx: ctx, until: until, emit: fn}
	if !since.IsZero() {
		d.begin(since)
	}
	st, err := h.spans(ctx, func(s Span) error {
		if d.since.IsZero() {
			d.begin(histDay(s.End)) // s is the span before the log
		}
		if !s.Start.IsZero() && !s.Start.Before(until) {
			return errHistSettled // every later span starts later still
		}
		return d.add(s)
	})
	if errors.Is(err, errHistSettled) {
		err = nil
	}
	if err != nil || d.since.IsZero() {
		return st, err
	}
	if st.Transitions == 0 {
		if err := d.add(Span{}); err != nil { // all of it before the log
			return st, err
		}
	}
	return st, d.flush(until)
}

// histDays sums spans into the days of [since, until), and hands each day to
// emit once no later span can change it.
type histDays struct {
	ctx          context.Context
	since, until time.Time
	emit         func(DaySummary) error
	next         time.Time     // the midnight of the first day not yet emitted
	days         []*DaySummary // the open days, from next on
}

func histDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (d *histDays) begin(since time.Time) { d.since, d.next = since, histDay(since) }

// day returns the open summary of the day that holds t (at or after next),
// opening it, and any day before it, as needed.
func (d *histDays) day(t time.Time) *DaySummary {
	i := max(calendarDays(d.next, histDay(t)), 0)
	for len(d.days) <= i {
		day := d.next.AddDate(0, 0, len(d.days))
		s := &DaySummary{Day: day, Start: day, End: day.AddDate(0, 0, 1), InState: map[State]time.Duration{}}
		if s.Start.Before(d.since) {
			s.Start = d.since
		}
		if s.End.After(d.until) {
			s.End = d.until
		}
		d.days = append(d.days, s)
	}
	return d.days[i]
}

// flush emits the days of the period that end at or before t.
func (d *histDays) flush(t time.Time) error {
	for d.next.Before(d.until) {
		s := d.day(d.next)
		if s.End.After(t) {
			return nil
		}
		d.days[0] = nil
		d.days = d.days[1:]
		d.next = d.next.AddDate(0, 0, 1)
		if err := d.ctx.Err(); err != nil {
			return err
		}
		if err := d.emit(*s); err != nil {
			return err
		}
	}
	return nil
}

// add counts the span s, unclipped, into the days it covers. Spans come in
// order, so the days that end by its start are done.
func (d *histDays) add(s Span) error {
	if err := d.flush(s.Start); err != nil {
		return err
	}
	start, end := s.Start, s.End
	if start.IsZero() || start.Before(d.since) {
		start = d.since
	}
	if end.IsZero() || end.After(d.until) {
		end = d.until
	}
	if s.Entered != nil && !s.Start.Before(d.since) && s.Start.Before(d.until) {
		day := d.day(s.Start)
		day.Transitions++
		if s.State == Sleep {
			whole := Span{State: s.State, Start: s.Start, End: end, Entered: s.Entered, Left: s.Left}
			if day.LongestSleep == nil || whole.Duration() > day.LongestSleep.Duration() {
				day.LongestSleep = &whole
			}
		}
	}
	for t := start; t.Before(end); {
		day := d.day(t)
		stop := day.Day.AddDate(0, 0, 1)
		if stop.After(end) {
			stop = end
		}
		if s.Entered == nil {
			day.BeforeLog += stop.Sub(t)
		} else {
			day.InState[s.State] += stop.Sub(t)
		}
		t = stop
		// No later span can change a day that ends by this span's end:
		// emit it now, so that a span of many days holds one at a time.
		if err := d.flush(t); err != nil {
			return err
		}
	}
	return nil
}

// calendarDays is the number of days from the UTC midnight a to the UTC
// midnight b, counted in seconds since the epoch, which no period of
// interest overflows (a time.Duration holds 292 years).
func calendarDays(a, b time.Time) int {
	return int((b.Unix() - a.Unix()) / (24 * 60 * 60))
}

// spans streams the timeline, unclipped: the span before the log's first
// transition, then one span per transition, the last one open.
func (h History) spans(ctx context.Context, fn func(Span) error) (HistoryStats, error) {
	var prev *Transition
	var prevStart time.Time
	st, err := h.transitions(ctx, func(tr Transition) error {
		t := &tr
		start := tr.Time
		if prev == nil {
			prev, prevStart = t, start
			return fn(Span{State: tr.From, End: start, Left: t})
		}
		if start.Before(prevStart) {
			start = prevStart
		}
		s := Span{State: prev.To, Start: prevStart, End: start, Entered: prev, Left: t}
		prev, prevStart = t, start
		return fn(s)
	})
	if err == nil && prev != nil {
		err = fn(Span{State: prev.To, Start: prevStart, Entered: prev})
	}
	return st, err
}

// transitions streams the log's transitions to fn in order (see History).
func (h History) transitions(ctx context.Context, fn func(Transition) error) (HistoryStats, error) {
	var st HistoryStats
	w := &histWindow{held: map[int64]bool{}}
	release := func(final bool) error {
		for {
			tr, ok := w.pop(final)
			if !ok {
				return nil
			}
			st.Transitions++
			if err := fn(tr); err != nil {
				return err
			}
		}
	}
	q := LogQuery{Kind: "state_transition", OnMalformed: h.OnMalformed}
	if ctx.Done() != nil {
		q.ctx = ctx
	}
	logSt, err := ReadLog(h.Dir, q, func(e LogEntry) error {
		tr, hasSeq, err := parseTransitionLine(e)
		if err != nil {
			st.Invalid++
			if h.OnMalformed != nil {
				h.OnMalformed(MalformedLine{File: e.File, Offset: e.Offset, Err: err})
			}
			return nil
		}
		if !w.push(tr, hasSeq) {
			st.Unordered++
			return nil
		}
		return release(false)
	})
	st.Log = logSt
	if err == nil {
		err = release(true)
	}
	return st, err
}

// histItem is a transition held back by a histWindow.
type histItem struct {
	tr Transition
	// seq is the transition's seq or, for one without (follows), the seq
	// of the transition it follows: 0 for those read before any seq.
	seq     int64
	follows bool
	n       int64 // read order
}

// before is History's order: by seq, a transition without a seq after the
// one it follows, and those by read order.
func (a *histItem) before(b *histItem) bool {
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	if a.follows != b.follows {
		return !a.follows
	}
	return a.n < b.n
}

// histWindow puts transitions in History's order as they are read,
// holding back at most histWindowSize of them. A transition goes as soon
// as nothing read later can come before it: one with a seq when every seq
// below it has gone and a seq was read after the one before it (so that no
// more transitions without a seq can come to follow that one); one without
// a seq when the one it follows has gone. When the window is full, the
// least goes whatever comes later; what then comes too late for its place
// is refused, with the transitions without a seq that follow it.
type histWindow struct {
	items  []histItem     // a min-heap
	held   map[int64]bool // the seqs in items
	n      int64          // transitions read
	anchor int64          // the seq read last, not read before; 0: none yet
	done   int64          // every seq up to done has gone, or will be refused

	overflowed bool // a transition went before its place was known
	lost       bool // the seq read last was refused as too late
}

// push adds a transition read. It reports false, refusing it, when its seq
// has gone or is held already (a seq written twice), or when it comes too
// late for its place.
func (w *histWindow) push(tr Transition, hasSeq bool) bool {
	w.n++
	it := histItem{tr: tr, seq: tr.Seq, n: w.n}
	if hasSeq {
		switch {
		case w.held[tr.Seq]:
			return false // written twice
		case tr.Seq <= w.done:
			// Written twice, or, once the window has overflowed, too late:
			// then so are the transitions without a seq that follow it.
			w.lost = w.overflowed
			return false
		}
		w.held[tr.Seq], w.anchor, w.lost = true, tr.Seq, false
	} else {
		if w.lost || w.anchor < w.done {
			return false // the window went past its place
		}
		it.seq, it.follows = w.anchor, true
	}
	h := append(w.items, it)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].before(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	w.items = h
	return true
}

// pop returns the next transition in order if it may go now (final: the
// log is read, everything may go).
func (w *histWindow) pop(final bool) (Transition, bool) {
	if len(w.items) == 0 {
		return Transition{}, false
	}
	least := &w.items[0]
	ready := least.follows && least.seq <= w.done ||
		!least.follows && least.seq == w.done+1 && w.anchor != w.done
	if !ready && !final && len(w.items) <= histWindowSize {
		return Transition{}, false
	}
	w.overflowed = w.overflowed || !ready && !final
	it := w.popLeast()
	if !it.follows {
		delete(w.held, it.seq)
		w.done = max(w.done, it.seq)
	}
	return it.tr, true
}

// popLeast removes the least item from the heap and returns it.
func (w *histWindow) popLeast() histItem {
	h := w.items
	least := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = histItem{}
	h = h[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].before(&h[c]) {
			c++
		}
		if !h[c].before(&h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	w.items = h
	return least
}
