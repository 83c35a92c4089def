//go:build unix

package lifecycle

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// readTransitions returns the state_transition lines of the log in dir whose
// seq is in (after, upTo], in seq order, reading only lines at or after
// since (zero: all). They are read as History reads them (parseTransitionLine):
// when a seq has more than one line, the first one read is the transition,
// as in History; lines without a seq (the Python tools write those) are
// not in the range. Seqs left without a line give an *fs.PathError naming
// dir, alongside the transitions found. The read stops with ctx's error
// when ctx ends. Memory is bounded by the transitions found in the range.
func readTransitions(ctx context.Context, dir string, after, upTo int64, since time.Time) ([]Transition, error) {
	found := map[int64]Transition{}
	q := LogQuery{Since: since, Kind: "state_transition", ctx: ctx}
	_, err := ReadLog(dir, q, func(e LogEntry) error {
		tr, hasSeq, err := parseTransitionLine(e)
		if err != nil || !hasSeq || tr.Seq <= after || tr.Seq > upTo {
			return nil
		}
		if _, dup := found[tr.Seq]; !dup {
			found[tr.Seq] = tr
		}
		return nil
	})
	seqs := make([]int64, 0, len(found))
	for s := range found {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	ts := make([]Transition, len(seqs))
	for i, s := range seqs {
		ts[i] = found[s]
	}
	if err != nil {
		return ts, err
	}
	if missing := upTo - after - int64(len(seqs)); missing > 0 {
		return ts, &fs.PathError{Op: "watch log", Path: dir, Err: fmt.Errorf(
			"%d transitions have no state_transition line in the log: %s", missing, gaps(after, upTo, seqs))}
	}
	return ts, nil
}

// gaps names the seqs in (after, upTo] that are not in the sorted have, as
// "seq 3 to 6, 9", listing at most a few runs.
func gaps(after, upTo int64, have []int64) string {
	const most = 4
	var runs []string
	more := 0
	// next is the first seq not yet accounted for; gap(end) notes that the
	// seqs from next to end are missing.
	next := after + 1
	gap := func(end int64) {
		switch {
		case end < next:
		case len(runs) == most:
			more++
		case end == next:
			runs = append(runs, strconv.FormatInt(next, 10))
		default:
			runs = append(runs, strconv.FormatInt(next, 10)+" to "+strconv.FormatInt(end, 10))
		}
	}
	for _, s := range have {
		gap(s - 1)
		next = s + 1
	}
	gap(upTo)
	out := "seq " + strings.Join(runs, ", ")
	if more > 0 {
		out += fmt.Sprintf(" and %d more runs", more)
	}
	return out
}

// logTop returns the highest seq of the log's state_transition lines, and
// the time of its line: what a reset leaves past. The read stops with ctx's
// error when ctx ends; it holds nothing but the answer.
func logTop(ctx context.Context, dir string) (int64, time.Time, error) {
	var top int64
	var at time.Time
	_, err := ReadLog(dir, LogQuery{Kind: "state_transition", ctx: ctx}, func(e LogEntry) error {
		if seq, ok := lineSeq(e.Raw); ok && seq > top {
			top, at = seq, e.Time
		}
		return nil
	})
	return top, at, err
}
