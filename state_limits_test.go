package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// What a save writes, a load reads; what a load reads, a save writes. A
// record whose state file would be larger than MaxStateSize, or hold a
// number or a time the file cannot, is refused before anything is written,
// so that no write leaves a file the library then refuses for good.

// progressOfSize returns a sleep_cycle_progress that makes rec's state file
// exactly size bytes.
func progressOfSize(t *testing.T, rec lifecycle.Record, size int) json.RawMessage {
	t.Helper()
	rec.SleepCycleProgress = json.RawMessage(`{"pad":""}`)
	path := filepath.Join(t.TempDir(), "measure.json")
	require.NoError(t, lifecycle.SaveState(path, rec))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	pad := size - int(fi.Size())
	require.GreaterOrEqual(t, pad, 0)
	return json.RawMessage(`{"pad":"` + strings.Repeat("x", pad) + `"}`)
}

// nested is a JSON object nested depth levels deep.
func nested(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1))
}

// requireTooLarge checks that err refuses a record for its size, naming path.
func requireTooLarge(t *testing.T, err error, path string) {
	t.Helper()
	require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
	require.NotErrorIs(t, err, lifecycle.ErrCorruptState)
	stRequirePathErr(t, err, path)
	require.ErrorContains(t, err, "bytes")
	require.ErrorContains(t, err, strconv.Itoa(lifecycle.MaxStateSize))
}

func TestSaveStateSizeLimit(t *testing.T) {
	base := lifecycle.DefaultRecord(t0)
	tests := []struct {
		name     string
		progress func(t *testing.T) json.RawMessage
		extra    []lifecycle.Field
		wantSize int // the refused file's size, in the error; 0: accepted
	}{
		{name: "exactly MaxStateSize", progress: func(t *testing.T) json.RawMessage {
			return progressOfSize(t, base, lifecycle.MaxStateSize)
		}},
		{name: "MaxStateSize+1", progress: func(t *testing.T) json.RawMessage {
			return progressOfSize(t, base, lifecycle.MaxStateSize+1)
		}, wantSize: lifecycle.MaxStateSize + 1},
		{name: "2 MiB", progress: func(t *testing.T) json.RawMessage {
			return json.RawMessage(`{"a":"` + strings.Repeat("x", 2<<20) + `"}`)
		}},
		// Each non-ASCII character is written as a 6-byte \u escape.
		{name: "non-ASCII grows threefold", progress: func(t *testing.T) json.RawMessage {
			return json.RawMessage(`{"a":"` + strings.Repeat("é", 200_000) + `"}`)
		}},
		// Small in memory, but each level is written on lines of its own,
		// indented two more spaces: 200 MB written.
		{name: "nested 9,999 levels", progress: func(*testing.T) json.RawMessage { return nested(9_999) }},
		{name: "nested 10,000 levels", progress: func(*testing.T) json.RawMessage { return nested(10_000) }},
		{name: "unknown key nested 5,000 levels", extra: []lifecycle.Field{{Key: "deep", Value: nested(5_000)}}},
		{name: "nested 100 levels", progress: func(*testing.T) json.RawMessage { return nested(100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := base.Clone()
			if tt.progress != nil {
				rec.SleepCycleProgress = tt.progress(t)
			}
			rec.Extra = tt.extra
			dir := t.TempDir()
			path := filepath.Join(dir, stStateFile)
			orig := []byte(stDoc())
			require.NoError(t, os.WriteFile(path, orig, 0o600))
			start := time.Now()
			err := lifecycle.SaveState(path, rec)
			if strings.Contains(tt.name, "100 levels") || tt.name == "exactly MaxStateSize" {
				require.NoError(t, err)
				fi, err := os.Stat(path)
				require.NoError(t, err)
				require.LessOrEqual(t, fi.Size(), int64(lifecycle.MaxStateSize))
				back, err := lifecycle.LoadState(path)
				require.NoError(t, err)
				require.True(t, rec.Equal(back))
				return
			}
			requireTooLarge(t, err, path)
			if tt.wantSize != 0 {
				require.ErrorContains(t, err, strconv.Itoa(tt.wantSize))
			}
			require.Less(t, time.Since(start), 5*time.Second, "refused without writing the file out")
			require.Equal(t, orig, stRead(t, path), "a refused save leaves the file alone")
			require.Equal(t, []string{stStateFile}, stEntries(t, dir), "and nothing beside it")
		})
	}
}

// TestLoadStateRefusesWhatCannotBeWrittenBack: a file within MaxStateSize
// whose record would be written back larger (compact JSON, indented when
// written; raw UTF-8, escaped when written) is refused when loaded, saying
// so, rather than loaded as a record no save can write.
func TestLoadStateRefusesWhatCannotBeWrittenBack(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"UTF-8 written as escapes", `{"a":"` + strings.Repeat("é", 300_000) + `"}`},
		{"compact array indented", `{"a":[` + strings.Repeat(`[],`, 200_000) + `[]]}`},
		{"nesting indented", string(nested(2_000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := stDoc(stSet("sleep_cycle_progress", tt.value))
			require.LessOrEqual(t, len(doc), lifecycle.MaxStateSize)
			path := stWrite(t, []byte(doc))
			_, err := lifecycle.LoadState(path)
			require.ErrorIs(t, err, lifecycle.ErrCorruptState)
			stRequirePathErr(t, err, path)
			require.ErrorContains(t, err, "written back")
			require.ErrorContains(t, err, strconv.Itoa(lifecycle.MaxStateSize))
			require.Equal(t, doc, string(stRead(t, path)))
		})
	}
}

// TestUpdateSizeLimit: an Update that would make the state file larger than
// MaxStateSize is refused, nothing written; the Machine goes on.
func TestUpdateSizeLimit(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	before := snapshotFiles(t, dir)

	for name, fn := range map[string]func(r *lifecycle.Record) error{
		"progress": func(r *lifecycle.Record) error {
			r.SleepCycleProgress = json.RawMessage(`{"log":"` + strings.Repeat("x", lifecycle.MaxStateSize) + `"}`)
			return nil
		},
		"nested progress": func(r *lifecycle.Record) error { r.SleepCycleProgress = nested(10_000); return nil },
		"unknown key": func(r *lifecycle.Record) error {
			r.Extra = append(r.Extra, lifecycle.Field{Key: "blob", Value: json.RawMessage(`"` + strings.Repeat("é", 200_000) + `"`)})
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := m.Update(fn)
			requireTooLarge(t, err, state)
			require.Equal(t, before, snapshotFiles(t, dir))
		})
	}
	rec, err := m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
	require.NoError(t, err, "a refused update does not poison the Machine")
	require.True(t, rec.CrisisMode)
	got, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.True(t, got.CrisisMode)
}

// TestHeartbeatSizeLimit: a state file at MaxStateSize grows by a heartbeat
// (wrapper_event_seq 9 to 10, a last_activity_ts with microseconds). The
// heartbeat is refused, nothing written, and the file still loads.
func TestHeartbeatSizeLimit(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	rec := lifecycle.DefaultRecord(t0.Truncate(time.Second))
	rec.WrapperEventSeq = 9
	rec.SleepCycleProgress = progressOfSize(t, rec, lifecycle.MaxStateSize)
	require.NoError(t, lifecycle.SaveState(state, rec))
	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0.Add(time.Hour) }))
	before := snapshotFiles(t, dir)

	_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	requireTooLarge(t, err, state)
	require.ErrorContains(t, err, strconv.Itoa(lifecycle.MaxStateSize+8))
	require.Equal(t, before, snapshotFiles(t, dir))
	got, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.True(t, rec.Equal(got))
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err, "a refused heartbeat does not poison the Machine")
}

// TestDispatchAtTheLastSeq: a record whose transition_seq leaves room for
// one more transition takes it; the transition after that would need a seq
// past int64 and is refused, naming the file, with nothing written.
func TestDispatchAtTheLastSeq(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	rec := lifecycle.DefaultRecord(t0)
	rec.TransitionSeq = math.MaxInt64 - 2
	require.NoError(t, lifecycle.SaveState(state, rec))
	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))

	got, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, got)
	before := snapshotFiles(t, dir)
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
	stRequirePathErr(t, err, state)
	require.ErrorContains(t, err, "transition_seq")
	require.Equal(t, before, snapshotFiles(t, dir))
	after, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.Equal(t, int64(math.MaxInt64-1), after.TransitionSeq)
}

// TestImpossibleLoggedSeqIsMalformed: a state_transition line whose seq is
// not one a transition can have (not an integer from 1 to int64's largest
// value but one) is a malformed line, named by file and offset, and not a
// seq a reset counts from: after a reset the next transition takes the seq
// after the highest real one.
func TestImpossibleLoggedSeqIsMalformed(t *testing.T) {
	bad := []string{
		`9223372036854775807`,  // one more would overflow
		`9223372036854775808`,  // past int64
		`99999999999999999999`, // far past
		`0`, `-1`, `1.5`, `2e0`, `"5"`, `true`, `[6]`, `{}`,
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.MkdirAll(logs, 0o700))
	ts := lifecycle.FormatTimestamp(t0)
	line := func(from, to, seq string) string {
		return fmt.Sprintf(`{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"x","seq":%s}`+"\n", ts, from, to, seq)
	}
	content := line("WAKE", "DROWSY", "1") + line("DROWSY", "WAKE", "2")
	var offsets []int64
	for _, s := range bad {
		offsets = append(offsets, int64(len(content)))
		content += line("WAKE", "DROWSY", s)
	}
	// A Python line, without a seq, is not malformed.
	content += fmt.Sprintf(`{"ts":"%s","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"x"}`+"\n", ts)
	logFile := filepath.Join(logs, lifecycle.LogFileName(t0))
	require.NoError(t, os.WriteFile(logFile, []byte(content), 0o600))

	var named []lifecycle.MalformedLine
	st, err := lifecycle.ReadLog(logs, lifecycle.LogQuery{OnMalformed: func(l lifecycle.MalformedLine) { named = append(named, l) }},
		func(lifecycle.LogEntry) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 3, st.Entries)
	require.Equal(t, len(bad), st.Malformed)
	for i, l := range named {
		require.Equal(t, logFile, l.File)
		require.Equal(t, offsets[i], l.Offset)
		require.ErrorContains(t, l.Err, "seq", "line %d (%s)", i, bad[i])
	}

	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, int64(3), rec.TransitionSeq)
}
