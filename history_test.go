//go:build unix

package lifecycle_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// histTS parses a test timestamp: "2026-11-25T08:00:00Z", or "25 08:00"
// (day of November 2026, UTC) for short.
func histTS(t testing.TB, s string) time.Time {
	t.Helper()
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ts.UTC()
	}
	ts, err := time.Parse("2006-01-02 15:04:05", "2026-11-"+s+":00")
	if err != nil {
		ts, err = time.Parse("2006-01-02 15:04:05", "2026-11-"+s)
	}
	require.NoError(t, err, s)
	return ts
}

// histTr is a state_transition line as the library writes it; seq 0 leaves
// the seq out, as the Python tools do.
func histTr(t testing.TB, ts, from, to, trigger string, seq int) string {
	line := fmt.Sprintf(`{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"%s"`,
		lifecycle.FormatTimestamp(histTS(t, ts)), from, to, trigger)
	if seq > 0 {
		line += fmt.Sprintf(`,"seq":%d`, seq)
	}
	return line + "}"
}

// histDir writes a log directory: file name (the day, "2026-11-25", with
// ".gz" for a rotated file) to lines.
func histDir(t testing.TB, files map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, lines := range files {
		data := []byte(strings.Join(lines, "\n") + "\n")
		path := filepath.Join(dir, "lifecycle-events-"+strings.TrimSuffix(name, ".gz")+".jsonl")
		if strings.HasSuffix(name, ".gz") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, err := zw.Write(data)
			require.NoError(t, err)
			require.NoError(t, zw.Close())
			data, path = b.Bytes(), path+".gz"
		}
		require.NoError(t, os.WriteFile(path, data, 0o600))
	}
	return dir
}

// histDayLog is a day and a half: a sleep on the 25th, hibernation through
// the night, a wake on the 26th (whose file is rotated).
func histDayLog(t testing.TB) string {
	return histDir(t, map[string][]string{
		"2026-11-25": {
			histTr(t, "25 08:00", "WAKE", "DROWSY", "idle_5min", 1),
			`{"ts":"2026-11-25T08:01:00+00:00","event":"wrapper_event","kind":"heartbeat_refresh"}`,
			histTr(t, "25 08:30", "DROWSY", "SLEEP", "idle_30min", 2),
			histTr(t, "25 09:00", "SLEEP", "HIBERNATION", "sleep_cycle_done", 3),
		},
		"2026-11-26.gz": {
			histTr(t, "26 06:00", "HIBERNATION", "WAKE", "wake_signal", 4),
		},
	})
}

// momentOf is the part of a Moment the tests compare: state, start, end,
// and the seqs (or times, for lines without one) of the transitions in and
// out; "" for none.
type moment struct {
	state         lifecycle.State
	start, end    string
	entered, left string
}

func momentOf(m lifecycle.Moment) moment {
	name := func(tr *lifecycle.Transition) string {
		switch {
		case tr == nil:
			return ""
		case tr.Seq == 0:
			return tr.Time.Format("02 15:04:05")
		}
		return fmt.Sprint(tr.Seq)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("02 15:04:05")
	}
	return moment{m.State, ts(m.Start), ts(m.End), name(m.Entered), name(m.Left)}
}

func TestStateAt(t *testing.T) {
	dayLog := histDayLog(t)
	// The clock stepped back across midnight: seq 3, written after seq 2,
	// is in the earlier day's file, and logged before seq 2's time. File
	// order would put it before seq 2 and leave the machine in WAKE.
	stepped := histDir(t, map[string][]string{
		"2026-11-25": {
			histTr(t, "25 23:50", "WAKE", "DROWSY", "idle_5min", 1),
			histTr(t, "25 23:59:50", "WAKE", "DROWSY", "idle_5min", 3),
		},
		"2026-11-26": {
			histTr(t, "26 00:00:10", "DROWSY", "WAKE", "heartbeat_refresh", 2),
		},
	})
	// The Python tools write no seq: such lines go in the order they were
	// written, even when a clock set back gives them times out of order.
	python := histDir(t, map[string][]string{
		"2026-11-25": {
			histTr(t, "25 10:00", "DROWSY", "WAKE", "heartbeat_refresh", 0),
			histTr(t, "25 09:00", "WAKE", "DROWSY", "idle_5min", 0),
		},
	})
	tests := []struct {
		name string
		dir  string
		at   string
		want moment
	}{
		{"before the log: the first transition's from", dayLog, "25 07:00", moment{"WAKE", "", "25 08:00:00", "", "1"}},
		{"at a transition: its target", dayLog, "25 08:00", moment{"DROWSY", "25 08:00:00", "25 08:30:00", "1", "2"}},
		{"between transitions", dayLog, "25 08:15", moment{"DROWSY", "25 08:00:00", "25 08:30:00", "1", "2"}},
		{"just before a transition", dayLog, "2026-11-25T08:29:59.999999Z", moment{"DROWSY", "25 08:00:00", "25 08:30:00", "1", "2"}},
		{"across midnight, into a rotated file", dayLog, "26 05:00", moment{"HIBERNATION", "25 09:00:00", "26 06:00:00", "3", "4"}},
		{"after the last transition: no end", dayLog, "27 12:00", moment{"WAKE", "26 06:00:00", "", "4", ""}},
		{"clock stepped back: seq order", stepped, "26 00:05", moment{"DROWSY", "26 00:00:10", "", "3", ""}},
		{"clock stepped back: before the step", stepped, "25 23:55", moment{"DROWSY", "25 23:50:00", "26 00:00:10", "1", "2"}},
		{"no seq: write order", python, "25 09:30", moment{"DROWSY", "", "25 10:00:00", "", "25 10:00:00"}},
		{"no seq: after the clock stepped back", python, "25 10:30", moment{"DROWSY", "25 10:00:00", "", "25 09:00:00", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := histTS(t, tt.at)
			m, err := lifecycle.StateAt(tt.dir, at)
			require.NoError(t, err)
			require.Equal(t, at, m.At)
			require.Equal(t, tt.want, momentOf(m))
		})
	}
}

// The stepped-back transition keeps its logged time; the timeline has it
// when the one before it happened.
func TestStateAtKeepsTheLoggedTime(t *testing.T) {
	dir := histDir(t, map[string][]string{
		"2026-11-25": {histTr(t, "25 23:50", "WAKE", "DROWSY", "idle_5min", 1), histTr(t, "25 23:59:50", "WAKE", "DROWSY", "idle_5min", 3)},
		"2026-11-26": {histTr(t, "26 00:00:10", "DROWSY", "WAKE", "heartbeat_refresh", 2)},
	})
	m, err := lifecycle.StateAt(dir, histTS(t, "27 00:00"))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Transition{From: "WAKE", To: "DROWSY", Event: "idle_5min", Trigger: "idle_5min", Seq: 3, Time: histTS(t, "25 23:59:50")}, *m.Entered)
	require.Equal(t, histTS(t, "26 00:00:10"), m.Start)
	require.Equal(t, 3, m.Stats.Transitions)
}

func TestStateAtNoHistory(t *testing.T) {
	tests := []struct {
		name string
		dir  string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "nowhere")},
		{"empty directory", t.TempDir()},
		{"no transition", histDir(t, map[string][]string{"2026-11-25": {
			`{"ts":"2026-11-25T08:01:00+00:00","event":"wrapper_event","kind":"heartbeat_refresh"}`}})},
		{"only invalid transitions", histDir(t, map[string][]string{"2026-11-25": {
			`{"ts":"2026-11-25T08:01:00+00:00","event":"state_transition","from":"WAKE"}`}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lifecycle.StateAt(tt.dir, histTS(t, "25 12:00"))
			require.ErrorIs(t, err, lifecycle.ErrNoHistory)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.dir, pe.Path)
			require.Contains(t, err.Error(), tt.dir)
		})
	}
}

// Lines that are not transitions History can place are skipped, counted
// and reported with their file and byte offset; the others still answer.
func TestHistorySkipsBadLines(t *testing.T) {
	good1 := histTr(t, "25 08:00", "WAKE", "DROWSY", "idle_5min", 1)
	good2 := histTr(t, "25 09:00", "DROWSY", "WAKE", "heartbeat_refresh", 2)
	lines := []string{
		good1,
		`not json`,
		`{"ts":"2026-11-25T08:10:00+00:00","event":"state_transition","from":"DROWSY","trigger":"x","seq":5}`,
		`{"ts":"2026-11-25T08:11:00+00:00","event":"state_transition","to":"SLEEP","seq":6}`,
		`{"ts":"2026-11-25T08:12:00+00:00","event":"state_transition","from":1,"to":"SLEEP"}`,
		`{"ts":"2026-11-25T08:13:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","seq":"7"}`,
		`{"ts":"2026-11-25T08:14:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","seq":0}`,
		`{"ts":"2026-11-25T08:15:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","seq":1.5}`,
		`{"ts":"2026-11-25T08:16:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","seq":-3}`,
		// The same seq twice: the first placed wins.
		histTr(t, "25 08:20", "DROWSY", "SLEEP", "idle_30min", 1),
		good2,
	}
	dir := histDir(t, map[string][]string{"2026-11-25": lines})
	var got []string
	h := lifecycle.History{Dir: dir, OnMalformed: func(m lifecycle.MalformedLine) {
		got = append(got, fmt.Sprintf("%s:%d: %v", filepath.Base(m.File), m.Offset, m.Err))
	}}
	m, err := h.StateAt(histTS(t, "25 08:30"))
	require.NoError(t, err)
	require.Equal(t, moment{"DROWSY", "25 08:00:00", "25 09:00:00", "1", "2"}, momentOf(m))
	require.Equal(t, 3, m.Stats.Invalid)
	require.Equal(t, 1, m.Stats.Unordered)
	require.Equal(t, 5, m.Stats.Log.Malformed, "a bad seq makes a malformed line for every reader")
	off := func(i int) int { return len(strings.Join(lines[:i], "\n")) + 1 }
	name := "lifecycle-events-2026-11-25.jsonl"
	require.Equal(t, []string{
		fmt.Sprintf("%s:%d: not a JSON object", name, off(1)),
		fmt.Sprintf(`%s:%d: state_transition line without a "to" state`, name, off(2)),
		fmt.Sprintf(`%s:%d: state_transition line without a "from" state`, name, off(3)),
		fmt.Sprintf(`%s:%d: state_transition line: "from", "to" and "trigger" must be strings`, name, off(4)),
		fmt.Sprintf(`%s:%d: state_transition line: "seq" "7" is not an integer from 1 to 9223372036854775806`, name, off(5)),
		fmt.Sprintf(`%s:%d: state_transition line: "seq" 0 is not an integer from 1 to 9223372036854775806`, name, off(6)),
		fmt.Sprintf(`%s:%d: state_transition line: "seq" 1.5 is not an integer from 1 to 9223372036854775806`, name, off(7)),
		fmt.Sprintf(`%s:%d: state_transition line: "seq" -3 is not an integer from 1 to 9223372036854775806`, name, off(8)),
	}, got)
}

// A transition read more than the window's size after its place cannot be
// put there: it is skipped and counted, and the rest stays in order.
func TestHistoryWindow(t *testing.T) {
	n := lifecycle.HistWindowSize + 2
	var day25 []string
	for seq := 2; seq <= n+1; seq++ {
		from, to := "WAKE", "DROWSY"
		if seq%2 == 1 {
			from, to = to, from
		}
		day25 = append(day25, histTr(t, "25 10:00", from, to, "x", seq))
	}
	dir := histDir(t, map[string][]string{
		"2026-11-25": day25,
		"2026-11-26": {histTr(t, "26 10:00", "WAKE", "DROWSY", "late", 1)},
	})
	var seqs []int64
	st, err := lifecycle.History{Dir: dir}.Timeline(histTS(t, "25 00:00"), histTS(t, "27 00:00"), func(s lifecycle.Span) error {
		if s.Entered != nil {
			seqs = append(seqs, s.Entered.Seq)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, st.Unordered)
	require.Equal(t, n, st.Transitions)
	require.Len(t, seqs, n)
	for i, s := range seqs {
		require.Equal(t, int64(i+2), s)
	}

	// Within the window, the same log in any file order is put right.
	dir = histDir(t, map[string][]string{
		"2026-11-25": {histTr(t, "25 10:00", "DROWSY", "WAKE", "x", 2), histTr(t, "25 10:00", "WAKE", "DROWSY", "x", 3)},
		"2026-11-26": {histTr(t, "26 10:00", "WAKE", "DROWSY", "x", 1)},
	})
	seqs = nil
	st, err = lifecycle.History{Dir: dir}.Timeline(histTS(t, "25 00:00"), histTS(t, "27 00:00"), func(s lifecycle.Span) error {
		if s.Entered != nil {
			seqs = append(seqs, s.Entered.Seq)
		}
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, st.Unordered)
	require.Equal(t, []int64{1, 2, 3}, seqs)
}

type span struct {
	state      lifecycle.State
	start, end string
	entered    bool
}

func TestTimeline(t *testing.T) {
	dayLog := histDayLog(t)
	sameTime := histDir(t, map[string][]string{"2026-11-25": {
		histTr(t, "25 08:00", "WAKE", "DROWSY", "idle_5min", 1),
		histTr(t, "25 08:00", "DROWSY", "WAKE", "request_arrived", 2),
		histTr(t, "25 09:00", "WAKE", "DROWSY", "idle_5min", 3),
	}})
	tests := []struct {
		name         string
		dir          string
		since, until string
		want         []span
	}{
		{"whole log, before it included", dayLog, "25 00:00", "27 00:00", []span{
			{"WAKE", "25 00:00:00", "25 08:00:00", false},
			{"DROWSY", "25 08:00:00", "25 08:30:00", true},
			{"SLEEP", "25 08:30:00", "25 09:00:00", true},
			{"HIBERNATION", "25 09:00:00", "26 06:00:00", true},
			{"WAKE", "26 06:00:00", "27 00:00:00", true},
		}},
		{"clipped", dayLog, "25 08:15", "26 12:00", []span{
			{"DROWSY", "25 08:15:00", "25 08:30:00", true},
			{"SLEEP", "25 08:30:00", "25 09:00:00", true},
			{"HIBERNATION", "25 09:00:00", "26 06:00:00", true},
			{"WAKE", "26 06:00:00", "26 12:00:00", true},
		}},
		{"zero since: from the first transition", dayLog, "", "25 08:45", []span{
			{"DROWSY", "25 08:00:00", "25 08:30:00", true},
			{"SLEEP", "25 08:30:00", "25 08:45:00", true},
		}},
		{"inside one span", dayLog, "25 10:00", "25 11:00", []span{
			{"HIBERNATION", "25 10:00:00", "25 11:00:00", true},
		}},
		{"before the log only", dayLog, "24 10:00", "24 11:00", []span{
			{"WAKE", "24 10:00:00", "24 11:00:00", false},
		}},
		{"two transitions at one time: a span of no length", sameTime, "25 07:00", "25 10:00", []span{
			{"WAKE", "25 07:00:00", "25 08:00:00", false},
			{"DROWSY", "25 08:00:00", "25 08:00:00", true},
			{"WAKE", "25 08:00:00", "25 09:00:00", true},
			{"DROWSY", "25 09:00:00", "25 10:00:00", true},
		}},
		{"the empty span at the period's start", sameTime, "25 08:00", "25 08:30", []span{
			{"DROWSY", "25 08:00:00", "25 08:00:00", true},
			{"WAKE", "25 08:00:00", "25 08:30:00", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var since time.Time
			if tt.since != "" {
				since = histTS(t, tt.since)
			}
			var got []span
			_, err := lifecycle.History{Dir: tt.dir}.Timeline(since, histTS(t, tt.until), func(s lifecycle.Span) error {
				got = append(got, span{s.State, s.Start.Format("02 15:04:05"), s.End.Format("02 15:04:05"), s.Entered != nil})
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestHistoryPeriodErrors(t *testing.T) {
	dir := histDayLog(t)
	h := lifecycle.History{Dir: dir}
	at := histTS(t, "25 10:00")
	_, err := h.Timeline(at, at, func(lifecycle.Span) error { return nil })
	require.ErrorContains(t, err, "history of "+dir+": the period's start 2026-11-25T10:00:00+00:00 is not before its end 2026-11-25T10:00:00+00:00")
	_, err = h.Days(at.Add(time.Hour), at, func(lifecycle.DaySummary) error { return nil })
	require.ErrorContains(t, err, "is not before its end")

	// An error from the callback comes back as it is.
	stop := errors.New("stop")
	_, err = h.Timeline(time.Time{}, at, func(lifecycle.Span) error { return stop })
	require.Same(t, stop, err)
	_, err = h.Days(time.Time{}, at, func(lifecycle.DaySummary) error { return stop })
	require.Same(t, stop, err)
}

// day is the part of a DaySummary the tests compare.
type day struct {
	day, start, end string
	in              map[lifecycle.State]time.Duration
	beforeLog       time.Duration
	transitions     int
	longestSleep    string // "start-end", or ""
}

func dayOf(d lifecycle.DaySummary) day {
	out := day{d.Day.Format("02"), d.Start.Format("02 15:04"), d.End.Format("02 15:04"), d.InState, d.BeforeLog, d.Transitions, ""}
	if s := d.LongestSleep; s != nil {
		out.longestSleep = s.Start.Format("02 15:04") + "-" + s.End.Format("02 15:04")
	}
	return out
}

func TestDays(t *testing.T) {
	const h, m = time.Hour, time.Minute
	type in = map[lifecycle.State]time.Duration
	dayLog := histDayLog(t)
	longHibernation := histDir(t, map[string][]string{
		"2026-11-25": {
			histTr(t, "25 10:00", "WAKE", "DROWSY", "idle_5min", 1),
			histTr(t, "25 10:30", "DROWSY", "SLEEP", "idle_30min", 2),
			histTr(t, "25 11:00", "SLEEP", "HIBERNATION", "sleep_cycle_done", 3),
		},
		"2026-11-28": {histTr(t, "28 11:00", "HIBERNATION", "WAKE", "wake_signal", 4)},
	})
	twoSleeps := histDir(t, map[string][]string{"2026-11-25": {
		histTr(t, "25 01:00", "WAKE", "DROWSY", "idle_5min", 1),
		histTr(t, "25 01:30", "DROWSY", "SLEEP", "idle_30min", 2),
		histTr(t, "25 02:00", "SLEEP", "WAKE", "request_arrived", 3),
		histTr(t, "25 22:00", "WAKE", "DROWSY", "idle_5min", 4),
		histTr(t, "25 22:30", "DROWSY", "SLEEP", "idle_30min", 5),
	}})
	stepped := histDir(t, map[string][]string{
		"2026-11-25": {histTr(t, "25 23:50", "WAKE", "DROWSY", "idle_5min", 1), histTr(t, "25 23:59:50", "WAKE", "DROWSY", "idle_5min", 3)},
		"2026-11-26": {histTr(t, "26 00:00:10", "DROWSY", "WAKE", "heartbeat_refresh", 2)},
	})
	tests := []struct {
		name         string
		dir          string
		since, until string
		want         []day
	}{
		{"two whole days", dayLog, "25 00:00", "27 00:00", []day{
			{"25", "25 00:00", "26 00:00", in{"DROWSY": 30 * m, "SLEEP": 30 * m, "HIBERNATION": 15 * h}, 8 * h, 3, "25 08:30-25 09:00"},
			{"26", "26 00:00", "27 00:00", in{"HIBERNATION": 6 * h, "WAKE": 18 * h}, 0, 1, ""},
		}},
		{"part days", dayLog, "25 08:15", "26 12:00", []day{
			{"25", "25 08:15", "26 00:00", in{"DROWSY": 15 * m, "SLEEP": 30 * m, "HIBERNATION": 15 * h}, 0, 2, "25 08:30-25 09:00"},
			{"26", "26 00:00", "26 12:00", in{"HIBERNATION": 6 * h, "WAKE": 6 * h}, 0, 1, ""},
		}},
		{"zero since: from the midnight before the first transition", dayLog, "", "25 12:00", []day{
			{"25", "25 00:00", "25 12:00", in{"DROWSY": 30 * m, "SLEEP": 30 * m, "HIBERNATION": 3 * h}, 8 * h, 3, "25 08:30-25 09:00"},
		}},
		{"days without a transition", longHibernation, "25 00:00", "29 00:00", []day{
			{"25", "25 00:00", "26 00:00", in{"DROWSY": 30 * m, "SLEEP": 30 * m, "HIBERNATION": 13 * h}, 10 * h, 3, "25 10:30-25 11:00"},
			{"26", "26 00:00", "27 00:00", in{"HIBERNATION": 24 * h}, 0, 0, ""},
			{"27", "27 00:00", "28 00:00", in{"HIBERNATION": 24 * h}, 0, 0, ""},
			{"28", "28 00:00", "29 00:00", in{"HIBERNATION": 11 * h, "WAKE": 13 * h}, 0, 1, ""},
		}},
		{"the longest sleep, whole, in the day it began", twoSleeps, "25 00:00", "26 12:00", []day{
			{"25", "25 00:00", "26 00:00", in{"WAKE": 20 * h, "DROWSY": 1 * h, "SLEEP": 2 * h}, 1 * h, 5, "25 22:30-26 12:00"},
			{"26", "26 00:00", "26 12:00", in{"SLEEP": 12 * h}, 0, 0, ""},
		}},
		{"a sleep that began before the period is no day's", twoSleeps, "26 00:00", "26 12:00", []day{
			{"26", "26 00:00", "26 12:00", in{"SLEEP": 12 * h}, 0, 0, ""},
		}},
		// seq 3 was logged at 23:59:50 after seq 2 at 00:00:10: it counts
		// from 00:00:10, and no time is counted twice.
		{"clock stepped back", stepped, "25 23:00", "26 01:00", []day{
			{"25", "25 23:00", "26 00:00", in{"DROWSY": 10 * m}, 50 * m, 1, ""},
			{"26", "26 00:00", "26 01:00", in{"DROWSY": 60 * m}, 0, 2, ""},
		}},
		{"a period before the log", dayLog, "20 00:00", "21 06:00", []day{
			{"20", "20 00:00", "21 00:00", in{}, 24 * h, 0, ""},
			{"21", "21 00:00", "21 06:00", in{}, 6 * h, 0, ""},
		}},
		{"a log without a transition", t.TempDir(), "20 12:00", "21 06:00", []day{
			{"20", "20 12:00", "21 00:00", in{}, 12 * h, 0, ""},
			{"21", "21 00:00", "21 06:00", in{}, 6 * h, 0, ""},
		}},
		{"a log without a transition, no since: no day", t.TempDir(), "", "21 06:00", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var since time.Time
			if tt.since != "" {
				since = histTS(t, tt.since)
			}
			var got []day
			_, err := lifecycle.History{Dir: tt.dir}.Days(since, histTS(t, tt.until), func(d lifecycle.DaySummary) error {
				// Every moment of the day is in one state or before the log.
				total := d.BeforeLog
				for _, v := range d.InState {
					total += v
				}
				require.Equal(t, d.End.Sub(d.Start), total, "day %s", d.Day)
				got = append(got, dayOf(d))
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// The Python project's own log, written without seqs, reads as it was
// written.
func TestHistoryPythonLog(t *testing.T) {
	dir := filepath.Join("testdata", "fixtures", "python-written", "logs")
	var got []string
	st, err := lifecycle.History{Dir: dir}.Timeline(time.Time{}, histTS(t, "26 00:00"), func(s lifecycle.Span) error {
		got = append(got, fmt.Sprintf("%s %s", s.State, s.Start.Format("15:04:05.000000")))
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, st.Invalid+st.Unordered)
	require.NotEmpty(t, got)
	require.Equal(t, "DROWSY 08:05:00.000123", got[0])
}

// Whatever the log holds, History neither panics nor loses time: every
// day's states and time before the log add up to the day, and StateAt
// answers or says there is no transition.
func FuzzHistory(f *testing.F) {
	f.Add([]byte(histTr(f, "25 08:00", "WAKE", "DROWSY", "idle_5min", 1) + "\n" +
		histTr(f, "25 07:00", "DROWSY", "SLEEP", "idle_30min", 2) + "\n"))
	f.Add([]byte(histTr(f, "25 08:00", "WAKE", "DROWSY", "idle_5min", 0) + "\n" +
		histTr(f, "25 08:00", "DROWSY", "WAKE", "x", 7) + "\n" + histTr(f, "24 08:00", "WAKE", "NAP", "x", 3) + "\n"))
	f.Add([]byte(`{"ts":"2026-11-25T08:00:00Z","event":"state_transition","from":"A","to":"B","seq":9223372036854775807}` + "\n" +
		`{"ts":"2026-11-25T09:00:00Z","event":"state_transition","from":"B","to":"A","seq":1}` + "\nnot json\n"))
	f.Add([]byte(`{"ts":"0001-01-01T00:00:00Z","event":"state_transition","from":"A","to":"B"}` + "\n" +
		`{"ts":"9999-12-31T23:59:59Z","event":"state_transition","from":"B","to":"A","seq":2}`))
	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "lifecycle-events-2026-11-25.jsonl"), log, 0o600))
		h := lifecycle.History{Dir: dir}
		since, until := histTS(t, "24 12:00"), histTS(t, "26 12:00")
		days := 0
		_, err := h.Days(since, until, func(d lifecycle.DaySummary) error {
			days++
			total := d.BeforeLog
			for _, v := range d.InState {
				require.GreaterOrEqual(t, v, time.Duration(0))
				total += v
			}
			require.Equal(t, d.End.Sub(d.Start), total, "day %s", d.Day)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 3, days)
		var last time.Time
		_, err = h.Timeline(since, until, func(s lifecycle.Span) error {
			require.False(t, s.End.Before(s.Start), "span %+v runs backwards", s)
			require.False(t, s.Start.Before(last), "span %+v starts before the one before it ended", s)
			last = s.End
			return nil
		})
		require.NoError(t, err)
		m, err := h.StateAt(histTS(t, "25 12:00"))
		if err != nil {
			require.ErrorIs(t, err, lifecycle.ErrNoHistory)
			return
		}
		require.NotEmpty(t, m.State)
	})
}
