package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// A state file edited by hand with a state in the wrong case is refused,
// and the error names the file and the state that was meant.
func TestStateFileNamesTheStateMeant(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lifecycle_state.json")
	rec := `{"current_state": "wake", "since_ts": "2026-11-25T22:45:32+00:00", "last_activity_ts": "2026-11-25T22:45:32+00:00", "wrapper_event_seq": 0, "sleep_cycle_progress": null, "quarantine": null, "shadow_run": false}`
	require.NoError(t, os.WriteFile(path, []byte(rec), 0o600))

	_, err := lifecycle.LoadState(path)
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	require.ErrorContains(t, err, `did you mean "WAKE"?`)
	require.ErrorContains(t, err, path)
}
