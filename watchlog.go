//go:build unix

package lifecycle

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// readTransitions returns the state_transition lines of the log in dir whose
// seq is in (after, upTo], in seq order, reading only lines at or after
// since (zero: all). When a seq has more than one line, the last one written
// wins. Lines without a seq (the Python tools write those) or naming an
// state or event t does not know are ignored. Seqs left without a line give an
// *fs.PathError naming dir, alongside the transitions found.
func readTransitions(dir string, t *Table, after, upTo int64, since time.Time) ([]Transition, error) {
	found := map[int64]Transition{}
	_, err := ReadLog(dir, LogQuery{Since: since, Kind: "state_transition"}, func(e LogEntry) error {
		var lt loggedTransition
		if json.Unmarshal(e.Raw, &lt) != nil || lt.Seq == nil || *lt.Seq <= after || *lt.Seq > upTo {
			return nil
		}
		if _, err := t.ParseState(string(lt.From)); err != nil {
			return nil
		}
		if _, err := t.ParseState(string(lt.To)); err != nil {
			return nil
		}
		if _, err := t.ParseEvent(string(lt.Trigger)); err != nil {
			return nil
		}
		found[*lt.Seq] = Transition{From: lt.From, To: lt.To, Event: lt.Trigger, Seq: *lt.Seq, Time: e.Time}
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
