package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC)

// stepClock returns t0, t0+1s, t0+2s, ... one step per call.
func stepClock() func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n-1) * time.Second)
	}
}

func newMachine(t *testing.T, dir string, opts ...lifecycle.Option) *lifecycle.Machine {
	t.Helper()
	m, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

// logLines returns every line of every plain log file in dir/logs.
func logLines(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "logs", "*.jsonl"))
	require.NoError(t, err)
	var lines []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if len(data) > 0 {
			require.True(t, strings.HasSuffix(string(data), "\n"), "%s ends mid-line", f)
			lines = append(lines, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")...)
		}
	}
	return lines
}

func TestDispatchWalksTheCycle(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithClock(stepClock()))
	steps := []struct {
		ev   lifecycle.Event
		g    lifecycle.Guards
		want lifecycle.State
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Drowsy},
		{lifecycle.Idle30Min, lifecycle.Guards{}, lifecycle.Drowsy}, // guard fails
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Sleep},
		{lifecycle.SleepCycleDone, lifecycle.Guards{}, lifecycle.Sleep}, // guard fails
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, lifecycle.Hibernation},
		{lifecycle.Tick, lifecycle.Guards{}, lifecycle.Hibernation},
		{lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Wake},
	}
	for _, s := range steps {
		got, err := m.Dispatch(s.ev, s.g)
		require.NoError(t, err, s.ev)
		require.Equal(t, s.want, got, s.ev)
	}
	// The clock is read once by New's recovery... so times are read from the
	// log rather than assumed; what is fixed is their layout and order.
	lines := logLines(t, dir)
	require.Len(t, lines, 4)
	want := []string{
		`"event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`,
		`"event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":2}`,
		`"event":"state_transition","from":"SLEEP","to":"HIBERNATION","trigger":"sleep_cycle_done","seq":3}`,
		`"event":"state_transition","from":"HIBERNATION","to":"WAKE","trigger":"wake_signal","seq":4}`,
	}
	var prev time.Time
	for i, line := range lines {
		require.True(t, strings.HasPrefix(line, `{"ts":"2026-11-25T22:45:`), line)
		require.True(t, strings.HasSuffix(line, want[i]), line)
		var rec struct{ TS string }
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		ts, err := lifecycle.ParseTimestamp(rec.TS)
		require.NoError(t, err)
		require.True(t, ts.After(prev))
		prev = ts
	}
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, rec.CurrentState)
	require.Equal(t, int64(4), rec.TransitionSeq)
	require.Equal(t, prev, rec.SinceTS, "since_ts is the last transition's time")
	require.Equal(t, int64(1), rec.WrapperEventSeq, "wake_signal is activity")
	require.Equal(t, prev, rec.LastActivityTS)
}

func TestDispatchLogLineLayout(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, "logs", "lifecycle-events-2026-11-25.jsonl"))
	require.NoError(t, err)
	require.Equal(t, `{"ts":"2026-11-25T22:45:32.123456+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`+"\n", string(data))
}

func TestDispatchBookkeeping(t *testing.T) {
	tests := []struct {
		name         string
		ev           lifecycle.Event
		wantActivity bool
	}{
		{"heartbeat", lifecycle.HeartbeatRefresh, true},
		{"request in WAKE is no transition", lifecycle.RequestArrived, true},
		{"wake_signal in WAKE", lifecycle.WakeSignal, true},
		{"tick", lifecycle.Tick, false},
		{"idle_30min in WAKE", lifecycle.Idle30Min, false},
		{"grace expired", lifecycle.HibernationGraceExpired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := stepClock()
			m := newMachine(t, dir, lifecycle.WithClock(clock))
			_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}) // creates the file
			require.NoError(t, err)
			before, err := m.Snapshot()
			require.NoError(t, err)
			first, err := os.ReadFile(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)

			got, err := m.Dispatch(tt.ev, lifecycle.Guards{})
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, got)
			after, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, before.SinceTS, after.SinceTS, "no transition keeps since_ts")
			require.Zero(t, after.TransitionSeq)
			require.Empty(t, logLines(t, dir), "no transition, no log line")
			data, err := os.ReadFile(filepath.Join(dir, lifecycle.DefaultStateFile))
			require.NoError(t, err)
			if tt.wantActivity {
				require.Equal(t, int64(2), after.WrapperEventSeq)
				require.True(t, after.LastActivityTS.After(before.LastActivityTS))
				require.NotEqual(t, string(first), string(data))
			} else {
				require.Equal(t, int64(1), after.WrapperEventSeq)
				require.Equal(t, string(first), string(data), "%s writes nothing", tt.ev)
			}
		})
	}
}

func TestTickOnNewDirectoryWritesNothing(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	got, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
	_, err = os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Empty(t, logLines(t, dir))
}

func TestShadowRun(t *testing.T) {
	for _, shadow := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[shadow], func(t *testing.T) {
			dir := t.TempDir()
			m := newMachine(t, dir, lifecycle.WithShadowRun(shadow))
			for _, s := range []struct {
				ev lifecycle.Event
				g  lifecycle.Guards
			}{{lifecycle.Idle5Min, lifecycle.Guards{}}, {lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}}, {lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}}} {
				_, err := m.Dispatch(s.ev, s.g)
				require.NoError(t, err)
			}
			rec, err := m.Snapshot()
			require.NoError(t, err)
			require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
			require.Equal(t, shadow, rec.ShadowRun)
			lines := logLines(t, dir)
			if !shadow {
				require.Len(t, lines, 3)
				return
			}
			require.Len(t, lines, 4)
			var warn map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[3]), &warn))
			require.Equal(t, "shadow_run_warning", warn["event"])
			require.Equal(t, "hibernate_kill_process", warn["would_action"])
			require.Equal(t, "shadow_run=True", warn["blocked_by"])
			require.NotEmpty(t, warn["note"])
			require.True(t, strings.HasPrefix(lines[3], `{"ts":"`))
		})
	}
}

func TestShadowRunSettingIsWrittenOnActivity(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir, lifecycle.WithShadowRun(true))
	_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	m2 := newMachine(t, dir) // shadow run off
	_, err = m2.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	rec, err := m2.Snapshot()
	require.NoError(t, err)
	require.False(t, rec.ShadowRun, "a dispatch writes this Machine's setting")
}

func TestDispatchUnknownEvent(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	_, err := m.Dispatch("nap", lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrUnknownEvent)
	_, err = os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestConcurrentDispatchOnOneMachine(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 800)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, int64(800), rec.WrapperEventSeq)
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	m := newMachine(t, dir)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	for path, want := range map[string]fs.FileMode{
		dir:                        fs.ModeDir | 0o700,
		filepath.Join(dir, "logs"): fs.ModeDir | 0o700,
		filepath.Join(dir, lifecycle.DefaultStateFile): 0o600,
		filepath.Join(dir, lifecycle.DefaultLockFile):  0o600,
	} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode(), path)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "logs", "*"))
	require.NoError(t, err)
	require.Len(t, logs, 1)
	fi, err := os.Stat(logs[0])
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode())
}

func TestDispatchRefusesCorruptState(t *testing.T) {
	files, err := filepath.Glob("testdata/fixtures/corrupt/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			state := filepath.Join(dir, lifecycle.DefaultStateFile)
			require.NoError(t, os.WriteFile(state, data, 0o600))
			m := newMachine(t, dir)
			for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.RequestArrived, lifecycle.Tick} {
				_, err = m.Dispatch(ev, lifecycle.Guards{})
				require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				require.Contains(t, err.Error(), state)
			}
			_, err = m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
			require.ErrorIs(t, err, lifecycle.ErrCorruptState)
			after, err := os.ReadFile(state)
			require.NoError(t, err)
			require.Equal(t, data, after)
			require.Empty(t, logLines(t, dir))
		})
	}
}

func TestDispatchOnPythonFiles(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{
		"testdata/fixtures/python-written/unknown_keys.json":                      lifecycle.DefaultStateFile,
		"testdata/fixtures/python-written/logs/lifecycle-events-2026-11-25.jsonl": "logs/lifecycle-events-2026-11-25.jsonl",
	} {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o600))
	}
	m := newMachine(t, dir, lifecycle.WithClock(func() time.Time { return t0 }))
	got, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
	rec, err := m.Snapshot()
	require.NoError(t, err)
	require.Equal(t, int64(13), rec.WrapperEventSeq)
	require.Equal(t, int64(1), rec.TransitionSeq)
	keys := make([]string, len(rec.Extra))
	for i, f := range rec.Extra {
		keys[i] = f.Key
	}
	require.Equal(t, []string{"version", "fsm_state", "extra"}, keys)
	// The torn Python line stays on its own line; the new record follows it whole.
	data, err := os.ReadFile(filepath.Join(dir, "logs", "lifecycle-events-2026-11-25.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 8)
	require.Equal(t, `{"ts":"2026-11-25T09:11:00+00:00","event":"wrapper_event","kind":"heart`, lines[6])
	require.Equal(t, `{"ts":"2026-11-25T22:45:32.123456+00:00","event":"state_transition","from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","seq":1}`, lines[7])
}

func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	got, err := m.Update(func(r *lifecycle.Record) error {
		r.SleepCycleProgress = json.RawMessage(`{"last_completed_index":2,"attempt":1}`)
		r.Quarantine = &lifecycle.Quarantine{UntilTS: "2026-11-26T00:00:00+00:00", Reason: "x", SinceTS: "2026-11-25T00:00:00+00:00"}
		return nil
	})
	require.NoError(t, err)
	rec, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.True(t, got.Equal(rec))
	require.JSONEq(t, `{"last_completed_index":2,"attempt":1}`, string(rec.SleepCycleProgress))
	before, err := os.ReadFile(state)
	require.NoError(t, err)

	tests := []struct {
		name string
		fn   func(*lifecycle.Record) error
		is   error
	}{
		{"callback error", func(r *lifecycle.Record) error { r.CrisisMode = true; return errors.New("boom") }, nil},
		{"moves the state", func(r *lifecycle.Record) error { r.CurrentState = lifecycle.Sleep; return nil }, lifecycle.ErrInvalidRecord},
		{"moves since_ts", func(r *lifecycle.Record) error { r.SinceTS = r.SinceTS.Add(time.Hour); return nil }, lifecycle.ErrInvalidRecord},
		{"moves transition_seq", func(r *lifecycle.Record) error { r.TransitionSeq = 9; return nil }, lifecycle.ErrInvalidRecord},
		{"negative counter", func(r *lifecycle.Record) error { r.EssentialVariableConsecutiveBreaches = -1; return nil }, lifecycle.ErrInvalidRecord},
		{"progress not an object", func(r *lifecycle.Record) error { r.SleepCycleProgress = json.RawMessage(`[1]`); return nil }, lifecycle.ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Update(tt.fn)
			require.Error(t, err)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
				require.Contains(t, err.Error(), state)
			}
			after, err := os.ReadFile(state)
			require.NoError(t, err)
			require.Equal(t, string(before), string(after))
		})
	}
	// The Machine is not poisoned by refused updates.
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
}

func TestLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	c := startChild(t, dir, "hold")
	c.expect(t, "held")

	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	require.Contains(t, err.Error(), filepath.Join(dir, lifecycle.DefaultLockFile))
	_, err = m.Update(func(*lifecycle.Record) error { return nil })
	require.ErrorIs(t, err, lifecycle.ErrLocked)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = m.DispatchContext(ctx, lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	done := make(chan error, 1)
	var got lifecycle.State
	go func() {
		var err error
		got, err = m.DispatchContext(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{})
		done <- err
	}()
	c.wait(t) // the child releases the lock and exits
	require.NoError(t, <-done)
	require.Equal(t, lifecycle.Drowsy, got)
	require.Len(t, logLines(t, dir), 1)
}

func TestNewRefusesBadPaths(t *testing.T) {
	t.Run("lock path is a symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "target")
		require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
		require.NoError(t, os.Symlink(target, filepath.Join(dir, lifecycle.DefaultLockFile)))
		_, err := lifecycle.New(dir)
		require.Error(t, err)
		require.Contains(t, err.Error(), lifecycle.DefaultLockFile)
		require.Contains(t, err.Error(), "symbolic link")
		data, err := os.ReadFile(target)
		require.NoError(t, err)
		require.Equal(t, "keep", string(data))
	})
	t.Run("log dir is a file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "logs"), []byte("x"), 0o600))
		_, err := lifecycle.New(dir)
		require.Error(t, err)
		require.Contains(t, err.Error(), filepath.Join(dir, "logs"))
	})
}

// BenchmarkDispatchTransition measures a durable transition: log append and
// fsync, temp file write and fsync, rename, directory fsync.
func BenchmarkDispatchTransition(b *testing.B) {
	m, err := lifecycle.New(b.TempDir(), lifecycle.WithRetention(0))
	require.NoError(b, err)
	defer m.Close()
	cycle := []lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Dispatch(cycle[i&1], lifecycle.Guards{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchTick measures a no-op dispatch: lock, read, parse, unlock.
func BenchmarkDispatchTick(b *testing.B) {
	m, err := lifecycle.New(b.TempDir(), lifecycle.WithRetention(0))
	require.NoError(b, err)
	defer m.Close()
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDispatchReasonFuncGuardsSeeTheLockedRecord: a heartbeat from another
// Machine lands between a Snapshot and the sleep_cycle_done it informs.
// Guards computed from the Snapshot would hibernate a daemon whose client is
// back; guards computed by DispatchReasonFunc under the lock see the heartbeat.
func TestDispatchReasonFuncGuardsSeeTheLockedRecord(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat bool
		want      lifecycle.State
	}{
		{"no activity since the snapshot", false, lifecycle.Hibernation},
		{"a heartbeat since the snapshot", true, lifecycle.Sleep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			daemon := newMachine(t, dir)
			for _, s := range []struct {
				ev lifecycle.Event
				g  lifecycle.Guards
			}{{lifecycle.Idle5Min, lifecycle.Guards{}}, {lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}}} {
				_, err := daemon.Dispatch(s.ev, s.g)
				require.NoError(t, err)
			}
			snap, err := daemon.Snapshot()
			require.NoError(t, err)
			if tt.heartbeat {
				other := newMachine(t, dir)
				got, err := other.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				require.NoError(t, err)
				require.Equal(t, lifecycle.Sleep, got) // activity, no transition in SLEEP
			}
			var seen lifecycle.Record
			got, err := daemon.DispatchReasonFunc(context.Background(), lifecycle.SleepCycleDone, "", func(r lifecycle.Record) lifecycle.Guards {
				seen = r
				return lifecycle.Guards{StillIdle: r.WrapperEventSeq == snap.WrapperEventSeq}
			})
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			after, err := daemon.Snapshot()
			require.NoError(t, err)
			require.Equal(t, tt.want, after.CurrentState)
			if tt.heartbeat {
				require.Equal(t, snap.WrapperEventSeq+1, seen.WrapperEventSeq)
			}
		})
	}
}
