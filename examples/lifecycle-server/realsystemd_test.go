//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/internal/systemdtest"
	"github.com/stretchr/testify/require"
)

// The shipped units, and the names the test knows them by.
const (
	sdSocketUnit  = "lifecycle-server.socket"
	sdServiceUnit = "lifecycle-server.service"
)

// sdBudget bounds each subtest of TestServerUnderRealSystemd: a guard
// against a hang, not a timing assertion.
const sdBudget = 60 * time.Second

// The server's timings in the subtests (flags added to the shipped
// ExecStart by a drop-in).
const (
	// Stays awake: a test drives it.
	sdAwake = "--tick=10ms --drowsy-after=1h"
	// Hibernates about half a second after its last request.
	sdCycle = "--tick=5ms --drowsy-after=100ms --sleep-after=200ms --sleep-steps=2 --sleep-step=10ms"
	// The project's fast test timings: a wake-up and a hibernation in
	// about a tenth of a second.
	sdFast = "--tick=2ms --drowsy-after=30ms --sleep-after=60ms --sleep-steps=2 --sleep-step=2ms"
)

// TestServerUnderRealSystemd runs the shipped units, byte for byte, under a
// real systemd (PID 1 of namespaces of its own: internal/systemdtest); its
// drop-ins change only the server's timings (ExecStart's flags,
// WatchdogSec) and where its output goes. It needs root and systemd's
// binaries; .ci/run runs it without the race detector (the server it
// tests is a binary of its own, built without it).
func TestServerUnderRealSystemd(t *testing.T) {
	if err := systemdtest.Available(); err != nil {
		t.Skipf("no real systemd for this test: %v", err)
	}
	if sdRaceEnabled() {
		t.Skip("the server under test is built without the race detector, so -race would only slow this " +
			"test down; run it without -race (.ci/run has a step for it)")
	}
	bin := sdBuildServer(t)

	t.Run("verify", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Skipf("systemd-analyze is missing (it is in the systemd package): %v", err)
		}
		s := sdBoot(t, bin, sdAwake, "")
		// The shipped files alone, in a directory of their own (the
		// manager's has drop-ins), with %h/... resolving to the built
		// server.
		clean := t.TempDir()
		for _, name := range []string{sdSocketUnit, sdServiceUnit} {
			require.NoError(t, systemdtest.CopyUnit(clean, filepath.Join("systemd", name)))
		}
		out, err := s.m.Exec(sdContext(t), []string{"HOME=" + s.m.Home()}, "systemd-analyze", "verify",
			filepath.Join(clean, sdSocketUnit), filepath.Join(clean, sdServiceUnit))
		require.NoError(t, err)
		require.Empty(t, out, "systemd-analyze verify has something to say about the shipped units")
	})

	t.Run("activation and READY/STATUS", func(t *testing.T) {
		s := sdBoot(t, bin, sdAwake, "", withLogLevel("debug"))
		ctx := sdContext(t)
		require.Equal(t, map[string]string{"ActiveState": "active", "SubState": "listening"},
			s.m.Show(sdSocketUnit, "ActiveState", "SubState"))
		require.Equal(t, "inactive", s.m.Show(sdServiceUnit, "ActiveState")["ActiveState"], "nothing runs before a client comes")
		_, err := os.Stat(s.dir)
		require.ErrorIs(t, err, os.ErrNotExist, "nothing has run before a client comes")

		answer, err := s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		// Type=notify: active only once READY=1 came.
		svc := s.m.Show(sdServiceUnit, "ActiveState", "SubState", "StatusText", "NRestarts", "MainPID")
		pid := svc["MainPID"]
		require.NotEqual(t, "0", pid)
		delete(svc, "MainPID")
		require.Equal(t, map[string]string{"ActiveState": "active", "SubState": "running", "StatusText": "WAKE", "NRestarts": "0"}, svc)
		s.requireNotified(ctx, pid, "READY=1", "STATUS=WAKE")

		answer, err = s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		require.Equal(t, pid, s.m.Show(sdServiceUnit, "MainPID")["MainPID"], "the running server answers")

		s.m.Ctl("stop", sdServiceUnit)
		s.requireNotified(ctx, pid, "STOPPING=1")
		require.Equal(t, map[string]string{"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"},
			s.m.Show(sdServiceUnit, "ActiveState", "Result", "ExecMainStatus"))
	})

	t.Run("idle: HIBERNATION, exit 0, socket listening", func(t *testing.T) {
		s := sdBoot(t, bin, sdCycle, "")
		ctx := sdContext(t)
		answer, err := s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"ActiveState": "inactive"})
		require.Equal(t, map[string]string{"Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0",
			"StatusText": "HIBERNATION", "NRestarts": "0", "MainPID": "0"},
			s.m.Show(sdServiceUnit, "Result", "ExecMainCode", "ExecMainStatus", "StatusText", "NRestarts", "MainPID"),
			"exited 0 (ExecMainCode 1 is CLD_EXITED) after STATUS=HIBERNATION")
		s.requireListening()
		require.Equal(t, lifecycle.Hibernation, s.record().CurrentState)
		require.Equal(t, []string{"WAKE->DROWSY", "DROWSY->SLEEP", "SLEEP->HIBERNATION"}, s.transitions())

		// The socket starts it again on the next client, which wakes it.
		answer, err = s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		trs := s.transitions()
		require.GreaterOrEqual(t, len(trs), 4)
		require.Equal(t, "HIBERNATION->WAKE", trs[3])
	})

	t.Run("wake cycles with a burst at the exit moment", func(t *testing.T) {
		s := sdBoot(t, bin, sdCycle, "")
		ctx := sdContext(t)
		// Each cycle: clients that wake the server (or are served by the
		// one the last burst started), then a burst the moment the server
		// decides to hibernate, its clients' threads ready to connect.
		const cycles, waking, atExit = 4, 50, 100
		var all sdTally
		for cycle := 1; cycle <= cycles; cycle++ {
			require.NoError(t, all.burst(ctx, s, waking, nil))
			err := all.burst(ctx, s, atExit, func() error {
				_, err := s.log.WaitCount(ctx, sdDecision, cycle)
				return err
			})
			require.NoError(t, err, "cycle %d", cycle)
		}
		s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"ActiveState": "inactive"})
		clients := waking + atExit
		t.Logf("%d clients over %d cycles, %d each at the exit moment: answered %v, refused %d, unanswered %d",
			cycles*clients, cycles, atExit, all.answers, all.refused, len(all.unanswered))
		hibernations := 0
		for _, tr := range s.transitions() {
			if strings.HasSuffix(tr, "->HIBERNATION") {
				hibernations++
			}
		}
		require.GreaterOrEqual(t, hibernations, cycles)
		require.Zero(t, all.refused, "clients refused")
		require.Empty(t, all.unanswered, "clients unanswered")
		require.Zero(t, all.answers["HIBERNATION"], "clients answered HIBERNATION by a server on its way out")
		require.Equal(t, cycles*clients, all.answers["WAKE"])
		require.Equal(t, map[string]string{"Result": "success", "NRestarts": "0"}, s.m.Show(sdServiceUnit, "Result", "NRestarts"))
		s.requireListening()
	})

	t.Run("SIGTERM in WAKE", func(t *testing.T) {
		// A tick far longer than the test: the request is recorded on the
		// way out, or not at all.
		s := sdBoot(t, bin, "--tick=5s --drowsy-after=1h", "")
		ctx := sdContext(t)
		answer, err := s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		s.m.Ctl("kill", "--kill-whom=main", "--signal=SIGTERM", sdServiceUnit)
		s.requireStoppedCleanly(ctx)
		require.Equal(t, lifecycle.Wake, s.record().CurrentState)
		require.Positive(t, s.record().WrapperEventSeq,
			"the request served in WAKE since the last tick is recorded (wrapper_event_seq) when the server stops")
		s.requireWakesAgain(ctx)
	})

	t.Run("SIGTERM mid-SLEEP", func(t *testing.T) {
		// A sleep step that takes an hour: the signal comes in the middle
		// of it, and the server stops only if it ends the step.
		s := sdBoot(t, bin, "--tick=5ms --drowsy-after=100ms --sleep-after=200ms --sleep-steps=2 --sleep-step=1h", "")
		ctx := sdContext(t)
		answer, err := s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		_, err = s.log.WaitCount(ctx, "sleep cycle started", 1)
		require.NoError(t, err)
		s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"StatusText": "SLEEP"})
		s.m.Ctl("kill", "--kill-whom=main", "--signal=SIGTERM", sdServiceUnit)
		s.requireStoppedCleanly(ctx)
		require.Equal(t, lifecycle.Sleep, s.record().CurrentState, "a cycle cut short does not hibernate")
		s.requireWakesAgain(ctx)
	})

	t.Run("watchdog on SIGSTOP", func(t *testing.T) {
		s := sdBoot(t, bin, sdAwake, "WatchdogSec=1s\n")
		ctx := sdContext(t)
		answer, err := s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		before := s.m.Show(sdServiceUnit, "MainPID", "NRestarts")
		// Three intervals of a healthy server: its pings keep it.
		time.Sleep(3 * time.Second)
		require.Equal(t, before, s.m.Show(sdServiceUnit, "MainPID", "NRestarts"), "a healthy server is left alone")
		require.Zero(t, s.m.Console().Count("Watchdog timeout"))

		s.m.Ctl("kill", "--kill-whom=main", "--signal=SIGSTOP", sdServiceUnit)
		_, err = s.m.Console().WaitCount(ctx, sdServiceUnit+": Watchdog timeout", 1)
		require.NoError(t, err)
		_, err = s.m.Console().WaitCount(ctx, sdServiceUnit+": Failed with result 'watchdog'", 1)
		require.NoError(t, err)
		after := s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"ActiveState": "active", "SubState": "running", "NRestarts": "1"})
		require.NotEqual(t, before["MainPID"], s.m.Show(sdServiceUnit, "MainPID")["MainPID"], "restarted: %v", after)
		answer, err = s.ask(ctx)
		require.NoError(t, err)
		require.Equal(t, "WAKE", answer)
		// The killed server's exit tells a watchdog kill from a bad
		// command line: the watchdog's SIGABRT ends it through the Go
		// runtime (exit 2, stacks on stderr), a code no other outcome has.
		exited, err := s.m.Console().WaitCount(ctx, sdServiceUnit+": Main process exited", 1)
		require.NoError(t, err)
		require.Contains(t, exited, "code=exited, status=2/", "a watchdog kill ends through the runtime's SIGABRT")
		require.NotEqual(t, 2, exitUsage, "a bad command line has an exit code of its own")
	})

	t.Run("exit 3: another daemon holds the directory", func(t *testing.T) {
		s := sdBoot(t, bin, sdAwake, "")
		ctx := sdContext(t)
		// The other daemon: the same server, started by hand (outside
		// the manager) on the same directory.
		holder := exec.Command(bin, "--dir="+s.dir, "--listen=unix:"+filepath.Join(t.TempDir(), "holder.sock"), "--drowsy-after=1h")
		holderLog, err := os.Create(filepath.Join(t.TempDir(), "holder.log"))
		require.NoError(t, err)
		holderOut := systemdtest.FollowFile(holderLog.Name())
		holder.Stdout, holder.Stderr = holderLog, holderLog
		require.NoError(t, holder.Start())
		require.NoError(t, holderLog.Close())
		holderDone := make(chan error, 1)
		go func() { holderDone <- holder.Wait() }()
		t.Cleanup(func() {
			_ = holder.Process.Kill() // it may have exited
			<-holderDone
			if t.Failed() {
				t.Logf("the other daemon's output:\n%s", holderOut)
			}
		})
		_, err = holderOut.WaitCount(ctx, "listening on", 1)
		require.NoError(t, err)

		// A client comes while the other daemon runs. It is waited for
		// before the manager stops, and told to give up first.
		first := make(chan sdResult, 1)
		clientCtx, cancelClient := context.WithCancel(ctx)
		var client sync.WaitGroup
		t.Cleanup(func() {
			cancelClient()
			client.Wait()
		})
		client.Go(func() {
			answer, err := s.ask(clientCtx)
			first <- sdResult{answer, err}
		})
		// Long enough for systemd's start limit (5 starts in 10 s) to
		// catch a server that exits at once and is started again by the
		// connection still queued.
		watch := time.Now().Add(3 * time.Second)
		for time.Now().Before(watch) {
			sock := s.m.Show(sdSocketUnit, "ActiveState", "Result")
			require.NotEqual(t, "failed", sock["ActiveState"], "%s failed while another daemon held the directory: %v",
				sdSocketUnit, sock)
			time.Sleep(100 * time.Millisecond)
		}

		require.NoError(t, holder.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-holderDone:
			holderDone <- err // for the cleanup
			require.NoError(t, err, "the other daemon stopped")
		case <-ctx.Done():
			t.Fatal("the other daemon did not stop on SIGTERM")
		}
		// No operator action: the next client is answered.
		answer, err := s.ask(ctx)
		require.NoError(t, err, "a client once the other daemon is gone; %s: %v", sdSocketUnit,
			s.m.Show(sdSocketUnit, "ActiveState", "Result"))
		require.Equal(t, "WAKE", answer)
		select {
		case r := <-first:
			require.NoError(t, r.err, "the client that came while the other daemon ran gets an answer")
			require.NotEmpty(t, r.answer)
		case <-ctx.Done():
			t.Fatal("the client that came while the other daemon ran is still waiting")
		}
		// The server that waited serves on: the socket is handed to it
		// (running), not failed.
		sock := s.m.Show(sdSocketUnit, "ActiveState", "SubState", "Result")
		require.Equal(t, "active", sock["ActiveState"], "%v", sock)
		require.Equal(t, "success", sock["Result"], "%v", sock)
		require.Contains(t, []string{"listening", "running"}, sock["SubState"], "%v", sock)
	})

	t.Run("8 fast wakes", func(t *testing.T) {
		s := sdBoot(t, bin, sdFast, "")
		ctx := sdContext(t)
		var failed []string
		for wake := 1; wake <= 8; wake++ {
			answer, err := s.ask(ctx)
			if err != nil || answer != "WAKE" {
				failed = append(failed, fmt.Sprintf("wake %d: answer %q, %v", wake, answer, err))
				continue
			}
			s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"ActiveState": "inactive"})
		}
		require.Empty(t, failed, "%s: %v", sdSocketUnit, s.m.Show(sdSocketUnit, "ActiveState", "Result"))
		s.requireListening()
	})
}

// sdDecision is the server's line at the moment it decides to hibernate
// (package daemon's narration): sleep_cycle_done is being dispatched, with
// still_idle true, and is about to be made durable.
const sdDecision = "sleep cycle done: still_idle=true"

// sdServer is the shipped units under a manager of their own.
type sdServer struct {
	t    *testing.T
	m    *systemdtest.Manager
	dir  string             // the lifecycle directory (--dir)
	addr string             // the socket's ListenStream
	log  *systemdtest.Lines // the server's stdout and stderr
}

type sdOption func(*systemdtest.Config)

func withLogLevel(level string) sdOption { return func(c *systemdtest.Config) { c.LogLevel = level } }

// sdBoot starts a manager with the shipped units and a drop-in that runs
// the server at bin with flags added to the shipped command line, writes
// its output to a file, and adds extra to [Service]; then it starts the
// socket unit.
func sdBoot(t *testing.T, bin, flags, extra string, opts ...sdOption) *sdServer {
	t.Helper()
	units, home := t.TempDir(), t.TempDir()
	require.NoError(t, systemdtest.CopyStockTargets(units))
	for _, name := range []string{sdSocketUnit, sdServiceUnit} {
		require.NoError(t, systemdtest.CopyUnit(units, filepath.Join("systemd", name)))
	}
	execStart := sdUnitValue(t, sdServiceUnit, "ExecStart")
	args := strings.Fields(execStart)
	// The shipped command names the installed server by %h: the built one
	// is put there.
	installed, ok := strings.CutPrefix(args[0], "%h/")
	require.True(t, ok, "the shipped ExecStart %q does not start with %%h/", execStart)
	installed = filepath.Join(home, installed)
	require.NoError(t, os.MkdirAll(filepath.Dir(installed), 0o755))
	require.NoError(t, os.Link(bin, installed))
	s := &sdServer{t: t, addr: sdUnitValue(t, sdSocketUnit, "ListenStream")}
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--dir="); ok {
			s.dir = v
		} else if a == "--dir" && i+1 < len(args) {
			s.dir = args[i+1]
		}
	}
	require.NotEmpty(t, s.dir, "the shipped ExecStart %q has no --dir", execStart)
	s.dir = strings.ReplaceAll(s.dir, "%h", home)

	logPath := filepath.Join(t.TempDir(), "server.log")
	s.log = systemdtest.FollowFile(logPath)
	require.NoError(t, systemdtest.WriteDropIn(units, sdServiceUnit, "test",
		"[Service]\nExecStart=\nExecStart="+execStart+" "+flags+"\n"+
			"StandardOutput=append:"+logPath+"\nStandardError=append:"+logPath+"\n"+extra))
	cfg := systemdtest.Config{UnitDir: units, Home: home}
	for _, o := range opts {
		o(&cfg)
	}
	s.m = systemdtest.Start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's output:\n%s", s.log)
		}
	})
	s.m.Ctl("start", sdSocketUnit)
	return s
}

// sdUnitValue is the one value of key in the shipped unit name.
func sdUnitValue(t *testing.T, name, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("systemd", name))
	require.NoError(t, err)
	var vals []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			vals = append(vals, strings.TrimSpace(v))
		}
	}
	require.Len(t, vals, 1, "%s=%v in %s", key, vals, name)
	return vals[0]
}

// sdBuildServer builds this package's server.
func sdBuildServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the server with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "server")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// sdRaceEnabled reports whether this test binary was built with -race.
func sdRaceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "-race" && s.Value == "true"
	})
}

func sdContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), sdBudget)
	t.Cleanup(cancel)
	return ctx
}

// sdClientTimeout bounds one client's wait for its answer.
const sdClientTimeout = 20 * time.Second

// errSdRefused marks a client whose connection failed.
var errSdRefused = errors.New("refused")

// ask is one client: it connects to the socket, sends one line and
// returns the answer without its newline. A connection that fails wraps
// errSdRefused; any other error is a client left unanswered.
func (s *sdServer) ask(ctx context.Context) (string, error) { return s.askAt(ctx, nil, nil) }

// askAt is ask connecting once start is closed: its thread is in the
// manager's network namespace when it calls armed.Done.
func (s *sdServer) askAt(ctx context.Context, armed *sync.WaitGroup, start <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, sdClientTimeout)
	defer cancel()
	var (
		c    net.Conn
		err  error
		ran  bool
		dial net.Dialer
	)
	if nserr := s.m.InNetns(func() {
		ran = true
		if armed != nil {
			armed.Done()
			<-start
		}
		c, err = dial.DialContext(ctx, "tcp", s.addr)
	}); nserr != nil {
		if !ran && armed != nil {
			armed.Done()
		}
		return "", nserr
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", errSdRefused, err)
	}
	defer func() { _ = c.Close() }() // nothing to lose: the answer is read
	dl, _ := ctx.Deadline()
	if err := c.SetDeadline(dl); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", fmt.Errorf("unanswered: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("unanswered: %w", err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

type sdResult struct {
	answer string
	err    error
}

// sdTally counts clients' outcomes.
type sdTally struct {
	mu         sync.Mutex
	answers    map[string]int
	refused    int
	unanswered []error
}

// burst sends n clients at once, when at (if not nil) returns, and waits
// for them all. An error from at is returned, the clients sent all the
// same.
func (c *sdTally) burst(ctx context.Context, s *sdServer, n int, at func() error) error {
	var armed, wg sync.WaitGroup
	start := make(chan struct{})
	armed.Add(n)
	for range n {
		wg.Go(func() {
			answer, err := s.askAt(ctx, &armed, start)
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case err == nil:
				if c.answers == nil {
					c.answers = map[string]int{}
				}
				c.answers[answer]++
			case errors.Is(err, errSdRefused):
				c.refused++
			default:
				c.unanswered = append(c.unanswered, err)
			}
		})
	}
	armed.Wait()
	var err error
	if at != nil {
		err = at()
	}
	close(start)
	wg.Wait()
	return err
}

// requireNotified waits for the manager's debug log to show a notification
// from pid carrying every one of fields.
func (s *sdServer) requireNotified(ctx context.Context, pid string, fields ...string) {
	s.t.Helper()
	prefix := sdServiceUnit + ": Got notification message from PID " + pid + " ("
	for {
		for _, line := range s.m.Console().All() {
			_, msg, ok := strings.Cut(line, prefix)
			if !ok {
				continue
			}
			got := strings.Split(strings.TrimSuffix(msg, ")"), ", ")
			if !slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(got, f) }) {
				return
			}
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("no notification from PID %s with %v", pid, fields)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// requireListening checks that the socket unit still listens.
func (s *sdServer) requireListening() {
	s.t.Helper()
	require.Equal(s.t, map[string]string{"ActiveState": "active", "SubState": "listening", "Result": "success"},
		s.m.Show(sdSocketUnit, "ActiveState", "SubState", "Result"))
}

// requireStoppedCleanly waits for the service to end after a stop signal:
// exit 0, not restarted, the socket still listening.
func (s *sdServer) requireStoppedCleanly(ctx context.Context) {
	s.t.Helper()
	s.m.WaitShow(ctx, sdServiceUnit, map[string]string{"ActiveState": "inactive"})
	require.Equal(s.t, map[string]string{"Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0", "NRestarts": "0"},
		s.m.Show(sdServiceUnit, "Result", "ExecMainCode", "ExecMainStatus", "NRestarts"))
	_, err := s.log.WaitCount(ctx, "stopped: ", 1)
	require.NoError(s.t, err)
	s.requireListening()
}

// requireWakesAgain checks that the next client starts a server that
// answers it.
func (s *sdServer) requireWakesAgain(ctx context.Context) {
	s.t.Helper()
	answer, err := s.ask(ctx)
	require.NoError(s.t, err)
	require.Equal(s.t, "WAKE", answer)
	require.Equal(s.t, "active", s.m.Show(sdServiceUnit, "ActiveState")["ActiveState"])
}

// record is the state file as it is now.
func (s *sdServer) record() lifecycle.Record {
	s.t.Helper()
	rec, err := lifecycle.LoadState(filepath.Join(s.dir, lifecycle.DefaultStateFile))
	require.NoError(s.t, err)
	return rec
}

// transitions are the audit log's transitions, "FROM->TO", in order.
func (s *sdServer) transitions() []string {
	s.t.Helper()
	var trs []string
	_, err := lifecycle.ReadLog(filepath.Join(s.dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var tr struct{ From, To string }
			if err := json.Unmarshal(e.Raw, &tr); err != nil {
				return fmt.Errorf("%s at %d: %w", e.File, e.Offset, err)
			}
			trs = append(trs, tr.From+"->"+tr.To)
			return nil
		})
	require.NoError(s.t, err)
	return trs
}
