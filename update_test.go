package lifecycle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// TestUpdateAcceptsWhatLoadStateAccepts: any file LoadState accepts can be
// updated, whatever the precision and offset of its timestamps. The file
// format holds microseconds, so an update writes since_ts truncated to
// them, as every write does; current_state, since_ts (to the microsecond)
// and transition_seq are the file's.
func TestUpdateAcceptsWhatLoadStateAccepts(t *testing.T) {
	tests := []struct {
		name, since, activity string
	}{
		{"microseconds", "2026-11-25T08:00:00.123456+00:00", "2026-11-25T08:04:10.500000+00:00"},
		{"no fraction", "2026-11-25T08:00:00+00:00", "2026-11-25T08:04:10+00:00"},
		{"seven digits", "2026-11-25T08:00:00.1234567+00:00", "2026-11-25T08:04:10.5000001+00:00"},
		{"nanoseconds", "2026-11-25T08:00:00.123456789+00:00", "2026-11-25T08:04:10.999999999+00:00"},
		{"nanoseconds, Z", "2026-11-25T08:00:00.000000001Z", "2026-11-25T08:04:10.000000999Z"},
		{"nanoseconds, another offset", "2026-11-25T13:30:00.123456789+05:30", "2026-11-25T08:04:10.1+00:00"},
		{"one digit", "2026-11-25T08:00:00.1+00:00", "2026-11-25T08:04:10.5-01:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, lifecycle.DefaultStateFile)
			fixture := stRead(t, filepath.Join(stPythonDir, "wake.json"))
			doc := strings.Replace(string(fixture), `"2026-11-25T08:00:00.123456+00:00"`, `"`+tt.since+`"`, 1)
			doc = strings.Replace(doc, `"2026-11-25T08:04:10.500000+00:00"`, `"`+tt.activity+`"`, 1)
			require.NoError(t, os.WriteFile(state, []byte(doc), 0o600))
			loaded, err := lifecycle.LoadState(state)
			require.NoError(t, err, "LoadState accepts the file")

			m := newMachine(t, dir)
			got, err := m.Update(func(r *lifecycle.Record) error {
				r.CrisisMode = true
				return nil
			})
			require.NoError(t, err)
			require.True(t, got.CrisisMode)
			require.Equal(t, loaded.CurrentState, got.CurrentState)
			require.Equal(t, loaded.TransitionSeq, got.TransitionSeq)
			require.True(t, loaded.SinceTS.Truncate(time.Microsecond).Equal(got.SinceTS), "since_ts %v, want %v", got.SinceTS, loaded.SinceTS)

			after, err := lifecycle.LoadState(state)
			require.NoError(t, err)
			require.True(t, after.Equal(got), "the file holds what Update returned")
			require.Contains(t, string(stRead(t, state)), `"since_ts": "`+lifecycle.FormatTimestamp(loaded.SinceTS)+`"`)

			// Changing since_ts is still refused, even by one microsecond.
			_, err = m.Update(func(r *lifecycle.Record) error {
				r.SinceTS = r.SinceTS.Add(time.Microsecond)
				return nil
			})
			require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
		})
	}
}
