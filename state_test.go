package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// Fixtures are copies of /work/shared/fixtures, so the package's tests stand
// alone. python-written/ holds state files written by the Python original
// (json.dump(indent=2), no trailing newline); corrupt/ holds files that must
// be refused.
var (
	stPythonDir  = filepath.Join("testdata", "fixtures", "python-written")
	stCorruptDir = filepath.Join("testdata", "fixtures", "corrupt")
)

// stStateFile is the name the library gives the state file in its directory.
const stStateFile = "lifecycle_state.json"

// stRead returns the content of path.
func stRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// stWrite writes data as the state file of a fresh temporary directory and
// returns its path.
func stWrite(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), stStateFile)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// stEntries lists the names in dir, sorted.
func stEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	return names
}

// stGlobNames lists the base names of the *.json files in dir, sorted.
func stGlobNames(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	return names
}

// stInsertAfterKey inserts text right after the value on the line of
// top-level key in an indent=2 JSON document: before that line's trailing
// comma if it has one, so text must start with ",".
func stInsertAfterKey(t *testing.T, doc, key, text string) string {
	t.Helper()
	anchor := "\n  \"" + key + "\": "
	require.Equal(t, 1, strings.Count(doc, anchor), "key %q must be on exactly one line", key)
	start := strings.Index(doc, anchor) + 1
	end := start + strings.IndexByte(doc[start:], '\n')
	require.Greater(t, end, start, "key %q must not be on the last line", key)
	if doc[end-1] == ',' {
		end--
	}
	return doc[:end] + text + doc[end:]
}

// stRequireUTC checks that got is the instant want, in UTC.
func stRequireUTC(t *testing.T, want, got time.Time) {
	t.Helper()
	require.Truef(t, want.Equal(got), "want %v, got %v", want, got)
	require.Equal(t, time.UTC, got.Location())
}

// stRequirePathErr checks that err is an *fs.PathError naming path.
func stRequirePathErr(t *testing.T, err error, path string) {
	t.Helper()
	require.ErrorContains(t, err, path)
	var pe *fs.PathError
	require.True(t, errors.As(err, &pe), "want an *fs.PathError, got %T: %v", err, err)
	require.Equal(t, path, pe.Path)
}

// stRecord is a valid record using every field.
func stRecord() lifecycle.Record {
	since := time.Date(2026, 11, 25, 8, 0, 0, 123456000, time.UTC)
	crisis := "2026-11-25T07:00:00+00:00"
	return lifecycle.Record{
		CurrentState:       lifecycle.Drowsy,
		SinceTS:            since,
		LastActivityTS:     since.Add(90 * time.Second),
		WrapperEventSeq:    7,
		SleepCycleProgress: json.RawMessage(`{"last_completed_index":2,"attempt":1}`),
		Quarantine: &lifecycle.Quarantine{
			UntilTS: "2026-11-26T08:00:00+00:00",
			Reason:  "sleep step 4 failed 3x",
			SinceTS: "2026-11-25T08:00:00+00:00",
		},
		ShadowRun:                            true,
		CrisisMode:                           true,
		CrisisModeSinceTS:                    &crisis,
		EssentialVariableConsecutiveBreaches: 2,
		EssentialVariableConsecutiveClears:   1,
		TransitionSeq:                        41,
		Extra: []lifecycle.Field{
			{Key: "version", Value: json.RawMessage(`7`)},
			{Key: "extra", Value: json.RawMessage(`{"nested":[1,2]}`)},
		},
	}
}

// TestFixtureRoundTripBytes loads every state file the Python original wrote
// and saves it again: the bytes must be the fixture's, plus the keys the Go
// library adds (transition_seq everywhere; the crisis keys in the v0.1 file).
func TestFixtureRoundTripBytes(t *testing.T) {
	const seq = ",\n  \"transition_seq\": 0"
	const crisisKeys = ",\n  \"crisis_mode\": false" +
		",\n  \"crisis_mode_since_ts\": null" +
		",\n  \"essential_variable_consecutive_breaches\": 0" +
		",\n  \"essential_variable_consecutive_clears\": 0"
	tests := []struct {
		name     string
		afterKey string // the key whose line the added keys follow
		added    string
	}{
		{"sleep_with_progress.json", "essential_variable_consecutive_clears", seq},
		{"unknown_keys.json", "essential_variable_consecutive_clears", seq},
		{"v01_hibernation_shadow.json", "shadow_run", crisisKeys + seq},
		{"wake.json", "essential_variable_consecutive_clears", seq},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
	}
	require.Equal(t, names, stGlobNames(t, stPythonDir), "every python-written fixture needs a row")

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(stPythonDir, tt.name)
			fixture := stRead(t, src)
			require.NotContains(t, string(fixture), "transition_seq", "the Python original never writes transition_seq")
			require.False(t, bytes.HasSuffix(fixture, []byte("\n")), "json.dump writes no trailing newline")
			want := stInsertAfterKey(t, string(fixture), tt.afterKey, tt.added)

			rec, err := lifecycle.LoadState(src)
			require.NoError(t, err)
			require.Equal(t, fixture, stRead(t, src), "loading must not touch the file")

			dir := t.TempDir()
			out := filepath.Join(dir, stStateFile)
			require.NoError(t, lifecycle.SaveState(out, rec))
			saved := stRead(t, out)
			require.Equal(t, want, string(saved))
			require.Equal(t, []string{stStateFile}, stEntries(t, dir), "no temp file may be left")

			again, err := lifecycle.LoadState(out)
			require.NoError(t, err)
			require.True(t, rec.Equal(again), "reloaded record differs:\n%+v\n%+v", rec, again)

			out2 := filepath.Join(t.TempDir(), stStateFile)
			require.NoError(t, lifecycle.SaveState(out2, again))
			require.Equal(t, string(saved), string(stRead(t, out2)), "a second round trip must be byte-identical")
		})
	}
}

// TestFixtureV01DefaultsCrisisKeys: the v0.1 file predates the crisis keys
// and transition_seq; they read as their defaults.
func TestFixtureV01DefaultsCrisisKeys(t *testing.T) {
	rec, err := lifecycle.LoadState(filepath.Join(stPythonDir, "v01_hibernation_shadow.json"))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	require.True(t, rec.ShadowRun)
	require.False(t, rec.CrisisMode)
	require.Nil(t, rec.CrisisModeSinceTS)
	require.Zero(t, rec.EssentialVariableConsecutiveBreaches)
	require.Zero(t, rec.EssentialVariableConsecutiveClears)
	require.Zero(t, rec.TransitionSeq)
	require.Equal(t, int64(12), rec.WrapperEventSeq)
	require.Empty(t, rec.Extra)
}

func TestFixtureSleepWithProgressFields(t *testing.T) {
	rec, err := lifecycle.LoadState(filepath.Join(stPythonDir, "sleep_with_progress.json"))
	require.NoError(t, err)

	require.Equal(t, lifecycle.Sleep, rec.CurrentState)
	stRequireUTC(t, time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC), rec.SinceTS)
	stRequireUTC(t, time.Date(2026, 11, 25, 8, 4, 10, 500000000, time.UTC), rec.LastActivityTS)
	require.Equal(t, int64(12), rec.WrapperEventSeq)
	require.JSONEq(t, `{
		"last_completed_index": 3,
		"attempt": 1,
		"last_error": "deferred:step=SCHEMA_MINE:chunk_idx=2",
		"started_at": "2026-11-25T09:30:01.000001+00:00"
	}`, string(rec.SleepCycleProgress))
	require.Equal(t, &lifecycle.Quarantine{
		UntilTS: "2026-11-26T09:30:00+00:00",
		Reason:  "sleep step 4 (DREAM_DECAY) failed 3x",
		SinceTS: "2026-11-25T09:30:00+00:00",
	}, rec.Quarantine)
	require.False(t, rec.ShadowRun)
	require.True(t, rec.CrisisMode)
	require.NotNil(t, rec.CrisisModeSinceTS)
	require.Equal(t, "2026-11-25T09:00:00+00:00", *rec.CrisisModeSinceTS)
	require.Equal(t, int64(3), rec.EssentialVariableConsecutiveBreaches)
	require.Zero(t, rec.EssentialVariableConsecutiveClears)
	require.Zero(t, rec.TransitionSeq)
	require.Empty(t, rec.Extra)
}

func TestFixtureUnknownKeysKeptInOrder(t *testing.T) {
	rec, err := lifecycle.LoadState(filepath.Join(stPythonDir, "unknown_keys.json"))
	require.NoError(t, err)

	require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
	stRequireUTC(t, time.Date(2026, 11, 25, 8, 0, 0, 123456000, time.UTC), rec.SinceTS)
	require.Nil(t, rec.SleepCycleProgress)
	require.Nil(t, rec.Quarantine)
	require.Nil(t, rec.CrisisModeSinceTS)

	var keys []string
	for _, f := range rec.Extra {
		keys = append(keys, f.Key)
	}
	require.Equal(t, []string{"version", "fsm_state", "extra"}, keys)
	require.JSONEq(t, `7`, string(rec.Extra[0].Value))
	require.JSONEq(t, `"TRANSITIONING"`, string(rec.Extra[1].Value))
	require.JSONEq(t, `{"nested": [1, 2, {"k": "vé"}]}`, string(rec.Extra[2].Value))
}

func TestFixtureWakeFields(t *testing.T) {
	rec, err := lifecycle.LoadState(filepath.Join(stPythonDir, "wake.json"))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, rec.CurrentState)
	stRequireUTC(t, time.Date(2026, 11, 25, 8, 0, 0, 123456000, time.UTC), rec.SinceTS)
	stRequireUTC(t, time.Date(2026, 11, 25, 8, 4, 10, 500000000, time.UTC), rec.LastActivityTS)
	require.Equal(t, int64(12), rec.WrapperEventSeq)
	require.False(t, rec.ShadowRun)
	require.False(t, rec.CrisisMode)
}

// TestCorruptFixturesRefused: every corrupt fixture is refused with an error
// that wraps ErrCorruptState, names the file and the problem, and the file is
// left byte for byte as it was.
func TestCorruptFixturesRefused(t *testing.T) {
	tests := []struct {
		name    string
		wantAll []string // every one must be in the message
		wantAny []string // at least one must be in the message (case-insensitive)
	}{
		{name: "empty.json", wantAny: []string{"empty", "end of", "truncated", "EOF"}},
		{name: "not_object.json", wantAll: []string{"object"}},
		{name: "quarantine_bad.json", wantAll: []string{"quarantine", "until_ts"}},
		{name: "seq_negative.json", wantAll: []string{"wrapper_event_seq", "-1"}},
		{name: "seq_string.json", wantAll: []string{"wrapper_event_seq"}},
		{name: "shadow_missing.json", wantAll: []string{"shadow_run"}},
		{name: "truncated.json", wantAny: []string{"end of", "truncated", "EOF"}},
		{name: "unknown_state.json", wantAll: []string{"current_state", "AWAKE"}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
	}
	require.Equal(t, names, stGlobNames(t, stCorruptDir), "every corrupt fixture needs a row")

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := stRead(t, filepath.Join(stCorruptDir, tt.name))
			path := stWrite(t, orig)
			dir := filepath.Dir(path)

			_, err := lifecycle.LoadState(path)
			require.Error(t, err)
			require.ErrorIs(t, err, lifecycle.ErrCorruptState)
			stRequirePathErr(t, err, path)
			for _, s := range tt.wantAll {
				require.ErrorContains(t, err, s)
			}
			if len(tt.wantAny) > 0 {
				msg := strings.ToLower(err.Error())
				require.True(t, slices.ContainsFunc(tt.wantAny, func(s string) bool {
					return strings.Contains(msg, strings.ToLower(s))
				}), "%q names none of %q", err.Error(), tt.wantAny)
			}
			require.Equal(t, orig, stRead(t, path), "the corrupt file must be left untouched")
			require.Equal(t, []string{stStateFile}, stEntries(t, dir), "nothing may be written beside it")
		})
	}
}

// stKV is one top-level key of a hand-written state file, its value raw JSON.
type stKV struct{ k, v string }

// stBase is a valid state file with every known key.
var stBase = []stKV{
	{"current_state", `"WAKE"`},
	{"since_ts", `"2026-11-25T08:00:00.123456+00:00"`},
	{"last_activity_ts", `"2026-11-25T08:04:10.500000+00:00"`},
	{"wrapper_event_seq", `12`},
	{"sleep_cycle_progress", `null`},
	{"quarantine", `null`},
	{"shadow_run", `false`},
	{"crisis_mode", `false`},
	{"crisis_mode_since_ts", `null`},
	{"essential_variable_consecutive_breaches", `0`},
	{"essential_variable_consecutive_clears", `0`},
	{"transition_seq", `4`},
}

type stMod func([]stKV) []stKV

// stSet replaces key's value, or appends the key if it is absent.
func stSet(key, value string) stMod {
	return func(kvs []stKV) []stKV {
		for i := range kvs {
			if kvs[i].k == key {
				kvs[i].v = value
				return kvs
			}
		}
		return append(kvs, stKV{key, value})
	}
}

// stAdd appends key even if it is already there (a duplicate key).
func stAdd(key, value string) stMod {
	return func(kvs []stKV) []stKV { return append(kvs, stKV{key, value}) }
}

// stDel removes key.
func stDel(key string) stMod {
	return func(kvs []stKV) []stKV {
		return slices.DeleteFunc(kvs, func(kv stKV) bool { return kv.k == key })
	}
}

// stDoc renders stBase, modified, as a JSON object.
func stDoc(mods ...stMod) string {
	kvs := slices.Clone(stBase)
	for _, m := range mods {
		kvs = m(kvs)
	}
	var b strings.Builder
	b.WriteString("{")
	for i, kv := range kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + kv.k + `": ` + kv.v)
	}
	b.WriteString("}")
	return b.String()
}

// TestLoadStateValidation feeds hand-written files to LoadState: each is
// either refused (wrapping ErrCorruptState, naming the file and the problem)
// or accepted with the values it holds.
func TestLoadStateValidation(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr []string // substrings of the error; nil means accepted
		check   func(t *testing.T, r lifecycle.Record)
	}{
		{name: "base is valid", doc: stDoc(), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, lifecycle.Wake, r.CurrentState)
			require.Equal(t, int64(12), r.WrapperEventSeq)
			require.Equal(t, int64(4), r.TransitionSeq)
		}},

		// Counters: non-negative integers only.
		{name: "counter as float", doc: stDoc(stSet("wrapper_event_seq", `12.0`)), wantErr: []string{"wrapper_event_seq", "12.0"}},
		{name: "counter as bool", doc: stDoc(stSet("essential_variable_consecutive_breaches", `true`)), wantErr: []string{"essential_variable_consecutive_breaches"}},
		{name: "counter as exponent", doc: stDoc(stSet("essential_variable_consecutive_clears", `1e3`)), wantErr: []string{"essential_variable_consecutive_clears"}},
		{name: "counter negative", doc: stDoc(stSet("transition_seq", `-3`)), wantErr: []string{"transition_seq", "-3"}},
		{name: "counter null", doc: stDoc(stSet("wrapper_event_seq", `null`)), wantErr: []string{"wrapper_event_seq"}},
		{name: "counter overflows int64", doc: stDoc(stSet("wrapper_event_seq", `99999999999999999999`)), wantErr: []string{"wrapper_event_seq"}},
		{name: "counters missing read 0", doc: stDoc(stDel("wrapper_event_seq"), stDel("transition_seq"),
			stDel("essential_variable_consecutive_breaches"), stDel("essential_variable_consecutive_clears")),
			check: func(t *testing.T, r lifecycle.Record) {
				require.Zero(t, r.WrapperEventSeq)
				require.Zero(t, r.TransitionSeq)
				require.Zero(t, r.EssentialVariableConsecutiveBreaches)
				require.Zero(t, r.EssentialVariableConsecutiveClears)
			}},
		// A counter must leave room to count one more: int64's largest
		// value is refused, as a save would refuse the next increment.
		{name: "counter largest", doc: stDoc(stSet("wrapper_event_seq", `9223372036854775806`), stSet("transition_seq", `9223372036854775806`)),
			check: func(t *testing.T, r lifecycle.Record) {
				require.Equal(t, int64(9223372036854775806), r.WrapperEventSeq)
				require.Equal(t, int64(9223372036854775806), r.TransitionSeq)
			}},
		{name: "wrapper_event_seq at int64's maximum", doc: stDoc(stSet("wrapper_event_seq", `9223372036854775807`)),
			wantErr: []string{"wrapper_event_seq", "9223372036854775807", "9223372036854775806"}},
		{name: "transition_seq at int64's maximum", doc: stDoc(stSet("transition_seq", `9223372036854775807`)),
			wantErr: []string{"transition_seq", "9223372036854775807"}},
		{name: "clears at int64's maximum", doc: stDoc(stSet("essential_variable_consecutive_clears", `9223372036854775807`)),
			wantErr: []string{"essential_variable_consecutive_clears"}},
		{name: "last_transition seq at int64's maximum", doc: stDoc(stSet("transition_seq", `9223372036854775806`),
			stSet("last_transition", `{"ts": "2026-11-25T08:00:00.123456+00:00", "from": "WAKE", "to": "DROWSY", "trigger": "idle_5min", "seq": 9223372036854775807}`)),
			wantErr: []string{"last_transition", "seq", "9223372036854775807"}},

		// Timestamps: years 1 to 9999 in UTC, the form the file is written
		// in, whatever offset they are read with.
		{name: "since_ts in year 1 UTC", doc: stDoc(stSet("since_ts", `"0001-01-01T00:00:00.000001+00:00"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), r.SinceTS)
		}},
		// The first instant of year 1 is Go's zero time, which a Record
		// holds only when the time was never set.
		{name: "since_ts at the zero time", doc: stDoc(stSet("since_ts", `"0001-01-01T00:00:00+00:00"`)),
			wantErr: []string{"since_ts", "zero time"}},
		{name: "last_transition ts at the zero time", doc: stDoc(
			stSet("last_transition", `{"ts": "0001-01-01T01:00:00+01:00", "from": "WAKE", "to": "DROWSY", "trigger": "idle_5min", "seq": 4}`)),
			wantErr: []string{"last_transition", "ts", "zero time"}},
		{name: "since_ts in year 1 west of UTC", doc: stDoc(stSet("since_ts", `"0001-01-01T00:30:00-01:00"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, time.Date(1, 1, 1, 1, 30, 0, 0, time.UTC), r.SinceTS)
		}},
		{name: "since_ts in year 9999 UTC", doc: stDoc(stSet("since_ts", `"9999-12-31T23:59:59.999999+00:00"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), r.SinceTS)
		}},
		{name: "since_ts in year 9999 east of UTC", doc: stDoc(stSet("since_ts", `"9999-12-31T23:30:00+01:00"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, time.Date(9999, 12, 31, 22, 30, 0, 0, time.UTC), r.SinceTS)
		}},
		{name: "since_ts in year 1 east of UTC: year 0 in UTC", doc: stDoc(stSet("since_ts", `"0001-01-01T00:30:00+01:00"`)),
			wantErr: []string{"since_ts", "0001-01-01T00:30:00+01:00", "years 1 to 9999"}},
		{name: "since_ts in year 9999 west of UTC: year 10000 in UTC", doc: stDoc(stSet("since_ts", `"9999-12-31T23:30:00-01:00"`)),
			wantErr: []string{"since_ts", "9999-12-31T23:30:00-01:00", "years 1 to 9999"}},
		{name: "last_activity_ts a microsecond before year 1 in UTC", doc: stDoc(stSet("last_activity_ts", `"0001-01-01T00:59:59.999999+01:00"`)),
			wantErr: []string{"last_activity_ts", "years 1 to 9999"}},
		{name: "last_transition ts in year 10000 in UTC", doc: stDoc(
			stSet("last_transition", `{"ts": "9999-12-31T23:59:00-00:30", "from": "WAKE", "to": "DROWSY", "trigger": "idle_5min", "seq": 4}`)),
			wantErr: []string{"last_transition", "ts", "years 1 to 9999"}},

		// current_state.
		{name: "current_state empty", doc: stDoc(stSet("current_state", `""`)), wantErr: []string{"current_state"}},
		{name: "current_state lower case", doc: stDoc(stSet("current_state", `"wake"`)), wantErr: []string{"current_state", "wake"}},
		{name: "current_state missing", doc: stDoc(stDel("current_state")), wantErr: []string{"current_state"}},
		{name: "current_state number", doc: stDoc(stSet("current_state", `1`)), wantErr: []string{"current_state"}},
		{name: "current_state SLEEP", doc: stDoc(stSet("current_state", `"SLEEP"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, lifecycle.Sleep, r.CurrentState)
		}},

		// Timestamps.
		{name: "since_ts empty", doc: stDoc(stSet("since_ts", `""`)), wantErr: []string{"since_ts"}},
		{name: "since_ts not a timestamp", doc: stDoc(stSet("since_ts", `"yesterday"`)), wantErr: []string{"since_ts", "yesterday"}},
		{name: "since_ts number", doc: stDoc(stSet("since_ts", `1764057600`)), wantErr: []string{"since_ts"}},
		{name: "since_ts null", doc: stDoc(stSet("since_ts", `null`)), wantErr: []string{"since_ts"}},
		{name: "since_ts without offset", doc: stDoc(stSet("since_ts", `"2026-11-25T08:00:00"`)), wantErr: []string{"since_ts"}},
		{name: "last_activity_ts missing", doc: stDoc(stDel("last_activity_ts")), wantErr: []string{"last_activity_ts"}},
		{name: "timestamps with Z and +02:00", doc: stDoc(
			stSet("since_ts", `"2026-11-25T08:00:00Z"`),
			stSet("last_activity_ts", `"2026-11-25T10:04:10.25+02:00"`)),
			check: func(t *testing.T, r lifecycle.Record) {
				stRequireUTC(t, time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), r.SinceTS)
				stRequireUTC(t, time.Date(2026, 11, 25, 8, 4, 10, 250000000, time.UTC), r.LastActivityTS)
			}},
		{name: "negative offset crossing midnight", doc: stDoc(stSet("since_ts", `"2026-11-24T23:30:00-05:00"`)),
			check: func(t *testing.T, r lifecycle.Record) {
				stRequireUTC(t, time.Date(2026, 11, 25, 4, 30, 0, 0, time.UTC), r.SinceTS)
			}},

		// Booleans.
		{name: "shadow_run string", doc: stDoc(stSet("shadow_run", `"false"`)), wantErr: []string{"shadow_run"}},
		{name: "shadow_run missing", doc: stDoc(stDel("shadow_run")), wantErr: []string{"shadow_run"}},
		{name: "shadow_run 0", doc: stDoc(stSet("shadow_run", `0`)), wantErr: []string{"shadow_run"}},
		{name: "shadow_run true", doc: stDoc(stSet("shadow_run", `true`)), check: func(t *testing.T, r lifecycle.Record) {
			require.True(t, r.ShadowRun)
		}},
		{name: "crisis_mode missing reads false", doc: stDoc(stDel("crisis_mode")), check: func(t *testing.T, r lifecycle.Record) {
			require.False(t, r.CrisisMode)
		}},
		{name: "crisis_mode true", doc: stDoc(stSet("crisis_mode", `true`)), check: func(t *testing.T, r lifecycle.Record) {
			require.True(t, r.CrisisMode)
		}},
		{name: "crisis_mode null", doc: stDoc(stSet("crisis_mode", `null`)), wantErr: []string{"crisis_mode"}},
		{name: "crisis_mode_since_ts number", doc: stDoc(stSet("crisis_mode_since_ts", `5`)), wantErr: []string{"crisis_mode_since_ts"}},

		// sleep_cycle_progress: an object or null.
		{name: "progress array", doc: stDoc(stSet("sleep_cycle_progress", `[1, 2]`)), wantErr: []string{"sleep_cycle_progress"}},
		{name: "progress string", doc: stDoc(stSet("sleep_cycle_progress", `"step 3"`)), wantErr: []string{"sleep_cycle_progress"}},
		{name: "progress number", doc: stDoc(stSet("sleep_cycle_progress", `3`)), wantErr: []string{"sleep_cycle_progress"}},
		{name: "progress object", doc: stDoc(stSet("sleep_cycle_progress", `{"attempt": 2, "deep": {"a": [1.5, null]}}`)),
			check: func(t *testing.T, r lifecycle.Record) {
				require.JSONEq(t, `{"attempt":2,"deep":{"a":[1.5,null]}}`, string(r.SleepCycleProgress))
			}},
		{name: "progress empty object", doc: stDoc(stSet("sleep_cycle_progress", `{}`)), check: func(t *testing.T, r lifecycle.Record) {
			require.JSONEq(t, `{}`, string(r.SleepCycleProgress))
		}},
		{name: "progress null", doc: stDoc(stSet("sleep_cycle_progress", `null`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Nil(t, r.SleepCycleProgress)
		}},
		{name: "progress missing", doc: stDoc(stDel("sleep_cycle_progress")), check: func(t *testing.T, r lifecycle.Record) {
			require.Nil(t, r.SleepCycleProgress)
		}},

		// quarantine: {until_ts, reason, since_ts} strings, or null.
		{name: "quarantine missing key", doc: stDoc(stSet("quarantine", `{"until_ts": "a", "reason": "b"}`)), wantErr: []string{"quarantine", "since_ts"}},
		{name: "quarantine string", doc: stDoc(stSet("quarantine", `"soon"`)), wantErr: []string{"quarantine"}},
		{name: "quarantine array", doc: stDoc(stSet("quarantine", `["a", "b", "c"]`)), wantErr: []string{"quarantine"}},
		{name: "quarantine reason number", doc: stDoc(stSet("quarantine", `{"until_ts": "a", "reason": 5, "since_ts": "c"}`)), wantErr: []string{"quarantine", "reason"}},
		{name: "quarantine field null", doc: stDoc(stSet("quarantine", `{"until_ts": null, "reason": "b", "since_ts": "c"}`)), wantErr: []string{"quarantine", "until_ts"}},
		{name: "quarantine object", doc: stDoc(stSet("quarantine", `{"until_ts": "u", "reason": "r\u00e9", "since_ts": "s"}`)),
			check: func(t *testing.T, r lifecycle.Record) {
				require.Equal(t, &lifecycle.Quarantine{UntilTS: "u", Reason: "ré", SinceTS: "s"}, r.Quarantine)
			}},
		{name: "quarantine missing", doc: stDoc(stDel("quarantine")), check: func(t *testing.T, r lifecycle.Record) {
			require.Nil(t, r.Quarantine)
		}},

		// The document as a whole.
		{name: "empty object", doc: `{}`, wantErr: []string{"current_state", "shadow_run"}},
		{name: "null", doc: `null`, wantErr: []string{"object"}},
		{name: "string", doc: `"WAKE"`, wantErr: []string{"object"}},
		{name: "second object after", doc: stDoc() + ` {}`, wantErr: []string{"after"}},
		{name: "garbage after", doc: stDoc() + "\nx", wantErr: []string{"after"}},
		{name: "trailing comma", doc: strings.TrimSuffix(stDoc(), "}") + ",}", wantErr: []string{}},
		{name: "trailing newline accepted", doc: stDoc() + "\n", check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, lifecycle.Wake, r.CurrentState)
		}},
		{name: "invalid UTF-8", doc: stDoc(stSet("fsm_state", "\"TRANS\xffITION\"")), wantErr: []string{"UTF-8"}},
		{name: "byte order mark", doc: "\ufeff" + stDoc(), wantErr: []string{}},
		{name: "duplicate known key: last wins", doc: stDoc(stAdd("current_state", `"SLEEP"`)), check: func(t *testing.T, r lifecycle.Record) {
			require.Equal(t, lifecycle.Sleep, r.CurrentState)
		}},
		{name: "duplicate known key: last is checked", doc: stDoc(stAdd("shadow_run", `"no"`)), wantErr: []string{"shadow_run"}},
		{name: "duplicate unknown key: last wins", doc: stDoc(stAdd("version", `1`), stAdd("fsm_state", `"X"`), stAdd("version", `2`)),
			check: func(t *testing.T, r lifecycle.Record) {
				got := map[string]string{}
				for _, f := range r.Extra {
					got[f.Key] = string(f.Value)
				}
				require.Len(t, r.Extra, 2)
				require.Equal(t, map[string]string{"version": "2", "fsm_state": `"X"`}, got)
			}},
		{name: "unknown keys kept in order", doc: stDoc(stAdd("zeta", `1`), stAdd("alpha", `{"b": [true]}`)),
			check: func(t *testing.T, r lifecycle.Record) {
				require.Len(t, r.Extra, 2)
				require.Equal(t, "zeta", r.Extra[0].Key)
				require.Equal(t, "alpha", r.Extra[1].Key)
				require.JSONEq(t, `{"b":[true]}`, string(r.Extra[1].Value))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := stWrite(t, []byte(tt.doc))
			rec, err := lifecycle.LoadState(path)
			if tt.wantErr != nil {
				require.Error(t, err, "accepted: %+v", rec)
				require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				stRequirePathErr(t, err, path)
				for _, s := range tt.wantErr {
					require.ErrorContains(t, err, s)
				}
				require.Equal(t, tt.doc, string(stRead(t, path)), "a refused file must be left untouched")
				return
			}
			require.NoError(t, err)
			tt.check(t, rec)

			// Whatever is accepted can be saved and reads back the same.
			out := filepath.Join(t.TempDir(), stStateFile)
			require.NoError(t, lifecycle.SaveState(out, rec))
			again, err := lifecycle.LoadState(out)
			require.NoError(t, err)
			require.True(t, rec.Equal(again), "reloaded record differs:\n%+v\n%+v", rec, again)
			tt.check(t, again)
		})
	}
}

// TestLoadStateTimestampSavedAsUTC: a timestamp read with another offset is
// written back in Python's UTC isoformat form.
func TestLoadStateTimestampSavedAsUTC(t *testing.T) {
	path := stWrite(t, []byte(stDoc(
		stSet("since_ts", `"2026-11-25T10:00:00.5+02:00"`),
		stSet("last_activity_ts", `"2026-11-25T08:04:10Z"`))))
	rec, err := lifecycle.LoadState(path)
	require.NoError(t, err)
	require.NoError(t, lifecycle.SaveState(path, rec))
	saved := string(stRead(t, path))
	require.Contains(t, saved, "\n  \"since_ts\": \"2026-11-25T08:00:00.500000+00:00\",\n")
	require.Contains(t, saved, "\n  \"last_activity_ts\": \"2026-11-25T08:04:10+00:00\",\n")
}

func TestLoadStateMissingFile(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		filepath.Join(dir, stStateFile),
		filepath.Join(dir, "no", "such", "dir", stStateFile),
	} {
		rec, err := lifecycle.LoadState(path)
		require.NoError(t, err)
		require.Equal(t, lifecycle.Wake, rec.CurrentState)
		require.WithinDuration(t, time.Now(), rec.SinceTS, time.Second)
		require.Equal(t, time.UTC, rec.SinceTS.Location())
		require.True(t, rec.SinceTS.Equal(rec.LastActivityTS))
		require.Zero(t, rec.WrapperEventSeq)
		require.Zero(t, rec.EssentialVariableConsecutiveBreaches)
		require.Zero(t, rec.EssentialVariableConsecutiveClears)
		require.Zero(t, rec.TransitionSeq)
		require.Nil(t, rec.SleepCycleProgress)
		require.Nil(t, rec.Quarantine)
		require.Nil(t, rec.CrisisModeSinceTS)
		require.False(t, rec.ShadowRun)
		require.False(t, rec.CrisisMode)
		require.Empty(t, rec.Extra)
		require.True(t, rec.Equal(lifecycle.DefaultRecord(rec.SinceTS)))
		require.NoError(t, rec.Validate(), "the default record must be saveable")
	}
	require.Empty(t, stEntries(t, dir), "loading a missing file must create nothing")
}

func TestLoadStateDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), stStateFile)
	require.NoError(t, os.Mkdir(path, 0o700))
	_, err := lifecycle.LoadState(path)
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	stRequirePathErr(t, err, path)
	require.ErrorContains(t, err, "is a directory, not a file")
	require.Empty(t, stEntries(t, path), "the directory must be left alone")
}

// TestLoadStateFIFO: a named pipe at the path is refused, not waited on.
func TestLoadStateFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), stStateFile)
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	_, err := lifecycle.LoadState(path)
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	stRequirePathErr(t, err, path)
	require.ErrorContains(t, err, "regular file")
}

func TestLoadStateSize(t *testing.T) {
	t.Run("100 MiB sparse file refused", func(t *testing.T) {
		path := stWrite(t, []byte(stDoc()))
		require.NoError(t, os.Truncate(path, 100<<20))
		_, err := lifecycle.LoadState(path)
		require.ErrorIs(t, err, lifecycle.ErrCorruptState)
		stRequirePathErr(t, err, path)
		require.ErrorContains(t, err, "104857600")
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, int64(100<<20), fi.Size(), "the file must be left as it was")
	})
	doc := stDoc()
	t.Run("exactly MaxStateSize accepted", func(t *testing.T) {
		pad := lifecycle.MaxStateSize - len(doc)
		path := stWrite(t, []byte(doc+strings.Repeat(" ", pad)))
		rec, err := lifecycle.LoadState(path)
		require.NoError(t, err)
		require.Equal(t, lifecycle.Wake, rec.CurrentState)
	})
	t.Run("MaxStateSize+1 refused", func(t *testing.T) {
		pad := lifecycle.MaxStateSize + 1 - len(doc)
		path := stWrite(t, []byte(doc+strings.Repeat(" ", pad)))
		_, err := lifecycle.LoadState(path)
		require.ErrorIs(t, err, lifecycle.ErrCorruptState)
		stRequirePathErr(t, err, path)
		require.ErrorContains(t, err, "1048577")
	})
}

func TestSaveStateMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stStateFile)

	require.NoError(t, lifecycle.SaveState(path, stRecord()))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	require.True(t, fi.Mode().IsRegular())

	// Replacing a file readable by others gives a 0600 file too.
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, lifecycle.SaveState(path, stRecord()))
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	require.Equal(t, []string{stStateFile}, stEntries(t, dir), "no temp file may be left")

	got, err := lifecycle.LoadState(path)
	require.NoError(t, err)
	require.True(t, stRecord().Equal(got))
}

// TestSaveStateLayout checks the written bytes of a record using every field
// against the layout of §4, written out here.
func TestSaveStateLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), stStateFile)
	require.NoError(t, lifecycle.SaveState(path, stRecord()))
	want := `{
  "current_state": "DROWSY",
  "since_ts": "2026-11-25T08:00:00.123456+00:00",
  "last_activity_ts": "2026-11-25T08:01:30.123456+00:00",
  "wrapper_event_seq": 7,
  "sleep_cycle_progress": {
    "last_completed_index": 2,
    "attempt": 1
  },
  "quarantine": {
    "until_ts": "2026-11-26T08:00:00+00:00",
    "reason": "sleep step 4 failed 3x",
    "since_ts": "2026-11-25T08:00:00+00:00"
  },
  "shadow_run": true,
  "crisis_mode": true,
  "crisis_mode_since_ts": "2026-11-25T07:00:00+00:00",
  "essential_variable_consecutive_breaches": 2,
  "essential_variable_consecutive_clears": 1,
  "transition_seq": 41,
  "version": 7,
  "extra": {
    "nested": [
      1,
      2
    ]
  }
}`
	require.Equal(t, want, string(stRead(t, path)))
}

// TestSaveStateEscapesLikePython: strings are written as Python's json.dump
// (ensure_ascii=True) writes them; the expectations below are what Python
// 3 printed for the same values.
func TestSaveStateEscapesLikePython(t *testing.T) {
	t.Run("known string values", func(t *testing.T) {
		rec := stRecord()
		rec.Quarantine.Reason = "café ☕ 😀\x01\x7f\u2028\b\f\t\n\r\"\\/"
		rec.SleepCycleProgress = json.RawMessage(`{"note":"naïve 😀"}`)
		path := filepath.Join(t.TempDir(), stStateFile)
		require.NoError(t, lifecycle.SaveState(path, rec))
		saved := string(stRead(t, path))
		require.Contains(t, saved, `"reason": "caf\u00e9 \u2615 \ud83d\ude00\u0001\u007f\u2028\b\f\t\n\r\"\\/",`)
		require.Contains(t, saved, `"note": "na\u00efve \ud83d\ude00"`)
		again, err := lifecycle.LoadState(path)
		require.NoError(t, err)
		require.Equal(t, rec.Quarantine.Reason, again.Quarantine.Reason)
		require.JSONEq(t, string(rec.SleepCycleProgress), string(again.SleepCycleProgress))
	})

	// Equal reports whether two records "would be written as the same
	// bytes"; a record and its saved-and-loaded copy are written the same.
	t.Run("Equal after save and load of non-ASCII raw JSON", func(t *testing.T) {
		rec := stRecord()
		rec.SleepCycleProgress = json.RawMessage(`{"note":"naïve"}`)
		rec.Extra = []lifecycle.Field{{Key: "k", Value: json.RawMessage(`"é"`)}}
		path := filepath.Join(t.TempDir(), stStateFile)
		require.NoError(t, lifecycle.SaveState(path, rec))
		again, err := lifecycle.LoadState(path)
		require.NoError(t, err)
		path2 := filepath.Join(t.TempDir(), stStateFile)
		require.NoError(t, lifecycle.SaveState(path2, again))
		require.Equal(t, stRead(t, path), stRead(t, path2), "both records are written as the same bytes")
		require.True(t, rec.Equal(again), "Equal disagrees with the written bytes")
	})

	// Unknown keys come from files other programs wrote; whatever key a
	// JSON file may hold must be written back as valid JSON.
	keys := []struct {
		name, key, want string
	}{
		{"non-ASCII", "é", `"\u00e9": 1`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c": 1`},
		{"tab", "a\tb", `"a\tb": 1`},
		{"control character", "a\x01b", `"a\u0001b": 1`},
		{"DEL", "\x7f", `"\u007f": 1`},
		{"bell", "\a", `"\u0007": 1`},
		{"vertical tab", "\v", `"\u000b": 1`},
		{"non-printable astral", "\U000e0001", `"\udb40\udc01": 1`},
		{"emoji", "😀", `"\ud83d\ude00": 1`},
	}
	for _, tt := range keys {
		t.Run("unknown key "+tt.name, func(t *testing.T) {
			rec := stRecord()
			rec.Extra = []lifecycle.Field{{Key: tt.key, Value: json.RawMessage(`1`)}}
			path := filepath.Join(t.TempDir(), stStateFile)
			require.NoError(t, lifecycle.SaveState(path, rec))
			saved := stRead(t, path)
			require.True(t, json.Valid(saved), "SaveState wrote invalid JSON:\n%s", saved)
			require.Contains(t, string(saved), "\n  "+tt.want+"\n}")
			again, err := lifecycle.LoadState(path)
			require.NoError(t, err, "SaveState wrote a file LoadState refuses")
			require.Len(t, again.Extra, 1)
			require.Equal(t, tt.key, again.Extra[0].Key)
		})
	}

	// The same, starting from a file as Python writes it.
	t.Run("python-written key with control character", func(t *testing.T) {
		doc := stDoc(stAdd(`a\u0001b`, `1`))
		path := stWrite(t, []byte(doc))
		rec, err := lifecycle.LoadState(path)
		require.NoError(t, err)
		require.NoError(t, lifecycle.SaveState(path, rec))
		_, err = lifecycle.LoadState(path)
		require.NoError(t, err, "a load and save made the state file unreadable:\n%s", stRead(t, path))
	})
}

func TestSaveStateRefusesInvalidRecord(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(r *lifecycle.Record)
		wantErr string
	}{
		{"unknown state", func(r *lifecycle.Record) { r.CurrentState = "AWAKE" }, "current_state"},
		{"empty state", func(r *lifecycle.Record) { r.CurrentState = "" }, "current_state"},
		{"lower-case state", func(r *lifecycle.Record) { r.CurrentState = "wake" }, "current_state"},
		{"negative wrapper_event_seq", func(r *lifecycle.Record) { r.WrapperEventSeq = -1 }, "wrapper_event_seq"},
		{"negative breaches", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveBreaches = -2 }, "essential_variable_consecutive_breaches"},
		{"negative clears", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveClears = -3 }, "essential_variable_consecutive_clears"},
		{"negative transition_seq", func(r *lifecycle.Record) { r.TransitionSeq = -4 }, "transition_seq"},
		{"transition_seq at int64's maximum", func(r *lifecycle.Record) { r.TransitionSeq = math.MaxInt64 }, "transition_seq"},
		{"wrapper_event_seq at int64's maximum", func(r *lifecycle.Record) { r.WrapperEventSeq = math.MaxInt64 }, "wrapper_event_seq"},
		{"breaches at int64's maximum", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveBreaches = math.MaxInt64 }, "essential_variable_consecutive_breaches"},
		{"last_transition seq at int64's maximum", func(r *lifecycle.Record) {
			r.TransitionSeq = math.MaxInt64 - 1
			r.LastTransition = &lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Seq: math.MaxInt64, Time: r.SinceTS}
		}, "last_transition"},
		{"zero since_ts", func(r *lifecycle.Record) { r.SinceTS = time.Time{} }, "since_ts"},
		{"zero last_activity_ts", func(r *lifecycle.Record) { r.LastActivityTS = time.Time{} }, "last_activity_ts"},
		{"since_ts past year 9999", func(r *lifecycle.Record) { r.SinceTS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "since_ts"},
		{"last_activity_ts before year 1", func(r *lifecycle.Record) {
			r.LastActivityTS = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "last_activity_ts"},
		{"extra with a known key", func(r *lifecycle.Record) {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "current_state", Value: json.RawMessage(`"SLEEP"`)})
		}, "current_state"},
		{"extra key twice", func(r *lifecycle.Record) {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "version", Value: json.RawMessage(`8`)})
		}, "version"},
		{"extra value not JSON", func(r *lifecycle.Record) {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "broken", Value: json.RawMessage(`{"a":`)})
		}, "broken"},
		{"extra value empty", func(r *lifecycle.Record) {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "empty"})
		}, "empty"},
		{"progress array", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`[1,2]`) }, "sleep_cycle_progress"},
		{"progress string", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`"x"`) }, "sleep_cycle_progress"},
		{"progress number", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`3`) }, "sleep_cycle_progress"},
		{"progress invalid JSON", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`{"a":}`) }, "sleep_cycle_progress"},
		{"progress with a form feed after it", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage("{}\f") }, "sleep_cycle_progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An existing state file that a refused save must leave alone.
			orig := stRead(t, filepath.Join(stPythonDir, "wake.json"))
			path := stWrite(t, orig)
			dir := filepath.Dir(path)

			rec := stRecord().Clone()
			require.NoError(t, rec.Validate(), "the base record must be valid")
			tt.mod(&rec)

			err := lifecycle.SaveState(path, rec)
			require.Error(t, err)
			require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
			stRequirePathErr(t, err, path)
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorIs(t, rec.Validate(), lifecycle.ErrInvalidRecord)

			require.Equal(t, orig, stRead(t, path), "a refused save must leave the file alone")
			require.Equal(t, []string{stStateFile}, stEntries(t, dir), "a refused save may leave nothing behind")
		})
	}
}

func TestSaveStateValidRecordsAccepted(t *testing.T) {
	tests := []struct {
		name string
		mod  func(r *lifecycle.Record)
	}{
		{"as built", func(r *lifecycle.Record) {}},
		{"progress null literal", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`null`) }},
		{"progress nil", func(r *lifecycle.Record) { r.SleepCycleProgress = nil }},
		{"progress with spaces", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(" { \"a\" : [ 1 ] } ") }},
		{"no quarantine, no crisis since", func(r *lifecycle.Record) { r.Quarantine, r.CrisisModeSinceTS = nil, nil }},
		{"no extra", func(r *lifecycle.Record) { r.Extra = nil }},
		{"non-UTC times", func(r *lifecycle.Record) {
			r.SinceTS = r.SinceTS.In(time.FixedZone("X", -7*3600))
		}},
		{"hibernation", func(r *lifecycle.Record) { r.CurrentState = lifecycle.Hibernation }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stStateFile)
			rec := stRecord()
			tt.mod(&rec)
			require.NoError(t, lifecycle.SaveState(path, rec))
			require.NoError(t, lifecycle.SaveState(path, rec), "saving over an existing file")
			require.Equal(t, []string{stStateFile}, stEntries(t, dir), "no temp file may be left")
			got, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			require.True(t, rec.Equal(got), "reloaded record differs:\n%+v\n%+v", rec, got)
		})
	}
}

func TestSaveStateMissingDirectory(t *testing.T) {
	parent := t.TempDir()
	path := filepath.Join(parent, "missing", stStateFile)
	err := lifecycle.SaveState(path, stRecord())
	require.Error(t, err)
	require.ErrorContains(t, err, path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NotErrorIs(t, err, lifecycle.ErrInvalidRecord)
	require.Empty(t, stEntries(t, parent), "the missing directory must not be created")
}

func TestFormatTimestamp(t *testing.T) {
	plus2 := time.FixedZone("+02", 2*3600)
	minus5 := time.FixedZone("-05", -5*3600)
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"zero micros omitted", time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC), "2026-11-25T22:45:32+00:00"},
		{"micros kept", time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC), "2026-11-25T22:45:32.123456+00:00"},
		{"trailing zero micros kept", time.Date(2026, 11, 25, 22, 45, 32, 500000000, time.UTC), "2026-11-25T22:45:32.500000+00:00"},
		{"one micro", time.Date(2026, 11, 25, 22, 45, 32, 1000, time.UTC), "2026-11-25T22:45:32.000001+00:00"},
		{"nanos truncated", time.Date(2026, 11, 25, 22, 45, 32, 123456789, time.UTC), "2026-11-25T22:45:32.123456+00:00"},
		{"nanos truncated, not rounded", time.Date(2026, 11, 25, 22, 45, 32, 999999999, time.UTC), "2026-11-25T22:45:32.999999+00:00"},
		{"sub-micro only", time.Date(2026, 11, 25, 22, 45, 32, 999, time.UTC), "2026-11-25T22:45:32+00:00"},
		{"non-UTC converted", time.Date(2026, 11, 26, 0, 45, 32, 0, plus2), "2026-11-25T22:45:32+00:00"},
		{"non-UTC across a year", time.Date(2026, 12, 31, 23, 30, 0, 250000000, minus5), "2027-01-01T04:30:00.250000+00:00"},
		{"epoch", time.Unix(0, 0), "1970-01-01T00:00:00+00:00"},
		{"small year padded", time.Date(999, 1, 2, 3, 4, 5, 0, time.UTC), "0999-01-02T03:04:05+00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lifecycle.FormatTimestamp(tt.in)
			require.Equal(t, tt.want, got)
			back, err := lifecycle.ParseTimestamp(got)
			require.NoError(t, err)
			stRequireUTC(t, tt.in.Truncate(time.Microsecond), back)
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2026-11-25T22:45:32.123456+00:00", want: time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC)},
		{in: "2026-11-25T22:45:32+00:00", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-25T22:45:32Z", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-25T22:45:32.5Z", want: time.Date(2026, 11, 25, 22, 45, 32, 500000000, time.UTC)},
		{in: "2026-11-26T00:45:32+02:00", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-25T17:15:32.000001-05:30", want: time.Date(2026, 11, 25, 22, 45, 32, 1000, time.UTC)},
		{in: "", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "2026-11-25", wantErr: true},
		{in: "2026-11-25T22:45:32", wantErr: true},
		{in: "2026-11-25 22:45:32+00:00", wantErr: true},
		{in: "2026-13-01T00:00:00+00:00", wantErr: true},
		{in: "1764110732", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := lifecycle.ParseTimestamp(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				if tt.in != "" {
					require.ErrorContains(t, err, tt.in, "the error must quote the bad input")
				}
				return
			}
			require.NoError(t, err)
			stRequireUTC(t, tt.want, got)
		})
	}

	// Nanoseconds are read; the file keeps microseconds.
	got, err := lifecycle.ParseTimestamp("2026-11-25T22:45:32.123456789Z")
	require.NoError(t, err)
	require.Equal(t, "2026-11-25T22:45:32.123456+00:00", lifecycle.FormatTimestamp(got))
}

// TestRecordJSON: json.Marshal of a Record is its file form, compact, and
// json.Unmarshal reads it back to an Equal record.
func TestRecordJSON(t *testing.T) {
	records := map[string]lifecycle.Record{
		"every field": stRecord(),
		"default":     lifecycle.DefaultRecord(time.Date(2026, 11, 25, 8, 0, 0, 1000, time.UTC)),
	}
	nonASCII := stRecord()
	nonASCII.Quarantine.Reason = "café <☕> & 😀\x01"
	nonASCII.Extra = []lifecycle.Field{{Key: "ключ", Value: json.RawMessage(`"значение"`)}}
	records["non-ASCII and HTML characters"] = nonASCII
	controlKey := stRecord()
	controlKey.Extra = []lifecycle.Field{{Key: "a\x01b", Value: json.RawMessage(`1`)}}
	records["unknown key with a control character"] = controlKey
	for _, name := range stGlobNames(t, stPythonDir) {
		rec, err := lifecycle.LoadState(filepath.Join(stPythonDir, name))
		require.NoError(t, err)
		records["fixture "+name] = rec
	}

	for name, rec := range records {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(rec)
			require.NoError(t, err)
			require.True(t, bytes.HasPrefix(b, []byte(`{"current_state":"`+string(rec.CurrentState)+`","since_ts":"`)), "%s", b)
			require.NotContains(t, string(b), "\n")

			var got lifecycle.Record
			require.NoError(t, json.Unmarshal(b, &got))
			require.True(t, rec.Equal(got), "round trip differs:\n%+v\n%+v", rec, got)

			// Through a pointer and inside another value too.
			type wrapper struct {
				R *lifecycle.Record `json:"r"`
			}
			b, err = json.Marshal(wrapper{&rec})
			require.NoError(t, err)
			var w wrapper
			require.NoError(t, json.Unmarshal(b, &w))
			require.NotNil(t, w.R)
			require.True(t, rec.Equal(*w.R))
		})
	}

	t.Run("invalid record JSON refused", func(t *testing.T) {
		var r lifecycle.Record
		require.Error(t, json.Unmarshal([]byte(`{"current_state":"AWAKE"}`), &r))
		require.Error(t, json.Unmarshal([]byte(`[]`), &r))
	})
}

// TestRecordEqual: Equal must tell records apart, or the round-trip tests
// above would prove nothing.
func TestRecordEqual(t *testing.T) {
	base := stRecord()
	require.True(t, base.Equal(stRecord()))
	require.True(t, base.Equal(base.Clone()))

	tests := []struct {
		name string
		mod  func(r *lifecycle.Record)
	}{
		{"state", func(r *lifecycle.Record) { r.CurrentState = lifecycle.Wake }},
		{"since_ts by a microsecond", func(r *lifecycle.Record) { r.SinceTS = r.SinceTS.Add(time.Microsecond) }},
		{"last_activity_ts", func(r *lifecycle.Record) { r.LastActivityTS = r.LastActivityTS.Add(time.Second) }},
		{"wrapper_event_seq", func(r *lifecycle.Record) { r.WrapperEventSeq++ }},
		{"progress", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`{"attempt":2}`) }},
		{"quarantine", func(r *lifecycle.Record) { r.Quarantine.Reason = "other" }},
		{"quarantine nil", func(r *lifecycle.Record) { r.Quarantine = nil }},
		{"shadow_run", func(r *lifecycle.Record) { r.ShadowRun = false }},
		{"crisis_mode", func(r *lifecycle.Record) { r.CrisisMode = false }},
		{"crisis since", func(r *lifecycle.Record) { r.CrisisModeSinceTS = nil }},
		{"breaches", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveBreaches++ }},
		{"clears", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveClears++ }},
		{"transition_seq", func(r *lifecycle.Record) { r.TransitionSeq++ }},
		{"extra value", func(r *lifecycle.Record) { r.Extra[0].Value = json.RawMessage(`8`) }},
		{"extra order", func(r *lifecycle.Record) { r.Extra[0], r.Extra[1] = r.Extra[1], r.Extra[0] }},
		{"extra dropped", func(r *lifecycle.Record) { r.Extra = r.Extra[:1] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stRecord().Clone()
			tt.mod(&r)
			require.False(t, base.Equal(r))
			require.False(t, r.Equal(base))
		})
	}

	// Clone is deep: changing the clone leaves the original alone.
	c := base.Clone()
	c.Quarantine.Reason = "changed"
	*c.CrisisModeSinceTS = "changed"
	c.Extra[0].Value[0] = '9'
	c.SleepCycleProgress[2] = 'X'
	require.True(t, base.Equal(stRecord()), "Clone shares memory with the original")
}
