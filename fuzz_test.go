package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// FuzzLoadState: any bytes either load, and then save and load back to the
// same record and the same bytes, or are refused as corrupt and left as
// they were. Never a panic.
func FuzzLoadState(f *testing.F) {
	for _, glob := range []string{"testdata/fixtures/python-written/*.json", "testdata/fixtures/corrupt/*.json", "testdata/python/*.json"} {
		files, err := filepath.Glob(glob)
		require.NoError(f, err)
		for _, p := range files {
			data, err := os.ReadFile(p)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		rec, err := lifecycle.LoadState(path)
		if err != nil {
			require.ErrorIs(t, err, lifecycle.ErrCorruptState)
			require.Contains(t, err.Error(), path)
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, data, after)
			return
		}
		again := filepath.Join(dir, "again.json")
		require.NoError(t, lifecycle.SaveState(again, rec))
		back, err := lifecycle.LoadState(again)
		require.NoError(t, err)
		require.True(t, rec.Equal(back))
		first, err := os.ReadFile(again)
		require.NoError(t, err)
		require.NoError(t, lifecycle.SaveState(again, back))
		second, err := os.ReadFile(again)
		require.NoError(t, err)
		require.Equal(t, string(first), string(second))
	})
}

// FuzzParseAndTransition: parsing accepts exactly the wire strings, and the
// transition of anything parsed agrees with the table re-stated in
// transition_test.go.
func FuzzParseAndTransition(f *testing.F) {
	f.Add("WAKE", "idle_5min", false, false)
	f.Add("DROWSY", "idle_30min", true, false)
	f.Add("SLEEP", "sleep_cycle_done", false, true)
	f.Add("HIBERNATION", "wake_signal", false, false)
	f.Add("wake", "TICK", true, true)
	f.Add("*", "request_arrived", false, false)
	f.Fuzz(func(t *testing.T, s, e string, eligible, idle bool) {
		from, serr := lifecycle.ParseState(s)
		ev, eerr := lifecycle.ParseEvent(e)
		if serr != nil {
			require.ErrorIs(t, serr, lifecycle.ErrUnknownState)
			require.NotContains(t, lifecycle.States(), lifecycle.State(s))
		}
		if eerr != nil {
			require.ErrorIs(t, eerr, lifecycle.ErrUnknownEvent)
			require.NotContains(t, lifecycle.Events(), lifecycle.Event(e))
		}
		g := lifecycle.Guards{SleepEligible: eligible, StillIdle: idle}
		if serr != nil || eerr != nil {
			// Unknown input moves nothing.
			to, changed := lifecycle.ComputeTransition(lifecycle.State(s), lifecycle.Event(e), g)
			require.False(t, changed)
			require.Equal(t, lifecycle.State(s), to)
			return
		}
		to, changed := lifecycle.ComputeTransition(from, ev, g)
		wantTo, wantChanged := expected(from, ev, g)
		require.Equal(t, wantChanged, changed)
		require.Equal(t, wantTo, to)
	})
}
