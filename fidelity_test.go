package lifecycle_test

import (
	"encoding/json"
	"os"
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

// TestQuarantineUnknownKeysSurvive: the keys of a quarantine object that
// the library does not know survive a load and a save, a dispatch and an
// update, in their order and byte for byte, as every unknown key of the
// record does; so does the order of the known keys.
func TestQuarantineUnknownKeysSurvive(t *testing.T) {
	// quarantineOf is the quarantine object of a state file, as written.
	quarantineOf := func(t *testing.T, doc []byte) string {
		t.Helper()
		_, rest, ok := strings.Cut(string(doc), "\n  \"quarantine\": ")
		require.True(t, ok, "no quarantine in %s", doc)
		end := strings.Index(rest, "\n  },\n")
		require.Positive(t, end, "quarantine object not closed in %s", doc)
		return rest[:end+len("\n  }")]
	}
	ways := []struct {
		name string
		// do changes the state file at path, in dir, through the library.
		do func(t *testing.T, dir, path string)
		// same: the whole file stays byte for byte the same.
		same bool
	}{
		{"LoadState then SaveState", func(t *testing.T, _, path string) {
			rec, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			require.NoError(t, lifecycle.SaveState(path, rec))
		}, true},
		{"Record JSON round trip", func(t *testing.T, _, path string) {
			rec, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			data, err := json.Marshal(rec)
			require.NoError(t, err)
			var back lifecycle.Record
			require.NoError(t, json.Unmarshal(data, &back))
			require.NoError(t, lifecycle.SaveState(path, back))
		}, true},
		{"Clone then SaveState", func(t *testing.T, _, path string) {
			rec, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			require.NoError(t, lifecycle.SaveState(path, rec.Clone()))
		}, true},
		{"heartbeat_refresh", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
			_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
		}, false},
		{"a transition", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
			st, err := m.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, st)
		}, false},
		{"Update of another field", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir)
			_, err := m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
			require.NoError(t, err)
		}, false},
		{"Update of the quarantine's reason", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir)
			_, err := m.Update(func(r *lifecycle.Record) error { r.Quarantine.Reason = "REASON"; return nil })
			require.NoError(t, err)
		}, false},
	}
	for _, name := range []string{"quarantine_extra_keys.json", "quarantine_keys_reordered.json"} {
		fixture := stRead(t, filepath.Join(pyDir, name))
		for _, w := range ways {
			t.Run(name+"/"+w.name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, lifecycle.DefaultStateFile)
				require.NoError(t, os.WriteFile(path, fixture, 0o600))
				w.do(t, dir, path)
				after := stRead(t, path)
				if w.same {
					require.Equal(t, string(fixture), string(after))
					return
				}
				want := quarantineOf(t, fixture)
				if strings.Contains(w.name, "reason") {
					rec, err := lifecycle.LoadState(filepath.Join(pyDir, name))
					require.NoError(t, err)
					old, err := json.Marshal(rec.Quarantine.Reason)
					require.NoError(t, err)
					want = strings.Replace(want, `"reason": `+asciiQuote(t, string(old)), `"reason": "REASON"`, 1)
					require.NotEqual(t, quarantineOf(t, fixture), want)
				}
				require.Equal(t, want, quarantineOf(t, after))
			})
		}
	}
}

// asciiQuote turns a JSON string as encoding/json writes it into the form
// Python's ensure_ascii writes.
func asciiQuote(t *testing.T, quoted string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range quoted {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r >= 0x10000:
			r -= 0x10000
			b.WriteString(jsonEscape(0xd800 + (r>>10)&0x3ff))
			b.WriteString(jsonEscape(0xdc00 + r&0x3ff))
		default:
			b.WriteString(jsonEscape(r))
		}
	}
	return b.String()
}

func jsonEscape(r rune) string {
	const hex = "0123456789abcdef"
	return string([]byte{'\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15]})
}

// TestQuarantineExtraFromGo: a Quarantine built in Go writes its known keys
// first, then Extra in order; Validate refuses an Extra key that repeats a
// known or another extra key, or holds invalid JSON.
func TestQuarantineExtraFromGo(t *testing.T) {
	rec := lifecycle.DefaultRecord(t0)
	rec.Quarantine = &lifecycle.Quarantine{UntilTS: "u", Reason: "r", SinceTS: "s",
		Extra: []lifecycle.Field{{Key: "z", Value: json.RawMessage(`[1, {"a": null}]`)}, {Key: "attempts", Value: json.RawMessage(`3`)}}}
	path := filepath.Join(t.TempDir(), lifecycle.DefaultStateFile)
	require.NoError(t, lifecycle.SaveState(path, rec))
	require.Contains(t, string(stRead(t, path)), `  "quarantine": {
    "until_ts": "u",
    "reason": "r",
    "since_ts": "s",
    "z": [
      1,
      {
        "a": null
      }
    ],
    "attempts": 3
  },`)
	back, err := lifecycle.LoadState(path)
	require.NoError(t, err)
	require.Equal(t, rec.Quarantine.Extra[1], back.Quarantine.Extra[1])
	require.True(t, rec.Equal(back))

	for _, bad := range []struct {
		name  string
		extra []lifecycle.Field
		want  string
	}{
		{"known key", []lifecycle.Field{{Key: "reason", Value: json.RawMessage(`"x"`)}}, `"reason"`},
		{"twice", []lifecycle.Field{{Key: "a", Value: json.RawMessage(`1`)}, {Key: "a", Value: json.RawMessage(`2`)}}, `"a"`},
		{"invalid JSON", []lifecycle.Field{{Key: "a", Value: json.RawMessage(`{`)}}, `"a"`},
		{"no value", []lifecycle.Field{{Key: "a"}}, `"a"`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			r := rec.Clone()
			r.Quarantine.Extra = bad.extra
			err := r.Validate()
			require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
			require.ErrorContains(t, err, "quarantine")
			require.ErrorContains(t, err, bad.want)
			require.Error(t, lifecycle.SaveState(path, r))
		})
	}
}

// TestLastTransitionUnknownKeysSurvive: the last_transition object is kept
// as the file has it (unknown keys, key order, the spelling of its time)
// for as long as it describes the record's last transition: through a load
// and a save, a heartbeat and an update. A new transition replaces it
// whole, unknown keys and all, since they were about the one before.
func TestLastTransitionUnknownKeysSurvive(t *testing.T) {
	fixture := stRead(t, filepath.Join(pyDir, "last_transition_extra_keys.json"))
	lastTransitionOf := func(t *testing.T, doc []byte) string {
		t.Helper()
		_, rest, ok := strings.Cut(string(doc), "\n  \"last_transition\": ")
		require.True(t, ok, "no last_transition in %s", doc)
		end := strings.Index(rest, "\n  }")
		require.Positive(t, end, "last_transition not closed in %s", doc)
		return rest[:end+len("\n  }")]
	}
	kept := lastTransitionOf(t, fixture)
	require.Contains(t, kept, `"by"`)
	tests := []struct {
		name string
		do   func(t *testing.T, dir, path string)
		want string // the last_transition object after
	}{
		{"LoadState then SaveState", func(t *testing.T, _, path string) {
			rec, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			require.NoError(t, lifecycle.SaveState(path, rec.Clone()))
			require.Equal(t, string(fixture), string(stRead(t, path)))
		}, kept},
		{"heartbeat_refresh", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
			_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
		}, kept},
		{"Update", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir)
			_, err := m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
			require.NoError(t, err)
		}, kept},
		{"a transition", func(t *testing.T, dir, _ string) {
			m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
			_, err := m.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
			require.NoError(t, err)
		}, "{\n    \"ts\": \"2026-11-25T22:45:32.123456+00:00\",\n    \"from\": \"SLEEP\",\n    \"to\": \"WAKE\",\n" +
			"    \"trigger\": \"request_arrived\",\n    \"seq\": 4\n  }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			require.NoError(t, os.WriteFile(path, fixture, 0o600))
			tt.do(t, dir, path)
			require.Equal(t, tt.want, lastTransitionOf(t, stRead(t, path)))
		})
	}
}
