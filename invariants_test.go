package lifecycle_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// world is what a directory holds after a crash, as its invariants see it.
type world struct {
	rec   lifecycle.Record
	seqs  []int64 // seq of each state_transition line, in log order
	stats lifecycle.LogStats
}

// checkInvariants asserts invariants (C2 and no temporary file) in dir,
// whatever stopped the last writer, once a Machine has held the lock; at
// most maxMalformed lines may be malformed (torn by a crash, or garbage).
func checkInvariants(t *testing.T, dir string, maxMalformed int) world {
	t.Helper()
	w, err := invariants(dir)
	require.NoError(t, err)
	require.LessOrEqual(t, w.stats.Malformed, maxMalformed)
	return w
}

// invariants checks C2 for a directory only the library writes: the state
// file loads; the state_transition lines that carry a seq, in seq order
// (their write order, whatever the names of the files they are in), are
// exactly 1..N, each from the previous one's to, the first from WAKE; N is
// transition_seq; the last to is current_state. No temporary state file is
// left beside it.
func invariants(dir string) (world, error) { return invariantsWith(dir, lifecycle.DefaultTable()) }

// invariantsWith is invariants for a Machine with the table tab.
func invariantsWith(dir string, tab *lifecycle.Table) (world, error) {
	var w world
	var err error
	if w.rec, err = tab.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile)); err != nil {
		return w, err
	}
	type line struct {
		From, To lifecycle.State
		Seq      *int64
	}
	var lines []line
	w.stats, err = lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var l line
			if err := json.Unmarshal(e.Raw, &l); err != nil {
				return err
			}
			if l.Seq != nil {
				lines = append(lines, l)
			}
			return nil
		})
	if err != nil {
		return w, err
	}
	slices.SortStableFunc(lines, func(a, b line) int { return cmp.Compare(*a.Seq, *b.Seq) })
	prev := lifecycle.Wake
	for i, l := range lines {
		if *l.Seq != int64(i+1) {
			return w, fmt.Errorf("line %d of %d has seq %d", i+1, len(lines), *l.Seq)
		}
		if l.From != prev {
			return w, fmt.Errorf("seq %d is from %s, the previous line went to %s", *l.Seq, l.From, prev)
		}
		w.seqs = append(w.seqs, *l.Seq)
		prev = l.To
	}
	if int64(len(lines)) != w.rec.TransitionSeq {
		return w, fmt.Errorf("the log has %d transitions, transition_seq is %d", len(lines), w.rec.TransitionSeq)
	}
	if prev != w.rec.CurrentState {
		return w, fmt.Errorf("the last transition went to %s, the state is %s", prev, w.rec.CurrentState)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return w, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "."+lifecycle.DefaultStateFile) {
			return w, fmt.Errorf("temporary file %s left", e.Name())
		}
	}
	return w, nil
}

// seqOf reads the seq of a state_transition line.
func seqOf(raw []byte) (int64, bool) {
	var l struct{ Seq *int64 }
	if json.Unmarshal(raw, &l) != nil || l.Seq == nil {
		return 0, false
	}
	return *l.Seq, true
}
