//go:build unix

package lifecycle_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// mixedLine is a line of a generated log: a transition (with a seq or,
// as the Python tools write them, without) or a line of another kind.
type mixedLine struct {
	text   string
	tr     *lifecycle.Transition
	hasSeq bool
}

// mixedLog is a generated log: the lines of each UTC day's file, and the
// transitions in the order they were written.
type mixedLog struct {
	days    map[time.Time][]mixedLine
	gz      map[time.Time]bool // the day's file is rotated
	written []lifecycle.Transition
	// inOrder: no line was written to a day before the last one written
	// to, and no seq written twice: read order is write order.
	inOrder bool
}

var mixedStates = []lifecycle.State{lifecycle.Wake, lifecycle.Drowsy, lifecycle.Sleep, lifecycle.Hibernation}

// genMixedLog writes a log as a Go daemon (lines with seqs, counting up)
// and the Python tools (lines without) write it between them, in turn,
// each line to the file of its clock's UTC day, while the clock steps back
// and ahead across midnight; lines are lost (a seq without its line),
// written again (a seq twice, the copy sometimes differing), and days
// rotated.
func genMixedLog(r *rand.Rand) mixedLog {
	l := mixedLog{days: map[time.Time][]mixedLine{}, gz: map[time.Time]bool{}, inOrder: true}
	clock := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(3600)) * time.Second)
	var lastDay time.Time
	var seq int64
	var withSeq []mixedLine
	add := func(ln mixedLine) {
		day := time.Date(clock.Year(), clock.Month(), clock.Day(), 0, 0, 0, 0, time.UTC)
		if day.Before(lastDay) {
			l.inOrder = false
		}
		lastDay = day
		l.days[day] = append(l.days[day], ln)
	}
	for range 1 + r.IntN(40) {
		switch p := r.IntN(100); {
		case p < 8: // the clock set back, up to a day and a half
			clock = clock.Add(-time.Duration(r.IntN(36*3600)) * time.Second)
		case p < 12: // ahead, up to two days
			clock = clock.Add(time.Duration(r.IntN(48*3600)) * time.Second)
		case p < 25: // the same time
		default:
			clock = clock.Add(time.Duration(r.IntN(90*60)) * time.Second)
		}
		if r.IntN(10) == 0 {
			add(mixedLine{text: fmt.Sprintf(`{"ts":"%s","event":"wrapper_event","seq":%d}`, lifecycle.FormatTimestamp(clock), r.IntN(5))})
		}
		tr := lifecycle.Transition{From: mixedStates[r.IntN(4)], To: mixedStates[r.IntN(4)], Event: lifecycle.Events()[r.IntN(9)], Time: clock}
		tr.Trigger = string(tr.Event)
		hasSeq := r.IntN(10) < 6
		text := fmt.Sprintf(`{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"%s"`,
			lifecycle.FormatTimestamp(clock), tr.From, tr.To, tr.Event)
		if hasSeq {
			seq++
			tr.Seq = seq
			text += fmt.Sprintf(`,"seq":%d`, seq)
		}
		ln := mixedLine{text: text + "}", tr: &tr, hasSeq: hasSeq}
		if r.IntN(20) == 0 {
			continue // lost
		}
		add(ln)
		l.written = append(l.written, tr)
		if hasSeq {
			withSeq = append(withSeq, ln)
		}
		if len(withSeq) > 0 && r.IntN(12) == 0 { // a seq written again
			dup := withSeq[r.IntN(len(withSeq))]
			if r.IntN(2) == 0 {
				other := *dup.tr
				other.To, other.Time = lifecycle.Hibernation, clock
				dup = mixedLine{text: fmt.Sprintf(`{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"%s","seq":%d}`,
					lifecycle.FormatTimestamp(clock), other.From, other.To, other.Event, other.Seq), tr: &other, hasSeq: true}
			}
			add(dup)
			l.inOrder = false
		}
	}
	for day := range l.days {
		l.gz[day] = r.IntN(5) == 0
	}
	return l
}

// readOrder is the log's lines as ReadLog reads them: days oldest first,
// each day's lines in file order.
func (l mixedLog) readOrder() []mixedLine {
	days := slices.Collect(func(yield func(time.Time) bool) {
		for d := range l.days {
			if !yield(d) {
				return
			}
		}
	})
	slices.SortFunc(days, time.Time.Compare)
	var out []mixedLine
	for _, d := range days {
		out = append(out, l.days[d]...)
	}
	return out
}

// historyOrder is the order History documents, computed the simple way,
// the whole log in memory: walk the lines in read order; a line with a seq
// not seen before starts its seq's group; a line with a seq seen before is
// skipped; a line without a seq joins the group of the last seq read
// before it (or the lead, before every seq, when there is none). The
// groups go in seq order. skipped counts the lines skipped.
func (l mixedLog) historyOrder() (order []lifecycle.Transition, skipped int) {
	groups := map[int64][]lifecycle.Transition{}
	var anchor int64
	for _, ln := range l.readOrder() {
		switch {
		case ln.tr == nil:
		case !ln.hasSeq:
			groups[anchor] = append(groups[anchor], *ln.tr)
		case groups[ln.tr.Seq] != nil:
			skipped++
		default:
			groups[ln.tr.Seq] = []lifecycle.Transition{*ln.tr}
			anchor = ln.tr.Seq
		}
	}
	seqs := slices.Sorted(func(yield func(int64) bool) {
		for s := range groups {
			if !yield(s) {
				return
			}
		}
	})
	for _, s := range seqs {
		order = append(order, groups[s]...)
	}
	return order, skipped
}

// write puts the log in dir, whose files it replaces.
func (l mixedLog) write(t *testing.T, dir string) {
	t.Helper()
	old, err := filepath.Glob(filepath.Join(dir, "lifecycle-events-*"))
	require.NoError(t, err)
	for _, p := range old {
		require.NoError(t, os.Remove(p))
	}
	for day, lines := range l.days {
		var b strings.Builder
		for _, ln := range lines {
			b.WriteString(ln.text + "\n")
		}
		data, path := []byte(b.String()), filepath.Join(dir, lifecycle.LogFileName(day))
		if l.gz[day] {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, err := zw.Write(data)
			require.NoError(t, err)
			require.NoError(t, zw.Close())
			data, path = z.Bytes(), path+".gz"
		}
		require.NoError(t, os.WriteFile(path, data, 0o600))
	}
}

// historyTransitions are the transitions History puts on the timeline, in
// its order.
func historyTransitions(t *testing.T, dir string) ([]lifecycle.Transition, lifecycle.HistoryStats) {
	t.Helper()
	var got []lifecycle.Transition
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := lifecycle.History{Dir: dir}.Timeline(time.Time{}, until, func(s lifecycle.Span) error {
		if s.Entered != nil {
			got = append(got, *s.Entered)
		}
		return nil
	})
	require.NoError(t, err)
	return got, st
}

// TestHistoryOrder checks History against the simple model of its order
// over random mixed logs: lines with and without seqs, clock steps across
// midnight, lost lines, seqs written twice, rotated days. Every transition
// is placed, none twice, in the model's order; where read order is write
// order, that is the order they were written in; and Watch's reader and
// StateAt agree with it.
func TestHistoryOrder(t *testing.T) {
	logs := 10_000
	if testing.Short() {
		logs = 1000
	}
	dir := t.TempDir()
	for i := range logs {
		r := rand.New(rand.NewPCG(uint64(i), 17))
		l := genMixedLog(r)
		l.write(t, dir)
		want, skipped := l.historyOrder()
		got, st := historyTransitions(t, dir)
		require.Equal(t, want, got, "log %d", i)
		require.Equal(t, skipped, st.Unordered, "log %d", i)
		require.Equal(t, len(want), st.Transitions, "log %d", i)
		if l.inOrder {
			require.Equal(t, l.written, want, "log %d: read order is write order", i)
		}

		// Watch's reader: the transitions with a seq, the same lines.
		var withSeq []lifecycle.Transition
		for _, tr := range want {
			if tr.Seq > 0 {
				withSeq = append(withSeq, tr)
			}
		}
		if len(withSeq) > 0 {
			top := withSeq[len(withSeq)-1].Seq
			found, _ := lifecycle.ReadTransitions(dir, 0, top)
			require.Equal(t, withSeq, found, "log %d", i)
		}

		// StateAt: at the start of a span, that span.
		if len(got) > 0 {
			var spans []lifecycle.Span
			_, err := lifecycle.History{Dir: dir}.Timeline(time.Time{}, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), func(s lifecycle.Span) error {
				if !s.Start.Equal(s.End) {
					spans = append(spans, s)
				}
				return nil
			})
			require.NoError(t, err)
			if len(spans) > 0 {
				s := spans[r.IntN(len(spans))]
				m, err := lifecycle.StateAt(dir, s.Start)
				require.NoError(t, err)
				require.Equal(t, s.Entered, m.Entered, "log %d", i)
			}
		}
	}
}

// TestHistoryOrderSmallWindow: with a window too small for the log, History
// still never places a transition twice or out of the model's order: what
// it cannot place is skipped and counted.
func TestHistoryOrderSmallWindow(t *testing.T) {
	defer lifecycle.SetHistWindowSize(3)()
	dir := t.TempDir()
	for i := range 2000 {
		r := rand.New(rand.NewPCG(uint64(i), 18))
		l := genMixedLog(r)
		l.write(t, dir)
		want, _ := l.historyOrder()
		got, st := historyTransitions(t, dir)
		lines := 0
		for _, ln := range l.readOrder() {
			if ln.tr != nil {
				lines++
			}
		}
		require.Equal(t, lines, st.Transitions+st.Unordered, "log %d: every line placed or counted", i)
		// got is a subsequence of want.
		j := 0
		for _, tr := range got {
			for j < len(want) && want[j] != tr {
				j++
			}
			require.Less(t, j, len(want), "log %d: %+v out of order", i, tr)
			j++
		}
	}
}
