package lifecycle_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// stateIn is a valid state file in state s.
func stateIn(s lifecycle.State) []byte {
	return []byte(`{
  "current_state": "` + string(s) + `",
  "since_ts": "2026-11-25T09:30:00+00:00",
  "last_activity_ts": "2026-11-25T08:04:10+00:00",
  "wrapper_event_seq": 3,
  "sleep_cycle_progress": null,
  "quarantine": null,
  "shadow_run": true,
  "transition_seq": 2,
  "python_only": 1
}`)
}

// TestTableLoadState: Table.LoadState reads a state file as a Machine with
// that table would, without a Machine, and never writes.
func TestTableLoadState(t *testing.T) {
	tests := []struct {
		name    string
		table   func(t *testing.T) *lifecycle.Table
		file    []byte // nil: no state file
		want    lifecycle.State
		wantErr error
		errText string
	}{
		{name: "a state of its own", table: napTable, file: stateIn("NAP"), want: "NAP"},
		{name: "a state it shares with the seed", table: napTable, file: stateIn(lifecycle.Wake), want: lifecycle.Wake},
		{name: "a seed state it lacks", table: napTable, file: stateIn(lifecycle.Hibernation),
			wantErr: lifecycle.ErrCorruptState, errText: `current_state: unknown state "HIBERNATION" (want one of [WAKE NAP])`},
		{name: "the default table refuses another table's state", table: defaultTableOf, file: stateIn("NAP"),
			wantErr: lifecycle.ErrCorruptState, errText: `unknown state "NAP"`},
		{name: "the default table reads the seed", table: defaultTableOf, file: stateIn(lifecycle.Sleep), want: lifecycle.Sleep},
		{name: "missing: a new machine's record", table: napTable, want: lifecycle.Wake},
		{name: "corrupt", table: napTable, file: []byte(`{"current_state": "NAP",`),
			wantErr: lifecycle.ErrCorruptState, errText: "not JSON"},
		{name: "the zero table", table: func(*testing.T) *lifecycle.Table { return &lifecycle.Table{} }, file: stateIn(lifecycle.Wake),
			wantErr: lifecycle.ErrInvalidTable},
		{name: "a nil table", table: func(*testing.T) *lifecycle.Table { return nil }, file: stateIn(lifecycle.Wake),
			wantErr: lifecycle.ErrInvalidTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			if tt.file != nil {
				require.NoError(t, os.WriteFile(path, tt.file, 0o600))
			}
			rec, err := tt.table(t).LoadState(path)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				stRequirePathErr(t, err, path)
				require.ErrorContains(t, err, tt.errText)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.want, rec.CurrentState)
			}
			if tt.file == nil {
				require.Empty(t, stEntries(t, dir), "nothing is created")
				return
			}
			require.Equal(t, []string{lifecycle.DefaultStateFile}, stEntries(t, dir), "nothing is created")
			require.Equal(t, tt.file, stRead(t, path), "the file is left as it is")
			if err == nil {
				require.True(t, rec.ShadowRun)
				require.Equal(t, int64(2), rec.TransitionSeq)
				require.Equal(t, []lifecycle.Field{{Key: "python_only", Value: []byte("1")}}, rec.Extra)
			}
		})
	}
}

// Table.LoadState reads what a Machine with the same table wrote, and
// agrees with its Snapshot.
func TestTableLoadStateAgreesWithSnapshot(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithTable(napTable(t)))
	_, err := m.Dispatch("nap", lifecycle.Guards{})
	require.NoError(t, err)
	snap, err := m.Snapshot()
	require.NoError(t, err)
	rec, err := napTable(t).LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, lifecycle.State("NAP"), rec.CurrentState)
	require.True(t, snap.Equal(rec), "snapshot %+v, loaded %+v", snap, rec)
}

func defaultTableOf(*testing.T) *lifecycle.Table { return lifecycle.DefaultTable() }
