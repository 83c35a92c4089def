package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestTransitions(t *testing.T) {
	tab, err := Table()
	require.NoError(t, err)
	tests := []struct {
		from lifecycle.State
		ev   lifecycle.Event
		g    lifecycle.Guards
		want lifecycle.State
	}{
		{"WAKE", "job_started", lifecycle.Guards{}, "RUNNING"},
		{"RUNNING", "job_finished", lifecycle.Guards{}, "WAKE"},
		{"RUNNING", "pause", lifecycle.Guards{}, "PAUSED"},
		{"PAUSED", "resume", lifecycle.Guards{}, "WAKE"},
		{"RUNNING", "drain", lifecycle.Guards{}, "DRAINING"},
		{"DRAINING", "stop", lifecycle.Guards{}, "DRAINING"}, // a job still in flight
		{"DRAINING", "stop", lifecycle.Guards{StillIdle: true}, "STOPPED"},
		{"STOPPED", "start", lifecycle.Guards{}, "WAKE"},
		{"STOPPED", "job_started", lifecycle.Guards{}, "STOPPED"},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"/"+string(tt.ev), func(t *testing.T) {
			got, _ := tab.Transition(tt.from, tt.ev, tt.g)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		jobs     []string
		wantDone int
	}{
		{name: "no jobs", wantDone: 0},
		{name: "three jobs", jobs: []string{"build", "test", "deploy"}, wantDone: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var ran []string
			require.NoError(t, run(dir, tt.jobs, func(n string) error { ran = append(ran, n); return nil }))
			require.Equal(t, tt.jobs, ran)

			tab, err := Table()
			require.NoError(t, err)
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			rec, err := tab.LoadState(path)
			require.NoError(t, err)
			require.Equal(t, lifecycle.State("STOPPED"), rec.CurrentState)
			var done int
			_, err = rec.Field("jobs_done", &done)
			require.NoError(t, err)
			require.Equal(t, tt.wantDone, done)

			// The state file holds nothing of the Python daemon's record.
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			for _, k := range []string{"sleep_cycle_progress", "quarantine", "shadow_run", "crisis_mode",
				"crisis_mode_since_ts", "essential_variable_consecutive_breaches", "essential_variable_consecutive_clears"} {
				require.False(t, strings.Contains(string(data), `"`+k+`"`), "state file holds %s:\n%s", k, data)
			}

			// History reads its log: every transition, in seq.
			var seqs []int64
			_, err = lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
				func(e lifecycle.LogEntry) error { seqs = append(seqs, int64(len(seqs)+1)); return nil })
			require.NoError(t, err)
			require.Len(t, seqs, int(rec.TransitionSeq))
		})
	}
}
