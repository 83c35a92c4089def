package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// A rotation copies the plain file's page-cache content, unsynced tail
// included (a Python wrapper_event line: the Python side never fsyncs), and
// its .gz header says it holds all of it. A power loss after the .gz's
// rename is durable but before the plain file's removal is drops that tail
// from the plain file: the header's n is then larger than the plain file,
// relate says gzDiffers, and ReadLog reads every line of the plain file
// twice (the .gz, then the plain file); the next rotation merges the
// duplicates for good. C2 (seqs exactly 1..N) fails.
func TestCrashRotationOfAnUnsyncedTail(t *testing.T) {
	history := func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
		m, err := lifecycle.New(dir, opts...)
		require.NoError(t, err)
		for _, e := range aDay[:5] {
			_, err := m.Dispatch(e.ev, e.g)
			require.NoError(t, err)
		}
		require.NoError(t, m.Close())
	}
	w := simWorkload{
		name: "rotation of a day whose file has an unsynced Python line",
		sub:  "lc", start: simDay0, setup: history,
		run: func(s *simRun) {
			logDir := filepath.Join(s.dir, lifecycle.DefaultLogDir)
			day := filepath.Join(logDir, lifecycle.LogFileName(simDay0))
			f, err := s.rec.OpenFile(day, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(s.t, err)
			_, err = s.rec.Write(f, []byte(`{"ts":"2026-11-25T23:59:00+00:00","event":"wrapper_event"}`+"\n"))
			require.NoError(s.t, err)
			require.NoError(s.t, f.Close()) // no fsync: the Python wrapper does not sync
			_, err = lifecycle.RotateLogs(logDir, 24*time.Hour, simDay0.Add(40*24*time.Hour))
			require.NoError(s.t, err)
		},
	}
	st := runWorkload(t, w, 160, 1)
	t.Logf("%s", st.report())
	require.Empty(t, st.violations, st.report())
}
