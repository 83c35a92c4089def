package lifecycle_test

import (
	"cmp"
	"encoding/json"
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

// checkInvariants asserts what must hold in dir whatever stopped the last
// writer, once a Machine has held the lock (C2): the state file loads; the
// state_transition lines, in seq order (their write order, whatever the
// names of the files they are in), carry seq 1..N with no gap or repeat,
// each from the previous one's to, the first from WAKE; N is the state's
// transition_seq; the last line's target is the current state; at most
// maxMalformed lines are malformed (torn by a crash, or garbage); no
// temporary file is left beside the state.
func checkInvariants(t *testing.T, dir string, maxMalformed int) world {
	t.Helper()
	var w world
	var err error
	w.rec, err = lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	type line struct {
		From, To lifecycle.State
		Seq      int64
	}
	var lines []line
	w.stats, err = lifecycle.ReadLog(filepath.Join(dir, "logs"), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var l line
			require.NoError(t, json.Unmarshal(e.Raw, &l))
			lines = append(lines, l)
			return nil
		})
	require.NoError(t, err)
	slices.SortStableFunc(lines, func(a, b line) int { return cmp.Compare(a.Seq, b.Seq) })
	last := lifecycle.Wake
	for i, l := range lines {
		require.Equal(t, int64(i+1), l.Seq, "state_transition seqs run 1..N")
		require.Equal(t, last, l.From, "seq %d starts where the previous one ended", l.Seq)
		w.seqs = append(w.seqs, l.Seq)
		last = l.To
	}
	require.Equal(t, int64(len(w.seqs)), w.rec.TransitionSeq, "transition_seq counts the logged transitions")
	require.Equal(t, last, w.rec.CurrentState, "the state is the last logged target")
	require.LessOrEqual(t, w.stats.Malformed, maxMalformed)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), "."+lifecycle.DefaultStateFile), "stale temp file %s", e.Name())
	}
	return w
}

// seqOf reads the seq of a state_transition line.
func seqOf(raw []byte) (int64, bool) {
	var l struct{ Seq *int64 }
	if json.Unmarshal(raw, &l) != nil || l.Seq == nil {
		return 0, false
	}
	return *l.Seq, true
}
