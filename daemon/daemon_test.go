package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunHibernates(t *testing.T) {
	tests := []struct {
		name   string
		shadow bool
	}{
		{"exits", false},
		{"shadow run stays up", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var s steps
			r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithSleepCycle(s.cycle(3)), daemon.WithShadowRun(tt.shadow))...)
			r.waitFor(t, "boot WAKE")
			r.waitFor(t, "WAKE -> DROWSY (idle_5min)")
			r.waitFor(t, "DROWSY -> SLEEP (idle_30min)")
			r.waitFor(t, "sleep cycle started: attempt 1, step 0 of 3")
			r.waitFor(t, "sleep cycle done: still_idle=true")
			r.waitFor(t, "SLEEP -> HIBERNATION (sleep_cycle_done)")
			want := []string{"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->HIBERNATION sleep_cycle_done"}
			if !tt.shadow {
				r.waitFor(t, "exit: HIBERNATION")
				o, err := r.end(t)
				require.NoError(t, err)
				require.Equal(t, daemon.Hibernated, o)
				// A request on the way out is answered at once.
				st, err := r.d.Request(t.Context())
				require.NoError(t, err)
				require.Equal(t, lifecycle.Hibernation, st)
			} else {
				r.waitFor(t, "shadow run: staying up in HIBERNATION")
				st, err := r.d.Request(t.Context())
				require.NoError(t, err)
				require.Equal(t, lifecycle.Wake, st, "in shadow run a request wakes it")
				want = append(want, "HIBERNATION->WAKE request_arrived")
				r.stop(t)
			}
			require.Equal(t, []int{0, 1, 2}, s.all())
			require.Equal(t, want, transitions(t, dir))
			rec := load(t, dir)
			require.Equal(t, tt.shadow, rec.ShadowRun)
			require.JSONEq(t, `2`, string(field(t, rec.SleepCycleProgress, "last_completed_index")))
			require.NotEmpty(t, field(t, rec.SleepCycleProgress, "completed_at"))
		})
	}
}

// A start is demand: whatever the state on disk, a started daemon is not
// left in HIBERNATION; other states are kept.
func TestRunBootRule(t *testing.T) {
	tests := []struct {
		name       string
		before     []lifecycle.Event
		wakeSignal bool
		lines      []string
		want       lifecycle.State
		wantSeq    int64 // wrapper_event_seq after boot
	}{
		{"fresh directory", nil, false, []string{"boot WAKE"}, lifecycle.Wake, 0},
		{"hibernated", hibernated, false, []string{"boot HIBERNATION", "HIBERNATION -> WAKE (wake_signal)"}, lifecycle.Wake, 1},
		{"hibernated, wake signal", hibernated, true,
			[]string{"boot HIBERNATION", "wake signal consumed", "HIBERNATION -> WAKE (wake_signal)"}, lifecycle.Wake, 1},
		{"awake, wake signal", nil, true, []string{"boot WAKE", "wake signal consumed"}, lifecycle.Wake, 1},
		{"drowsy is kept", []lifecycle.Event{lifecycle.Idle5Min}, false, []string{"boot DROWSY"}, lifecycle.Drowsy, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dispatchAll(t, dir, tt.before...)
			if tt.wakeSignal {
				require.NoError(t, lifecycle.WriteWakeSignal(dir))
			}
			r := startDaemon(t, dir, daemon.WithTick(time.Hour))
			<-r.d.Ready()
			require.Equal(t, tt.want, r.d.State())
			require.Equal(t, tt.lines, r.lines.all())
			require.Equal(t, tt.wantSeq, load(t, dir).WrapperEventSeq)
			_, err := os.Lstat(filepath.Join(dir, lifecycle.WakeSignalFile))
			require.ErrorIs(t, err, os.ErrNotExist, "the wake signal is consumed")
			r.stop(t)
		})
	}
}

var hibernated = []lifecycle.Event{lifecycle.Idle5Min, lifecycle.Idle30Min, lifecycle.SleepCycleDone}

// Requests are coalesced: in WAKE they wait for the tick, and outside it
// all those waiting share one dispatch.
func TestRequestsCoalesce(t *testing.T) {
	tests := []struct {
		name    string
		before  []lifecycle.Event
		want    []string // transitions
		wantSeq int64    // before the stop
	}{
		// No tick comes within the test: not one durable write until
		// the stop records them all at once.
		{"awake: recorded on the next tick", nil, nil, 0},
		{"drowsy: one dispatch wakes it", []lifecycle.Event{lifecycle.Idle5Min},
			[]string{"WAKE->DROWSY idle_5min", "DROWSY->WAKE request_arrived"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dispatchAll(t, dir, tt.before...)
			r := startDaemon(t, dir, daemon.WithTick(time.Hour))
			const clients, each = 20, 25
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Go(func() {
					for range each {
						st, err := r.d.Request(t.Context())
						if err == nil && st != lifecycle.Wake {
							err = errors.New("answered in " + string(st))
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantSeq, load(t, dir).WrapperEventSeq)
			r.stop(t)
			require.Equal(t, tt.want, transitions(t, dir))
			require.Equal(t, tt.wantSeq+1, load(t, dir).WrapperEventSeq, "the rest recorded on the way out, in one write")
		})
	}
}

// A request cancels the sleep step in progress and wakes the machine; the
// abandoned step is not recorded as done.
func TestRequestInterruptsSleepStep(t *testing.T) {
	dir := t.TempDir()
	dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
	entered := make(chan struct{})
	var once sync.Once
	stepErr := make(chan error, 1)
	cycle := daemon.SleepCycle{Steps: 2, Step: func(ctx context.Context, i int) error {
		once.Do(func() { close(entered) })
		<-ctx.Done()
		stepErr <- ctx.Err()
		return ctx.Err()
	}}
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond), daemon.WithSleepCycle(cycle),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Hour, Sleep: 2 * time.Hour}))
	r.waitFor(t, "sleep cycle started: attempt 1, step 0 of 2")
	<-entered
	st, err := r.d.Request(t.Context())
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, st)
	require.ErrorIs(t, <-stepErr, context.Canceled)
	r.waitFor(t, "sleep cycle interrupted: 0 of 2 steps done")
	r.waitFor(t, "SLEEP -> WAKE (request_arrived)")
	r.stop(t)
	require.Equal(t, "SLEEP->WAKE request_arrived", transitions(t, dir)[2])
	require.JSONEq(t, `-1`, string(field(t, load(t, dir).SleepCycleProgress, "last_completed_index")))
}

// A request dispatched by another process is seen after the step in
// progress, and stops the cycle there.
func TestAnotherProcessInterruptsSleepCycle(t *testing.T) {
	dir := t.TempDir()
	dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
	entered := make(chan struct{}, 1)
	cycle := daemon.SleepCycle{Steps: 1 << 20, Step: func(ctx context.Context, i int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		return nil
	}}
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond), daemon.WithSleepCycle(cycle),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Hour, Sleep: 2 * time.Hour}))
	<-entered
	dispatchAll(t, dir, lifecycle.RequestArrived)
	r.waitFor(t, "SLEEP -> WAKE (by another process)")
	r.waitFor(t, "sleep cycle interrupted: ...")
	r.stop(t)
	require.Equal(t, lifecycle.Wake, load(t, dir).CurrentState)
}

// The next cycle resumes where the progress in the state file says the
// last one stopped.
func TestSleepCycleResumes(t *testing.T) {
	tests := []struct {
		name     string
		progress string
		line     string
		ran      []int
	}{
		{"none", ``, "sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"null", `null`, "sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"started, nothing done", `{"last_completed_index":-1,"attempt":1,"steps":4,"started_at":"x"}`,
			"sleep cycle started: attempt 2, step 0 of 4", []int{0, 1, 2, 3}},
		{"float", `{"last_completed_index":1.5,"attempt":1,"steps":4}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"two done", `{"last_completed_index":1,"attempt":1,"steps":4,"started_at":"x"}`,
			"sleep cycle started: attempt 2, step 2 of 4", []int{2, 3}},
		{"third attempt", `{"last_completed_index":2,"attempt":2,"steps":4,"started_at":"x"}`,
			"sleep cycle started: attempt 3, step 3 of 4", []int{3}},
		{"completed", `{"last_completed_index":3,"attempt":1,"steps":4,"started_at":"x","completed_at":"y"}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"other length", `{"last_completed_index":1,"attempt":1,"steps":5,"started_at":"x"}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"index out of range", `{"last_completed_index":-2,"attempt":1,"steps":4}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"attempt huge", `{"last_completed_index":1,"attempt":9223372036854775807,"steps":4}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"wrong types", `{"last_completed_index":"1","attempt":1,"steps":4}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"someone else's shape", `{"phase":"consolidate"}`, "sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"keys in another case", `{"Last_Completed_Index":1,"ATTEMPT":1,"Steps":4,"started_at":"x"}`,
			"sleep cycle started: attempt 1, step 0 of 4", []int{0, 1, 2, 3}},
		{"completed_at in another case", `{"last_completed_index":1,"attempt":1,"steps":4,"Completed_At":"y"}`,
			"sleep cycle started: attempt 2, step 2 of 4", []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
			if tt.progress != "" {
				m, err := lifecycle.New(dir)
				require.NoError(t, err)
				_, err = m.Update(func(r *lifecycle.Record) error {
					r.SleepCycleProgress = json.RawMessage(tt.progress)
					return nil
				})
				require.NoError(t, err)
				require.NoError(t, m.Close())
			}
			var s steps
			r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithSleepCycle(s.cycle(4)))...)
			r.waitFor(t, "boot SLEEP")
			r.waitFor(t, tt.line)
			r.waitFor(t, "exit: HIBERNATION")
			o, err := r.end(t)
			require.NoError(t, err)
			require.Equal(t, daemon.Hibernated, o)
			require.Equal(t, tt.ran, s.all())
		})
	}
}

// A failed step abandons the cycle, is logged, and the next tick resumes
// the cycle from that step.
func TestSleepStepFails(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	var mu sync.Mutex
	failed := false
	var ran []int
	cycle := daemon.SleepCycle{Steps: 3, Step: func(ctx context.Context, i int) error {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, i)
		if i == 1 && !failed {
			failed = true
			return errors.New("disk on fire")
		}
		return nil
	}}
	r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithSleepCycle(cycle),
		daemon.WithLogger(slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))))...)
	r.waitFor(t, "sleep cycle started: attempt 1, step 0 of 3")
	r.waitFor(t, "sleep cycle failed: 1 of 3 steps done")
	r.waitFor(t, "sleep cycle started: attempt 2, step 1 of 3")
	r.waitFor(t, "exit: HIBERNATION")
	o, err := r.end(t)
	require.NoError(t, err)
	require.Equal(t, daemon.Hibernated, o)
	mu.Lock()
	require.Equal(t, []int{0, 1, 1, 2}, ran)
	mu.Unlock()
	require.Contains(t, logs.String(), "disk on fire")
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestWakeSignalWhileRunning(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithShadowRun(true))...)
	r.waitFor(t, "shadow run: staying up in HIBERNATION")
	require.NoError(t, lifecycle.WriteWakeSignal(dir))
	r.waitFor(t, "wake signal consumed")
	r.waitFor(t, "HIBERNATION -> WAKE (wake_signal)")
	r.stop(t)
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) string // returns the dir to open
		opts    []daemon.Option
		is      error  // errors.Is, if set
		msg     string // in the message; DIR stands for the test's directory
	}{
		{"another daemon", func(t *testing.T, dir string) string {
			d, err := daemon.Open(dir)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, d.Close()) })
			return dir
		}, nil, lifecycle.ErrDaemonRunning, filepath.Join("DIR", lifecycle.DaemonLockFile)},
		{"not a directory", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "file")
			require.NoError(t, os.WriteFile(path, nil, 0o600))
			return path
		}, nil, nil, filepath.Join("DIR", "file")},
		{"steps without a function", func(t *testing.T, dir string) string { return dir },
			[]daemon.Option{daemon.WithSleepCycle(daemon.SleepCycle{Steps: 2})}, nil, "needs a Step function"},
		{"negative steps", func(t *testing.T, dir string) string { return dir },
			[]daemon.Option{daemon.WithSleepCycle(daemon.SleepCycle{Steps: -1, Step: func(context.Context, int) error { return nil }})},
			nil, "sleep cycle of -1 steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			arg := tt.prepare(t, dir)
			before, err := os.ReadDir(dir)
			require.NoError(t, err)
			d, err := daemon.Open(arg, tt.opts...)
			require.Error(t, err)
			require.Nil(t, d)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.Contains(t, err.Error(), filepath.FromSlash(replaceDir(tt.msg, dir)))
			after, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Equal(t, before, after, "nothing touched")
		})
	}
}

func replaceDir(s, dir string) string {
	if rest, ok := bytes.CutPrefix([]byte(s), []byte("DIR")); ok {
		return dir + string(rest)
	}
	return s
}

func TestRunCorruptState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	garbage := []byte(`{"current_state": "NAPPING"`)
	require.NoError(t, os.WriteFile(path, garbage, 0o600))
	d, err := daemon.Open(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close()) }()
	_, err = d.Run(t.Context())
	require.ErrorIs(t, err, lifecycle.ErrCorruptState)
	require.Contains(t, err.Error(), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, garbage, data, "left for an operator")
	_, err = d.Run(t.Context())
	require.Error(t, err, "Run runs once")
}

func field(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return m[key]
}

// Activity dispatched by another process (heartbeat_refresh, through the
// state file's wrapper_event_seq) restarts the idle clock: while it comes
// every 20 ms the daemon, drowsy after a second idle, stays awake; once it
// stops, the daemon gets drowsy. (Margins, not timings, are what the test
// relies on: a stall of a whole second would be needed to fail it.)
func TestOtherProcessActivityKeepsAwake(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Second, Sleep: time.Hour}))
	<-r.d.Ready()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range 100 { // two seconds of heartbeats: twice the idle threshold
		<-tick.C
		_, err := m.DispatchContext(t.Context(), lifecycle.HeartbeatRefresh, lifecycle.Guards{})
		require.NoError(t, err)
	}
	require.Equal(t, []string{"boot WAKE"}, r.lines.all(), "awake while another process is active")
	r.waitFor(t, "WAKE -> DROWSY (idle_5min)")
	r.stop(t)
}

// A wake signal taken while another process holds the lock is not lost: it
// is dispatched once the lock is free.
func TestWakeSignalTakenOnABusyLock(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithShadowRun(true), daemon.WithLockWait(5*time.Millisecond))...)
	r.waitFor(t, "shadow run: staying up in HIBERNATION")

	held, release := make(chan struct{}), make(chan struct{})
	other, err := lifecycle.New(dir)
	require.NoError(t, err)
	go func() {
		_, _ = other.UpdateContext(t.Context(), func(*lifecycle.Record) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	require.NoError(t, lifecycle.WriteWakeSignal(dir))
	r.waitFor(t, "wake signal consumed")
	time.Sleep(50 * time.Millisecond) // some ticks meet the busy lock
	close(release)
	r.waitFor(t, "HIBERNATION -> WAKE (wake_signal)")
	r.stop(t)
	require.NoError(t, other.Close())
}

// Requests served in WAKE wait for the next tick to be recorded; a stop
// before it records them on the way out, and so does Close for those
// served after Run returned (a server's drain). A hibernated daemon's
// Close records nothing: no request is served on the way out of it.
func TestRequestsRecordedOnTheWayOut(t *testing.T) {
	tests := []struct {
		name      string
		before    int // requests before the stop
		after     int // requests after Run returned, before Close
		hibernate bool
		wantSeq   int64
	}{
		{"served before the stop", 3, 0, false, 1},
		{"served during the drain", 0, 2, false, 1},
		{"both", 2, 2, false, 2},
		{"none", 0, 0, false, 0},
		{"hibernated", 0, 2, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := []daemon.Option{daemon.WithTick(time.Hour)}
			if tt.hibernate {
				opts = fast
			}
			d, err := daemon.Open(dir, opts...)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			result := make(chan daemon.Outcome, 1)
			go func() {
				o, err := d.Run(ctx)
				assert.NoError(t, err)
				result <- o
			}()
			<-d.Ready()
			for range tt.before {
				_, err := d.Request(t.Context())
				require.NoError(t, err)
			}
			if !tt.hibernate {
				cancel()
			}
			o := <-result
			if tt.hibernate {
				require.Equal(t, daemon.Hibernated, o)
			} else {
				require.Equal(t, daemon.Stopped, o)
			}
			seqAtStop := load(t, dir).WrapperEventSeq
			for range tt.after {
				_, err := d.Request(t.Context())
				require.NoError(t, err)
			}
			require.NoError(t, d.Close())
			rec := load(t, dir)
			require.Equal(t, tt.wantSeq, rec.WrapperEventSeq)
			if tt.before > 0 {
				require.Equal(t, int64(1), seqAtStop, "recorded by Run on its way out")
			}
			if tt.hibernate {
				require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
			} else {
				require.Empty(t, transitions(t, dir), "in WAKE: no transition")
			}
		})
	}
}

// A completed cycle that did not hibernate (another process was active)
// does not run again on every tick while that activity goes on: the next
// one waits until the idle clock reaches the sleep threshold, and then
// hibernates.
func TestSleepCycleWaitsForIdleAfterActivity(t *testing.T) {
	dir := t.TempDir()
	dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
	release := make(chan struct{})
	var once sync.Once
	var s steps
	cycle := daemon.SleepCycle{Steps: 2, Step: func(ctx context.Context, i int) error {
		once.Do(func() { <-release }) // the first step waits for the first heartbeat
		return s.cycle(2).Step(ctx, i)
	}}
	// Margins, not timings: a stall of a whole second between two
	// heartbeats would be needed to fail the test.
	const sleepAfter = time.Second
	r := startDaemon(t, dir, daemon.WithTick(time.Millisecond), daemon.WithSleepCycle(cycle),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: time.Millisecond, Sleep: sleepAfter}))
	r.waitFor(t, "sleep cycle started: attempt 1, step 0 of 2")
	other, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, other.Close()) }()
	heartbeat := func() {
		_, err := other.DispatchContext(t.Context(), lifecycle.HeartbeatRefresh, lifecycle.Guards{})
		require.NoError(t, err)
	}
	heartbeat()
	close(release)
	r.waitFor(t, "sleep cycle done: still_idle=false")
	for end := time.Now().Add(3 * sleepAfter / 2); time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
		heartbeat()
	}
	started := func() int {
		n := 0
		for _, l := range r.lines.all() {
			if strings.HasPrefix(l, "sleep cycle started") {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, started(), "cycles run while another process was active")
	r.waitFor(t, "SLEEP -> HIBERNATION (sleep_cycle_done)")
	require.Equal(t, 2, started())
	require.Equal(t, []int{0, 1, 0, 1}, s.all())
	o, err := r.end(t)
	require.NoError(t, err)
	require.Equal(t, daemon.Hibernated, o)
}

// A lock wait that ends before the lock is even tried (a wait shorter than
// the time from its start to the try, as on a loaded machine) is a busy
// lock, tried again later: it does not end Run, wherever the loop is, and
// the loops that retry at once (the boot's wake-up, the end of a sleep
// cycle) do not spin on it.
func TestLockWaitEndedBeforeTheTry(t *testing.T) {
	tests := []struct {
		state lifecycle.State
		want  string
	}{
		{lifecycle.Wake, "busy: idle_5min not dispatched..."},
		{lifecycle.Sleep, "busy: sleep cycle progress not recorded..."},
		{lifecycle.Hibernation, "busy: wake_signal not dispatched..."},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			dir := t.TempDir()
			rec := lifecycle.DefaultRecord(time.Now())
			rec.CurrentState = tt.state
			require.NoError(t, lifecycle.SaveState(filepath.Join(dir, lifecycle.DefaultStateFile), rec))
			r := startDaemon(t, dir, append(slices.Clone(fast), daemon.WithLockWait(time.Nanosecond))...)
			got := r.waitFor(t, tt.want)
			require.Contains(t, got, "the lock wait ended before the lock was tried")
			// Paced, not spinning: a retry at most every millisecond
			// (or tick), where a loop retrying at once narrates tens of
			// thousands of lines in this time.
			before := len(r.lines.all())
			time.Sleep(200 * time.Millisecond)
			require.Less(t, len(r.lines.all())-before, 1000, "retries paced")
			r.stop(t)
		})
	}
}

// The requests recorded on the way out meet the same lock wait: one that
// ends before the lock is tried leaves them unrecorded, with a warning,
// and the daemon still stops cleanly.
func TestRecordServedLockWaitEnded(t *testing.T) {
	dir := t.TempDir()
	var logged strings.Builder
	d, err := daemon.Open(dir, daemon.WithTick(time.Hour), daemon.WithLockWait(time.Nanosecond),
		daemon.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan result, 1)
	go func() {
		o, err := d.Run(ctx)
		ran <- result{o, err}
	}()
	<-d.Ready()
	_, err = d.Request(t.Context())
	require.NoError(t, err)
	cancel()
	res := <-ran
	require.NoError(t, res.err)
	require.Equal(t, daemon.Stopped, res.outcome)
	require.NoError(t, d.Close())
	require.Contains(t, logged.String(), "not recorded")
}
