package lifecycle_test

import (
	"encoding/json"
	"os"
	"path/filepath"
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
// writer, once a Machine has held the lock: the state file loads; the
// state_transition lines carry seq 1..N with no gap or repeat; N is the
// state's transition_seq; the last line's target is the current state; at
// most maxMalformed lines are malformed (torn by a crash, or garbage); no temporary file is left beside the state.
func checkInvariants(t *testing.T, dir string, maxMalformed int) world {
	t.Helper()
	var w world
	var err error
	w.rec, err = lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	last := lifecycle.Wake
	w.stats, err = lifecycle.ReadLog(filepath.Join(dir, "logs"), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var line struct {
				To  lifecycle.State `json:"to"`
				Seq int64           `json:"seq"`
			}
			require.NoError(t, json.Unmarshal(e.Raw, &line))
			w.seqs = append(w.seqs, line.Seq)
			last = line.To
			return nil
		})
	require.NoError(t, err)
	for i, s := range w.seqs {
		require.Equal(t, int64(i+1), s, "state_transition seqs run 1..N")
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
