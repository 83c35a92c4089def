package lifecycle_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// pyDir holds files written by Python's json module (see its README).
var pyDir = filepath.Join("testdata", "python")

// TestShadowWarningLineIsPythons: entering HIBERNATION in shadow run
// appends the same bytes as the Python dispatch does, the state_transition
// line's "seq" aside.
func TestShadowWarningLineIsPythons(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return t0 }
	m := newMachine(t, dir, lifecycle.WithShadowRun(true), lifecycle.WithClock(clock))
	for _, s := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}},
	} {
		_, err := m.Dispatch(s.ev, s.g)
		require.NoError(t, err)
	}
	python := strings.Split(strings.TrimSuffix(string(stRead(t, filepath.Join(pyDir, "shadow_hibernation.jsonl"))), "\n"), "\n")
	require.Len(t, python, 2)
	got := logLines(t, dir)
	require.Len(t, got, 4)
	require.Equal(t, strings.TrimSuffix(python[0], "}")+`,"seq":3}`, got[2])
	require.Equal(t, python[1], got[3])
}

