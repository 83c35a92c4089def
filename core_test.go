package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// pythonKeys are the keys of the Python daemon's record that a core record
// never writes.
var pythonKeys = []string{"sleep_cycle_progress", "quarantine", "shadow_run", "crisis_mode",
	"crisis_mode_since_ts", "essential_variable_consecutive_breaches", "essential_variable_consecutive_clears"}

// keysOf returns the top-level keys of the JSON object b, in order.
func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	return keys
}

func coreClock() func() time.Time {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	return func() time.Time { now = now.Add(time.Second); return now }
}

// TestCoreRecordMachine: a Machine whose table has the core record writes
// the core keys and its own fields, nothing of the Python daemon's record,
// whatever it does.
func TestCoreRecordMachine(t *testing.T) {
	tests := []struct {
		name     string
		opts     []lifecycle.Option
		run      func(t *testing.T, m *lifecycle.Machine)
		wantKeys []string
	}{
		{name: "a new machine's first activity", run: func(t *testing.T, m *lifecycle.Machine) {
			_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
		}, wantKeys: []string{"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq", "transition_seq"}},
		{name: "a transition", run: func(t *testing.T, m *lifecycle.Machine) {
			_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
		}, wantKeys: []string{"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq", "transition_seq", "last_transition"}},
		{name: "shadow run, into hibernation", opts: []lifecycle.Option{lifecycle.WithShadowRun(true)}, run: func(t *testing.T, m *lifecycle.Machine) {
			for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.Idle30Min, lifecycle.SleepCycleDone} {
				_, err := m.Dispatch(ev, lifecycle.Guards{SleepEligible: true, StillIdle: true})
				require.NoError(t, err)
			}
		}, wantKeys: []string{"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq", "transition_seq", "last_transition"}},
		{name: "own fields through Update", run: func(t *testing.T, m *lifecycle.Machine) {
			_, err := m.Update(func(r *lifecycle.Record) error {
				if err := r.SetField("jobs_done", 3); err != nil {
					return err
				}
				return r.SetField("current_job", map[string]string{"id": "j-7"})
			})
			require.NoError(t, err)
		}, wantKeys: []string{"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq", "transition_seq", "jobs_done", "current_job"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := append([]lifecycle.Option{lifecycle.WithTable(lifecycle.DefaultTable().CoreRecord()), lifecycle.WithClock(coreClock())}, tt.opts...)
			m, err := lifecycle.New(dir, opts...)
			require.NoError(t, err)
			defer func() { require.NoError(t, m.Close()) }()
			tt.run(t, m)
			data, err := os.ReadFile(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)
			require.Equal(t, tt.wantKeys, keysOf(t, data))
			for _, k := range pythonKeys {
				require.NotContains(t, string(data), `"`+k+`"`)
			}
			// What the Machine wrote, the core table reads back, and
			// Snapshot agrees.
			rec, err := lifecycle.DefaultTable().CoreRecord().LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)
			snap, err := m.Snapshot()
			require.NoError(t, err)
			require.True(t, rec.Equal(snap))
			// The default table refuses it: it lacks shadow_run.
			_, err = lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.ErrorIs(t, err, lifecycle.ErrCorruptState)
			require.ErrorContains(t, err, "shadow_run: missing")
		})
	}
}

// TestCoreRecordLoadSave: the core format reads a file without shadow_run,
// keeps the Python daemon's keys found in it as the daemon's own, and
// refuses a record whose Python fields are set rather than drop them.
func TestCoreRecordLoadSave(t *testing.T) {
	core := lifecycle.DefaultTable().CoreRecord()
	tests := []struct {
		name    string
		file    string
		edit    func(r *lifecycle.Record)
		want    string // the file SaveState writes back
		wantErr string
	}{
		{name: "core keys only", file: `{"current_state": "DROWSY", "since_ts": "2026-11-25T09:30:00+00:00", "last_activity_ts": "2026-11-25T09:00:00+00:00", "transition_seq": 1}`,
			want: "{\n  \"current_state\": \"DROWSY\",\n  \"since_ts\": \"2026-11-25T09:30:00+00:00\",\n  \"last_activity_ts\": \"2026-11-25T09:00:00+00:00\",\n  \"wrapper_event_seq\": 0,\n  \"transition_seq\": 1\n}"},
		{name: "own fields, in order", file: `{"current_state": "WAKE", "since_ts": "2026-11-25T09:30:00+00:00", "last_activity_ts": "2026-11-25T09:00:00+00:00", "jobs_done": 4, "crisis_mode": true, "transition_seq": 0}`,
			want: "{\n  \"current_state\": \"WAKE\",\n  \"since_ts\": \"2026-11-25T09:30:00+00:00\",\n  \"last_activity_ts\": \"2026-11-25T09:00:00+00:00\",\n  \"wrapper_event_seq\": 0,\n  \"transition_seq\": 0,\n  \"jobs_done\": 4,\n  \"crisis_mode\": true\n}"},
		{name: "a Python field set is refused", file: `{"current_state": "WAKE", "since_ts": "2026-11-25T09:30:00+00:00", "last_activity_ts": "2026-11-25T09:00:00+00:00"}`,
			edit: func(r *lifecycle.Record) {
				r.EssentialVariableConsecutiveBreaches = 2
				r.Quarantine = &lifecycle.Quarantine{}
			},
			wantErr: "quarantine, essential_variable_consecutive_breaches set, but the core record has no such key"},
		{name: "shadow run is not written", file: `{"current_state": "WAKE", "since_ts": "2026-11-25T09:30:00+00:00", "last_activity_ts": "2026-11-25T09:00:00+00:00"}`,
			edit: func(r *lifecycle.Record) { r.ShadowRun = true },
			want: "{\n  \"current_state\": \"WAKE\",\n  \"since_ts\": \"2026-11-25T09:30:00+00:00\",\n  \"last_activity_ts\": \"2026-11-25T09:00:00+00:00\",\n  \"wrapper_event_seq\": 0,\n  \"transition_seq\": 0\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), lifecycle.DefaultStateFile)
			require.NoError(t, os.WriteFile(path, []byte(tt.file), 0o600))
			rec, err := core.LoadState(path)
			require.NoError(t, err)
			if tt.edit != nil {
				tt.edit(&rec)
			}
			err = core.SaveState(path, rec)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
				require.ErrorContains(t, err, tt.wantErr)
				got, rerr := os.ReadFile(path)
				require.NoError(t, rerr)
				require.Equal(t, tt.file, string(got))
				return
			}
			require.NoError(t, err)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

// TestTableRecordKey: a table file's "record": "core" gives the core
// record, and MarshalJSON writes it back; another value is refused.
func TestTableRecordKey(t *testing.T) {
	const rows = `"states":["WAKE","BUSY"],"events":["go","done"],"rows":[{"from":"WAKE","event":"go","guard":"","to":"BUSY"},{"from":"BUSY","event":"done","guard":"","to":"WAKE"}]`
	tests := []struct {
		name     string
		doc      string
		wantCore bool
		wantErr  string
	}{
		{name: "no record key", doc: `{` + rows + `}`},
		{name: "core", doc: `{` + rows + `,"record":"core"}`, wantCore: true},
		{name: "something else", doc: `{` + rows + `,"record":"python"}`, wantErr: `record is "python", want "core" or no record key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tab lifecycle.Table
			err := json.Unmarshal([]byte(tt.doc), &tab)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, lifecycle.ErrInvalidTable)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantCore, tab.HasCoreRecord())
			out, err := json.Marshal(tab)
			require.NoError(t, err)
			require.JSONEq(t, tt.doc, string(out))
		})
	}
	require.False(t, lifecycle.DefaultTable().HasCoreRecord(), "the default table keeps the Python daemon's record")
	require.True(t, lifecycle.DefaultTable().CoreRecord().HasCoreRecord())
	require.Nil(t, (*lifecycle.Table)(nil).CoreRecord())
}

// TestRecordFields: a daemon's own fields, typed through encoding/json.
func TestRecordFields(t *testing.T) {
	type job struct {
		ID    string `json:"id"`
		Tries int    `json:"tries"`
	}
	tests := []struct {
		name      string
		start     []lifecycle.Field
		set       map[string]any // in key order: see keys
		keys      []string
		del       string
		wantExtra string // the fields as a JSON object, in order
		wantErr   string
	}{
		{name: "new fields come last", keys: []string{"jobs_done", "current_job"},
			set:       map[string]any{"jobs_done": 2, "current_job": job{"j-1", 1}},
			wantExtra: `{"jobs_done":2,"current_job":{"id":"j-1","tries":1}}`},
		{name: "an existing field keeps its place", start: []lifecycle.Field{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`2`)}},
			keys: []string{"a"}, set: map[string]any{"a": "x<y"}, wantExtra: `{"a":"x<y","b":2}`},
		{name: "delete", start: []lifecycle.Field{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "b", Value: json.RawMessage(`2`)}},
			del: "a", wantExtra: `{"b":2}`},
		{name: "a key of the record", keys: []string{"current_state"}, set: map[string]any{"current_state": "x"}, wantErr: `field "current_state" is a key of the record itself`},
		{name: "a key of the Python record", keys: []string{"crisis_mode"}, set: map[string]any{"crisis_mode": true}, wantErr: `field "crisis_mode" is a key of the record itself`},
		{name: "a value JSON cannot hold", keys: []string{"f"}, set: map[string]any{"f": func() {}}, wantErr: `field "f": json: unsupported type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := lifecycle.DefaultRecord(time.Now())
			rec.Extra = tt.start
			for _, k := range tt.keys {
				err := rec.SetField(k, tt.set[k])
				if tt.wantErr != "" {
					require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
					require.ErrorContains(t, err, tt.wantErr)
					require.Equal(t, tt.start, rec.Extra)
					return
				}
				require.NoError(t, err)
			}
			if tt.del != "" {
				require.True(t, rec.DeleteField(tt.del))
				require.False(t, rec.DeleteField(tt.del))
			}
			obj := map[string]json.RawMessage{}
			var keys []string
			for _, f := range rec.Extra {
				obj[f.Key] = f.Value
				keys = append(keys, f.Key)
			}
			out, err := json.Marshal(obj)
			require.NoError(t, err)
			require.JSONEq(t, tt.wantExtra, string(out))
			require.Equal(t, keysOf(t, []byte(tt.wantExtra)), keys)
		})
	}

	rec := lifecycle.DefaultRecord(time.Now())
	require.NoError(t, rec.SetField("current_job", job{"j-9", 3}))
	var j job
	ok, err := rec.Field("current_job", &j)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, job{"j-9", 3}, j)
	var n int
	ok, err = rec.Field("missing", &n)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = rec.Field("current_job", &n)
	require.True(t, ok)
	require.ErrorContains(t, err, `field "current_job": json: cannot unmarshal object`)

	// A copy made before SetField keeps its value.
	c := rec
	require.NoError(t, c.SetField("current_job", job{"other", 0}))
	ok, err = rec.Field("current_job", &j)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "j-9", j.ID)
}
