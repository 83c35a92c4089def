package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// watchNow is the clock of the printer tests: records are stamped with it.
var watchNow = time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)

func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-11-25 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

// rec is the record of a machine that has been in state since since, with
// n transitions and w activity events, the last at active.
func rec(state lifecycle.State, since string, n int64, w int64, active string) lifecycle.Record {
	r := lifecycle.DefaultRecord(at(since))
	r.CurrentState, r.TransitionSeq, r.WrapperEventSeq, r.LastActivityTS = state, n, w, at(active)
	return r
}

func edit(r lifecycle.Record, fn func(*lifecycle.Record)) lifecycle.Record {
	r = r.Clone()
	fn(&r)
	return r
}

func recordEv(r lifecycle.Record) lifecycle.WatchEvent {
	return lifecycle.WatchEvent{Kind: lifecycle.WatchRecord, Record: r}
}

func transitionEv(from, to lifecycle.State, ev lifecycle.Event, seq int64, hhmm string) lifecycle.WatchEvent {
	return lifecycle.WatchEvent{Kind: lifecycle.WatchTransition,
		Transition: lifecycle.Transition{From: from, To: to, Event: ev, Seq: seq, Time: at(hhmm)}}
}

func errorEv(err error) lifecycle.WatchEvent {
	return lifecycle.WatchEvent{Kind: lifecycle.WatchError, Err: err}
}

var errCorrupt = &fs.PathError{Op: "load state", Path: "store/lifecycle_state.json",
	Err: errors.Join(lifecycle.ErrCorruptState, errors.New("unexpected end of JSON input"))}

func TestWatchPrinterHuman(t *testing.T) {
	wake := rec(lifecycle.Wake, "22:00", 0, 0, "22:00")
	drowsy := rec(lifecycle.Drowsy, "22:05", 1, 0, "22:00")
	const summary = "2026-11-25 23:00:00Z  WAKE since 2026-11-25 22:00:00Z (1h0m0s ago); " +
		"last activity 2026-11-25 22:00:00Z (1h0m0s ago); seq 0; wrapper event 0\n"
	const toDrowsy = "2026-11-25 22:05:00Z  WAKE -> DROWSY (idle_5min) seq 1\n"
	tests := []struct {
		name     string
		missing  bool
		events   []lifecycle.WatchEvent
		want     string // standard output
		wantErr  string // standard error
		wantLine []int  // lines printed for each event
	}{
		{
			name:     "the first record is a summary; a transition is a line, its record none",
			events:   []lifecycle.WatchEvent{recordEv(wake), transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"), recordEv(drowsy)},
			want:     summary + toDrowsy,
			wantLine: []int{1, 1, 0},
		},
		{
			name:     "a missing state file is said so",
			missing:  true,
			events:   []lifecycle.WatchEvent{recordEv(wake)},
			want:     strings.TrimSuffix(summary, "\n") + " (no state file: a new machine's record)\n",
			wantLine: []int{1},
		},
		{
			name:     "activity without a transition is a line of what changed",
			events:   []lifecycle.WatchEvent{recordEv(drowsy), recordEv(edit(drowsy, func(r *lifecycle.Record) { r.WrapperEventSeq, r.LastActivityTS = 1, at("22:10") }))},
			want:     "2026-11-25 23:00:00Z  DROWSY since 2026-11-25 22:05:00Z (55m0s ago); last activity 2026-11-25 22:00:00Z (1h0m0s ago); seq 1; wrapper event 0\n" + "2026-11-25 23:00:00Z  DROWSY  last activity 2026-11-25 22:10:00Z; wrapper event 1\n",
			wantLine: []int{1, 1},
		},
		{
			name: "the activity of a transition is the transition's",
			events: []lifecycle.WatchEvent{recordEv(drowsy),
				transitionEv(lifecycle.Drowsy, lifecycle.Wake, lifecycle.HeartbeatRefresh, 2, "22:10"),
				recordEv(rec(lifecycle.Wake, "22:10", 2, 1, "22:10"))},
			want:     "2026-11-25 23:00:00Z  DROWSY since 2026-11-25 22:05:00Z (55m0s ago); last activity 2026-11-25 22:00:00Z (1h0m0s ago); seq 1; wrapper event 0\n" + "2026-11-25 22:10:00Z  DROWSY -> WAKE (heartbeat_refresh) seq 2\n",
			wantLine: []int{1, 1, 0},
		},
		{
			name: "activity after the transition's record shows again",
			events: []lifecycle.WatchEvent{recordEv(wake),
				transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"), recordEv(drowsy),
				recordEv(edit(drowsy, func(r *lifecycle.Record) { r.WrapperEventSeq, r.LastActivityTS = 1, at("22:10") }))},
			want:     summary + toDrowsy + "2026-11-25 23:00:00Z  DROWSY  last activity 2026-11-25 22:10:00Z; wrapper event 1\n",
			wantLine: []int{1, 1, 0, 1},
		},
		{
			name: "other changes beside a transition still show",
			events: []lifecycle.WatchEvent{recordEv(wake),
				transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"),
				recordEv(edit(drowsy, func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`{"last_completed_index": 0}`) }))},
			want:     summary + toDrowsy + "2026-11-25 23:00:00Z  DROWSY  sleep cycle {\"last_completed_index\":0}\n",
			wantLine: []int{1, 1, 1},
		},
		{
			name: "two transitions coalesced: both lines, one record",
			events: []lifecycle.WatchEvent{recordEv(wake),
				transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"),
				transitionEv(lifecycle.Drowsy, lifecycle.Sleep, lifecycle.Idle30Min, 2, "22:35"),
				recordEv(rec(lifecycle.Sleep, "22:35", 2, 0, "22:00"))},
			want:     summary + toDrowsy + "2026-11-25 22:35:00Z  DROWSY -> SLEEP (idle_30min) seq 2\n",
			wantLine: []int{1, 1, 1, 0},
		},
		{
			name: "a state written without a transition (the Python tools) shows",
			events: []lifecycle.WatchEvent{recordEv(wake),
				recordEv(rec(lifecycle.Sleep, "22:30", 0, 0, "22:00"))},
			want:     summary + "2026-11-25 23:00:00Z  SLEEP  state was WAKE; since 2026-11-25 22:30:00Z\n",
			wantLine: []int{1, 1},
		},
		{
			name: "a record that disagrees with the transitions before it shows what they do not explain",
			events: []lifecycle.WatchEvent{recordEv(wake),
				transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"),
				recordEv(rec(lifecycle.Sleep, "22:35", 2, 0, "22:00"))},
			want:     summary + toDrowsy + "2026-11-25 23:00:00Z  SLEEP  state was WAKE; since 2026-11-25 22:35:00Z; seq 2\n",
			wantLine: []int{1, 1, 1},
		},
		{
			name:   "an error goes to stderr, and the next record is a summary again",
			events: []lifecycle.WatchEvent{recordEv(wake), errorEv(errCorrupt), recordEv(wake)},
			want:   summary + summary,
			// One line, whatever the error: the joined parts are separated by "; ".
			wantErr:  "2026-11-25 23:00:00Z  error: load state store/lifecycle_state.json: corrupt state file; unexpected end of JSON input (still watching)\n",
			wantLine: []int{1, 0, 1},
		},
		{
			name:     "an equal record prints nothing",
			events:   []lifecycle.WatchEvent{recordEv(wake), recordEv(wake.Clone())},
			want:     summary,
			wantLine: []int{1, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			p := &watchPrinter{out: &out, errw: &errb, now: func() time.Time { return watchNow }, missing: tt.missing}
			var lines []int
			for _, ev := range tt.events {
				n, err := p.print(ev)
				require.NoError(t, err)
				lines = append(lines, n)
			}
			require.Equal(t, tt.want, out.String())
			require.Equal(t, tt.wantErr, errb.String())
			require.Equal(t, tt.wantLine, lines)
		})
	}
}

// What a record line says when one field changes, alone.
func TestRecordChanges(t *testing.T) {
	base := rec(lifecycle.Sleep, "22:30", 2, 3, "22:00")
	since := "2026-11-25T22:00:00+00:00"
	tests := []struct {
		name string
		edit func(*lifecycle.Record)
		want string
	}{
		{"nothing", func(*lifecycle.Record) {}, ""},
		{"progress", func(r *lifecycle.Record) { r.SleepCycleProgress = json.RawMessage(`{"attempt": 1, "steps": 5}`) }, `sleep cycle {"attempt":1,"steps":5}`},
		{"quarantine", func(r *lifecycle.Record) {
			r.Quarantine = &lifecycle.Quarantine{UntilTS: "2026-11-26T09:30:00+00:00", Reason: "step 4 failed 3x", SinceTS: since}
		}, "quarantine until 2026-11-26T09:30:00+00:00 (since " + since + "): step 4 failed 3x"},
		{"shadow run", func(r *lifecycle.Record) { r.ShadowRun = true }, "shadow run on"},
		{"crisis", func(r *lifecycle.Record) { r.CrisisMode, r.CrisisModeSinceTS = true, &since }, "crisis mode on since " + since},
		{"crisis without a time", func(r *lifecycle.Record) { r.CrisisMode = true }, "crisis mode on"},
		{"essential variable", func(r *lifecycle.Record) { r.EssentialVariableConsecutiveBreaches = 2 }, "essential var 2 breaches, 0 clears"},
		{"another program's key", func(r *lifecycle.Record) {
			r.Extra = []lifecycle.Field{{Key: "python_only", Value: json.RawMessage(`1`)}}
		}, "other keys changed: python_only"},
		{"transition seq alone", func(r *lifecycle.Record) { r.TransitionSeq = 3 }, "seq 3"},
		{"several, in file order", func(r *lifecycle.Record) { r.ShadowRun, r.WrapperEventSeq = true, 4 }, "wrapper event 4; shadow run on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := edit(base, tt.edit)
			require.Equal(t, tt.want, strings.Join(recordChanges(base, cur, nil), "; "))
			// And back: a field that returns to its old value shows too.
			back := strings.Join(recordChanges(cur, base, nil), "; ")
			require.Equal(t, tt.want == "", back == "", back)
		})
	}
}

func TestRecordChangesBackToNone(t *testing.T) {
	since := "2026-11-25T22:00:00+00:00"
	busy := edit(rec(lifecycle.Sleep, "22:30", 2, 3, "22:00"), func(r *lifecycle.Record) {
		r.SleepCycleProgress = json.RawMessage(`{"attempt":1}`)
		r.Quarantine = &lifecycle.Quarantine{UntilTS: since, Reason: "r", SinceTS: since}
		r.CrisisMode = true
	})
	calm := rec(lifecycle.Sleep, "22:30", 2, 3, "22:00")
	calm.SleepCycleProgress = json.RawMessage(`null`)
	require.Equal(t, []string{"sleep cycle cleared", "quarantine none", "crisis mode off"}, recordChanges(busy, calm, nil))
}

func TestWatchPrinterJSON(t *testing.T) {
	wake := rec(lifecycle.Wake, "22:00", 0, 0, "22:00")
	wake.Extra = []lifecycle.Field{{Key: "z_last", Value: json.RawMessage(`"kept"`)}}
	drowsy := rec(lifecycle.Drowsy, "22:05", 1, 0, "22:00")
	var out, errb bytes.Buffer
	p := &watchPrinter{out: &out, errw: &errb, json: true, now: func() time.Time { return watchNow }}
	for _, ev := range []lifecycle.WatchEvent{
		recordEv(wake),
		transitionEv(lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 1, "22:05"),
		recordEv(drowsy),
		errorEv(errCorrupt),
		recordEv(drowsy), // every record is a line, even an equal one
	} {
		n, err := p.print(ev)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 5)
	require.Equal(t, `{"kind":"record","record":{"current_state":"WAKE","since_ts":"2026-11-25T22:00:00+00:00",`+
		`"last_activity_ts":"2026-11-25T22:00:00+00:00","wrapper_event_seq":0,"sleep_cycle_progress":null,"quarantine":null,`+
		`"shadow_run":false,"crisis_mode":false,"crisis_mode_since_ts":null,"essential_variable_consecutive_breaches":0,`+
		`"essential_variable_consecutive_clears":0,"transition_seq":0,"z_last":"kept"}}`, lines[0])
	require.Equal(t, `{"kind":"transition","transition":{"ts":"2026-11-25T22:05:00+00:00","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}}`, lines[1])
	require.Contains(t, lines[2], `{"kind":"record","record":{"current_state":"DROWSY",`)
	require.Equal(t, `{"kind":"error","error":"load state store/lifecycle_state.json: corrupt state file\nunexpected end of JSON input"}`, lines[3])
	require.Equal(t, lines[2], lines[4])
	// The error goes to stderr as well, for the person at the terminal.
	require.Contains(t, errb.String(), "error: load state store/lifecycle_state.json: corrupt state file")
	for _, l := range lines {
		require.True(t, json.Valid([]byte(l)), l)
	}
}

// A write error is returned, so that the watch ends with it (a closed
// pipe, a full disk).
func TestWatchPrinterWriteError(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		p := &watchPrinter{out: failWriter{}, errw: &bytes.Buffer{}, json: asJSON, now: func() time.Time { return watchNow }}
		_, err := p.print(recordEv(rec(lifecycle.Wake, "22:00", 0, 0, "22:00")))
		require.ErrorIs(t, err, errWriteFailed)
	}
}

var errWriteFailed = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWriteFailed }

// A sleep cycle's progress that goes on shows only the keys that changed.
func TestSleepCycleChange(t *testing.T) {
	tests := []struct {
		name, prev, cur, want string
	}{
		{"started", `null`, `{"last_completed_index": -1, "attempt": 1}`, `sleep cycle {"last_completed_index":-1,"attempt":1}`},
		{"started, nothing before", ``, `{"attempt": 1}`, `sleep cycle {"attempt":1}`},
		{"a step", `{"last_completed_index":0,"attempt":1,"steps":5}`, `{"last_completed_index":1,"attempt":1,"steps":5}`, `sleep cycle last_completed_index=1`},
		{"completed", `{"last_completed_index":4,"steps":5}`, `{"last_completed_index":4,"steps":5,"completed_at":"2026-11-25T23:00:00+00:00"}`,
			`sleep cycle completed_at=2026-11-25T23:00:00+00:00`},
		{"a key gone, a string with spaces", `{"a":1,"last_error":"x"}`, `{"a":2,"note":"two words"}`, `sleep cycle a=2 note="two words" last_error removed`},
		{"nested", `{"steps":{"done":[1]}}`, `{"steps":{"done":[1, 2]}}`, `sleep cycle steps={"done":[1,2]}`},
		{"cleared", `{"attempt":1}`, `null`, `sleep cycle cleared`},
		{"same content, other spacing", `{"attempt":1}`, `{"attempt": 1}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := rec(lifecycle.Sleep, "22:30", 2, 3, "22:00")
			cur := prev.Clone()
			prev.SleepCycleProgress, cur.SleepCycleProgress = json.RawMessage(tt.prev), json.RawMessage(tt.cur)
			require.Equal(t, tt.want, strings.Join(recordChanges(prev, cur, nil), "; "))
		})
	}
}
