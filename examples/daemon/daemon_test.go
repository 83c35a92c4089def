package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// The daemon tests run the daemon as a separate process: this test binary,
// re-run with daemonEnv set, is the daemon (TestMain hands it to run).
const daemonEnv = "LIFECYCLE_EXAMPLE_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(daemonEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// overall bounds each test. It is a guard against a hung daemon, not a
// timing assertion: every wait below is for a line of output.
const overall = 30 * time.Second

// fast walks a whole idle day in milliseconds.
var fast = []string{"--tick=1ms", "--drowsy-after=5ms", "--sleep-after=10ms", "--sleep-steps=3", "--sleep-step=1ms"}

// awake keeps the daemon in WAKE for the length of any test.
var awake = []string{"--tick=1ms", "--drowsy-after=1h", "--sleep-after=2h"}

// endless is a sleep cycle that no test outlives: a request always arrives
// mid-cycle.
var endless = []string{"--tick=1ms", "--drowsy-after=5ms", "--sleep-after=10ms", "--sleep-steps=1000000", "--sleep-step=10ms"}

// proc is a running daemon.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at EOF
	seen   []string    // the lines read so far
	stderr *bytes.Buffer
	ctx    context.Context
	exited bool
}

func startDaemon(t *testing.T, ctx context.Context, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--dir=" + dir}, args...)...)
	// Under -race, a process sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), daemonEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	p := &proc{cmd: cmd, lines: make(chan string), stderr: &bytes.Buffer{}, ctx: ctx}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("daemon stdout so far:\n%s\ndaemon stderr:\n%s", strings.Join(p.seen, "\n"), p.stderr)
		}
	})
	return p
}

// waitFor reads lines until one equals want, or starts with it when want
// ends in "...". Lines in between are skipped, so a series of waitFor calls
// checks the order of the lines they name.
func (p *proc) waitFor(t *testing.T, want string) string {
	t.Helper()
	prefix, isPrefix := strings.CutSuffix(want, "...")
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("daemon output ended before %q", want)
			}
			p.seen = append(p.seen, line)
			if line == want || isPrefix && strings.HasPrefix(line, prefix) {
				return line
			}
		case <-p.ctx.Done():
			t.Fatalf("no %q within %v", want, overall)
		}
	}
}

// exit waits for the daemon to end and returns its exit code.
func (p *proc) exit(t *testing.T) int {
	t.Helper()
	// Drain stdout, so the daemon never blocks on it, up to its end.
	for open := true; open; {
		select {
		case _, open = <-p.lines:
		case <-p.ctx.Done():
			t.Fatalf("daemon still running after %v", overall) // the cleanup kills it
		}
	}
	err := p.cmd.Wait()
	p.exited = true
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), overall)
	t.Cleanup(cancel)
	return ctx
}

// transitions returns the state_transition lines of the log as "FROM->TO trigger".
func transitions(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	_, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var l struct{ From, To, Trigger string }
			if err := json.Unmarshal(e.Raw, &l); err != nil {
				return err
			}
			got = append(got, l.From+"->"+l.To+" "+l.Trigger)
			return nil
		})
	require.NoError(t, err)
	return got
}

// waitForRecord watches dir's state file until a record satisfies ok.
func waitForRecord(t *testing.T, ctx context.Context, dir string, ok func(lifecycle.Record) bool) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := lifecycle.Watch(wctx, dir)
	require.NoError(t, err)
	for ev := range events {
		if ev.Kind == lifecycle.WatchRecord && ok(ev.Record) {
			return
		}
	}
	t.Fatalf("no such record within %v", overall)
}

func countKind(t *testing.T, dir, kind string) int {
	t.Helper()
	n := 0
	_, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: kind},
		func(lifecycle.LogEntry) error { n++; return nil })
	require.NoError(t, err)
	return n
}

// loadState requires a valid state file and no temporary file beside it.
func loadState(t *testing.T, dir string) lifecycle.Record {
	t.Helper()
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.Contains(t, []string{lifecycle.DefaultStateFile, lifecycle.DefaultLockFile, lifecycle.DefaultLogDir, lifecycle.DaemonLockFile}, e.Name(),
			"left in the directory")
	}
	return rec
}

// progress is the sleep cycle's sleep_cycle_progress object.
type progress struct {
	LastCompletedIndex int    `json:"last_completed_index"`
	Attempt            int    `json:"attempt"`
	StartedAt          string `json:"started_at"`
	Steps              int    `json:"steps"`
	CompletedAt        string `json:"completed_at,omitempty"`
}

func progressOf(t *testing.T, rec lifecycle.Record) progress {
	t.Helper()
	var p progress
	require.NoError(t, json.Unmarshal(rec.SleepCycleProgress, &p), string(rec.SleepCycleProgress))
	return p
}

// hibernate runs the daemon in dir through a whole idle day to its exit.
func hibernate(t *testing.T, ctx context.Context, dir string, args ...string) *proc {
	t.Helper()
	p := startDaemon(t, ctx, dir, append(slices.Clone(fast), args...)...)
	p.waitFor(t, "boot WAKE")
	p.waitFor(t, "WAKE -> DROWSY (idle_5min)")
	p.waitFor(t, "DROWSY -> SLEEP (idle_30min)")
	p.waitFor(t, "sleep cycle started: attempt 1, step 0 of 3")
	p.waitFor(t, "sleep cycle done: still_idle=true")
	p.waitFor(t, "SLEEP -> HIBERNATION (sleep_cycle_done)")
	return p
}

func TestDaemonWalksToHibernationAndExits(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := hibernate(t, ctx, dir)
	p.waitFor(t, "exit: HIBERNATION")
	require.Equal(t, 0, p.exit(t))

	rec := loadState(t, dir)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	require.False(t, rec.ShadowRun)
	pr := progressOf(t, rec)
	require.Equal(t, 2, pr.LastCompletedIndex)
	require.Equal(t, 1, pr.Attempt)
	require.Equal(t, 3, pr.Steps)
	require.NotEmpty(t, pr.CompletedAt)
	require.Equal(t, []string{"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->HIBERNATION sleep_cycle_done"},
		transitions(t, dir))
	require.Zero(t, countKind(t, dir, "shadow_run_warning"))
	// One voice per channel: what it does goes to stdout, once; stderr is
	// for warnings and errors, and a clean life has none.
	require.Empty(t, p.stderr.String())
}

func TestDaemonShadowRunStaysUp(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := hibernate(t, ctx, dir, "--shadow-run")
	p.waitFor(t, "shadow run: staying up in HIBERNATION")
	p.signal(t, syscall.SIGTERM)
	// Only a daemon still running when the signal came says so.
	p.waitFor(t, "stopped: terminated signal received")
	require.Equal(t, 0, p.exit(t))
	require.NotContains(t, p.seen, "exit: HIBERNATION")

	rec := loadState(t, dir)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	require.True(t, rec.ShadowRun)
	require.Equal(t, 1, countKind(t, dir, "shadow_run_warning"))
}

func TestDaemonRequestInterruptsSleep(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := startDaemon(t, ctx, dir, endless...)
	p.waitFor(t, "DROWSY -> SLEEP (idle_30min)")
	p.waitFor(t, "sleep cycle started: attempt 1, step 0 of 1000000")

	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	st, err := m.DispatchContext(ctx, lifecycle.RequestArrived, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, st)

	p.waitFor(t, "SLEEP -> WAKE (by another process)")
	p.waitFor(t, "sleep cycle interrupted: ...")
	// Idle again, it falls asleep again and resumes the cycle where the
	// progress in the state file says it stopped.
	p.waitFor(t, "WAKE -> DROWSY (idle_5min)")
	p.waitFor(t, "DROWSY -> SLEEP (idle_30min)")
	p.waitFor(t, "sleep cycle started: attempt 2, ...")
	// The line comes before the cycle's first progress record: wait for
	// the record, or a stop could come before it lands.
	waitForRecord(t, ctx, dir, func(rec lifecycle.Record) bool {
		return rec.SleepCycleProgress != nil && progressOf(t, rec).Attempt == 2
	})
	p.signal(t, syscall.SIGTERM)
	p.waitFor(t, "stopped: terminated signal received")
	require.Equal(t, 0, p.exit(t))
	require.False(t, slices.ContainsFunc(p.seen, func(l string) bool { return strings.HasPrefix(l, "sleep cycle done") }),
		"the endless cycle never completes")

	rec := loadState(t, dir)
	require.Equal(t, lifecycle.Sleep, rec.CurrentState)
	pr := progressOf(t, rec)
	require.Equal(t, 2, pr.Attempt)
	require.Empty(t, pr.CompletedAt)
	require.Equal(t, []string{
		"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->WAKE request_arrived",
		"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min",
	}, transitions(t, dir))
}

func TestDaemonRestartAfterHibernation(t *testing.T) {
	tests := []struct {
		name   string
		signal bool
	}{
		{"with a wake signal", true},
		// A start is demand: a hibernated state never traps a daemon.
		{"without a wake signal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			first := hibernate(t, ctx, dir)
			require.Equal(t, 0, first.exit(t))
			if tt.signal {
				require.NoError(t, lifecycle.WriteWakeSignal(dir))
			}

			p := startDaemon(t, ctx, dir, awake...)
			p.waitFor(t, "boot HIBERNATION")
			p.waitFor(t, "HIBERNATION -> WAKE (wake_signal)")
			require.Equal(t, tt.signal, slices.Contains(p.seen, "wake signal consumed"))
			_, err := os.Lstat(filepath.Join(dir, lifecycle.WakeSignalFile))
			require.ErrorIs(t, err, fs.ErrNotExist)
			p.signal(t, syscall.SIGTERM)
			p.waitFor(t, "stopped: terminated signal received")
			require.Equal(t, 0, p.exit(t))

			rec := loadState(t, dir)
			require.Equal(t, lifecycle.Wake, rec.CurrentState)
			require.Equal(t, int64(1), rec.WrapperEventSeq, "wake_signal is activity")
			require.Equal(t, "HIBERNATION->WAKE wake_signal", transitions(t, dir)[3])
		})
	}
}

func TestDaemonWakeSignalWhileRunning(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := hibernate(t, ctx, dir, "--shadow-run")
	p.waitFor(t, "shadow run: staying up in HIBERNATION")
	require.NoError(t, lifecycle.WriteWakeSignal(dir))
	p.waitFor(t, "wake signal consumed")
	p.waitFor(t, "HIBERNATION -> WAKE (wake_signal)")
	p.signal(t, syscall.SIGTERM)
	p.waitFor(t, "stopped: terminated signal received")
	require.Equal(t, 0, p.exit(t))
	loadState(t, dir)
}

// holdLock takes dir's lifecycle lock and holds it, inside Machine.Update
// as a process in the middle of a write would, until release is called.
func holdLock(t *testing.T, dir string) (release func()) {
	t.Helper()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	free := make(chan struct{})
	held := make(chan error, 1)
	locked := make(chan struct{})
	go func() {
		_, err := m.Update(func(*lifecycle.Record) error {
			close(locked)
			<-free
			return nil
		})
		held <- errors.Join(err, m.Close())
	}()
	select {
	case <-locked:
	case err := <-held:
		t.Fatalf("holding the lock: %v", err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			close(free)
			require.NoError(t, <-held)
		}
	}
	t.Cleanup(release)
	return release
}

// asleep leaves dir's machine in SLEEP, so that a daemon started there
// begins with its sleep cycle and its first locked call is the cycle's
// first progress record.
func asleep(t *testing.T, dir string) {
	t.Helper()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	st, err := m.Dispatch(lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Sleep, st)
	require.NoError(t, m.Close())
}

// inSleep is a sleep cycle whose progress records meet the lock at once.
var inSleep = []string{"--tick=1ms", "--drowsy-after=1h", "--sleep-after=2h", "--sleep-steps=3", "--sleep-step=1ms"}

func TestDaemonStopsCleanly(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		asleep bool   // the daemon starts in SLEEP
		at     string // the line after which the signal is sent
		sig    syscall.Signal
		holdLk bool // the test holds the lifecycle lock meanwhile
		want   lifecycle.State
	}{
		{"SIGTERM in WAKE", awake, false, "boot WAKE", syscall.SIGTERM, false, lifecycle.Wake},
		{"SIGINT in WAKE", awake, false, "boot WAKE", syscall.SIGINT, false, lifecycle.Wake},
		{"SIGHUP in WAKE", awake, false, "boot WAKE", syscall.SIGHUP, false, lifecycle.Wake},
		{"SIGHUP mid sleep cycle", endless, false, "sleep cycle started: ...", syscall.SIGHUP, false, lifecycle.Sleep},
		{"SIGTERM mid sleep cycle", endless, false, "sleep cycle started: ...", syscall.SIGTERM, false, lifecycle.Sleep},
		{"SIGINT mid sleep cycle", endless, false, "sleep cycle started: ...", syscall.SIGINT, false, lifecycle.Sleep},
		{"SIGTERM while the lock is busy", append(slices.Clone(awake), "--lock-wait=5ms"), false, "busy: ...", syscall.SIGTERM, true, lifecycle.Wake},
		// The cycle's first progress record waits for the held lock far
		// longer than the test runs: only the signal can end that wait.
		{"SIGTERM while a progress record waits for the lock", append(slices.Clone(inSleep), "--lock-wait=1h"), true,
			"sleep cycle started: attempt 1, step 0 of 3", syscall.SIGTERM, true, lifecycle.Sleep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			if tt.asleep {
				asleep(t, dir)
			}
			release := func() {}
			if tt.holdLk {
				release = holdLock(t, dir)
			}
			p := startDaemon(t, ctx, dir, tt.args...)
			p.waitFor(t, tt.at)
			p.signal(t, tt.sig)
			p.waitFor(t, "stopped: "+tt.sig.String()+" signal received")
			require.Equal(t, 0, p.exit(t))
			release()
			rec := loadState(t, dir)
			require.Equal(t, tt.want, rec.CurrentState)
		})
	}
}

// A progress record that cannot get the lock within --lock-wait is skipped,
// said so, and the cycle goes on; once the lock is free it completes.
func TestDaemonSleepCycleSkipsProgressWhileLocked(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	asleep(t, dir)
	release := holdLock(t, dir)
	p := startDaemon(t, ctx, dir, append(slices.Clone(inSleep), "--lock-wait=5ms")...)
	p.waitFor(t, "boot SLEEP")
	p.waitFor(t, "sleep cycle started: attempt 1, step 0 of 3")
	p.waitFor(t, "busy: sleep cycle progress not recorded, the lock is held elsewhere")
	release()
	p.waitFor(t, "SLEEP -> HIBERNATION (sleep_cycle_done)")
	p.waitFor(t, "exit: HIBERNATION")
	require.Equal(t, 0, p.exit(t))
	require.NotContains(t, p.stderr.String(), "level=ERROR", "a busy lock is not an error")

	rec := loadState(t, dir)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	require.Equal(t, []string{"WAKE->DROWSY idle_5min", "DROWSY->SLEEP idle_30min", "SLEEP->HIBERNATION sleep_cycle_done"},
		transitions(t, dir))
}

func TestDaemonRefusesCorruptState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	garbage := []byte(`{"current_state": "NAPPING"`)
	require.NoError(t, os.WriteFile(path, garbage, 0o600))
	var out, errb bytes.Buffer
	code := run([]string{"--dir=" + dir, "--tick=1ms"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, garbage, data, "the corrupt file is left for an operator")
}

func TestDaemonFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string // in stderr
		code int
	}{
		{"help", []string{"-h"}, "--dir", 0},
		{"no dir", nil, "--dir", exitUsage},
		{"zero tick", []string{"--dir=" + dir, "--tick=0"}, "--tick", exitUsage},
		{"negative drowsy", []string{"--dir=" + dir, "--drowsy-after=-1s"}, "--drowsy-after", exitUsage},
		{"zero sleep", []string{"--dir=" + dir, "--sleep-after=0s"}, "--sleep-after", exitUsage},
		{"no steps", []string{"--dir=" + dir, "--sleep-steps=0"}, "--sleep-steps", exitUsage},
		{"negative step", []string{"--dir=" + dir, "--sleep-step=-1ms"}, "--sleep-step", exitUsage},
		{"zero lock wait", []string{"--dir=" + dir, "--lock-wait=0"}, "--lock-wait", exitUsage},
		{"unknown flag", []string{"--dir=" + dir, "--nap"}, "nap", exitUsage},
		{"not a duration", []string{"--dir=" + dir, "--tick=soon"}, "tick", exitUsage},
		{"stray argument", []string{"--dir=" + dir, "extra"}, "extra", exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			require.Equal(t, tt.code, run(tt.args, &out, &errb))
			require.Contains(t, errb.String(), tt.want)
			require.Empty(t, out.String())
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a bad command line touches nothing")
}
