package lifecycle_test

import (
	"encoding/json"
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

// FuzzLoadState: any bytes either load, and then save (within
// MaxStateSize) and load back to the same record and the same bytes, or
// are refused as corrupt and left as they were. What loads, saves. Never a
// panic.
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
	// At the edges of what the file holds: times that an offset moves out
	// of years 1 to 9999, the zero time, counters at int64's largest value
	// (which a Machine could not count on from), records that grow past
	// MaxStateSize when written back.
	lt := func(ts, seq string) stMod {
		return stSet("last_transition", `{"ts": "`+ts+`", "from": "WAKE", "to": "DROWSY", "trigger": "idle_5min", "seq": `+seq+`}`)
	}
	for _, doc := range []string{
		stDoc(stSet("since_ts", `"0001-01-01T00:30:00+01:00"`)),
		stDoc(stSet("since_ts", `"0001-01-01T00:30:00-01:00"`)),
		stDoc(stSet("since_ts", `"0001-01-01T00:00:00Z"`)),
		stDoc(stSet("last_activity_ts", `"9999-12-31T23:30:00-01:00"`)),
		stDoc(stSet("last_activity_ts", `"9999-12-31T23:59:59.999999999Z"`)),
		stDoc(lt("9999-12-31T23:59:00-00:30", "4")),
		stDoc(lt("0001-01-01T01:00:00+01:00", "4")),
		stDoc(stSet("transition_seq", `9223372036854775807`)),
		stDoc(stSet("transition_seq", `9223372036854775806`), lt("2026-11-25T08:00:00.123456+00:00", "9223372036854775806")),
		stDoc(stSet("transition_seq", `9223372036854775806`), lt("2026-11-25T08:00:00.123456+00:00", "9223372036854775807")),
		stDoc(stSet("wrapper_event_seq", `9223372036854775807`)),
		// 4 KB nested 800 levels: 1.3 MB written back. (Larger seeds, a
		// megabyte of UTF-8 say, are in TestLoadStateRefusesWhatCannotBeWrittenBack:
		// the fuzzer makes no headway with them.)
		stDoc(stSet("sleep_cycle_progress", strings.Repeat(`{"a":`, 799)+`{}`+strings.Repeat(`}`, 799))),
		stDoc(stSet("sleep_cycle_progress", strings.Repeat(`{"a":`, 600)+`{}`+strings.Repeat(`}`, 600))),
	} {
		f.Add([]byte(doc))
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
		fi, err := os.Stat(again)
		require.NoError(t, err)
		require.LessOrEqual(t, fi.Size(), int64(lifecycle.MaxStateSize))
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

// FuzzLoggedSeq: whatever a log line holds, a reset (no state file) goes on
// from the log: the next transition takes the seq after the highest one
// among the state_transition lines that ReadLog delivers, or, when that is
// the last seq there is, is refused as an invalid record. A line whose seq
// no transition could have is malformed for every reader, so none counts
// from it.
func FuzzLoggedSeq(f *testing.F) {
	ts := lifecycle.FormatTimestamp(t0)
	for _, seq := range []string{`3`, `9223372036854775806`, `9223372036854775807`, `9223372036854775808`,
		`-1`, `0`, `1.5`, `"4"`, `null`, `1e3`, `[5]`} {
		f.Add([]byte(`{"ts":"` + ts + `","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"x","seq":` + seq + `}`))
	}
	f.Add([]byte(`{"ts":"` + ts + `","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"x"}`))
	f.Add([]byte(`{"ts":"0001-01-01T00:30:00+01:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"x","seq":7}`))
	f.Add([]byte(`{"ts":"` + ts + `","event":"wrapper_event","seq":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		dir := t.TempDir()
		logs := filepath.Join(dir, "logs")
		require.NoError(t, os.Mkdir(logs, 0o700))
		first := `{"ts":"` + ts + `","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"x","seq":1}`
		content := first + "\n" + strings.ReplaceAll(string(line), "\x00", "") + "\n" + first + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(logs, lifecycle.LogFileName(t0)), []byte(content), 0o600))

		var top int64
		_, err := lifecycle.ReadLog(logs, lifecycle.LogQuery{Kind: "state_transition"}, func(e lifecycle.LogEntry) error {
			var members map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(e.Raw, &members))
			if seq, err := strconv.ParseInt(string(members["seq"]), 10, 64); err == nil {
				top = max(top, seq)
			}
			return nil
		})
		require.NoError(t, err)
		require.Less(t, top, int64(math.MaxInt64), "a delivered seq leaves room for one more")

		m, err := lifecycle.New(dir, lifecycle.WithClock(func() time.Time { return t0 }), lifecycle.WithRetention(0))
		require.NoError(t, err)
		defer m.Close()
		_, err = m.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
		require.NoError(t, err)
		_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		rec, serr := m.Snapshot()
		require.NoError(t, serr)
		if top == math.MaxInt64-1 {
			// The log used the last seq there is: no transition can follow.
			require.ErrorIs(t, err, lifecycle.ErrInvalidRecord)
			require.ErrorContains(t, err, "transition_seq")
			require.Equal(t, lifecycle.Wake, rec.CurrentState)
			return
		}
		require.NoError(t, err)
		require.Equal(t, top+1, rec.TransitionSeq)
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
