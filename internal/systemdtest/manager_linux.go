package systemdtest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

//go:embed boot.sh
var bootScript []byte

// Config is what a manager is started with.
type Config struct {
	// UnitDir is the one directory the manager loads units from
	// (SYSTEMD_UNIT_PATH): copy the stock targets (CopyStockTargets) and
	// the units under test into it. Required.
	UnitDir string
	// Home is the manager's HOME, which is %h in its units. Default: a new
	// temporary directory.
	Home string
	// LogLevel of the manager's console log (systemd's --log-level).
	// Default: info.
	LogLevel string
	// BootTimeout bounds the boot, up to a running manager. Default 30 s.
	BootTimeout time.Duration
}

// Manager is a running systemd, PID 1 of its own namespaces.
type Manager struct {
	t       testing.TB
	pid     int // the namespace's PID 1, as this process sees it
	home    string
	cgroup  string // the child cgroup, the manager's root
	console *console
	netns   *os.File // the manager's network namespace
	hostNet *os.File // this process's
	unshare *exec.Cmd
	exited  chan struct{} // closed when unshare has been waited for
	waitErr error         // unshare's, once exited is closed
}

// cgroupSeq names this process's child cgroups apart.
var cgroupSeq atomic.Int64

// Start boots a manager with cfg and stops it when the test ends: SIGKILL
// to its PID 1, which ends every process of its namespaces, then the
// cgroup is removed. Where a manager cannot run (Available), the test is
// skipped, saying why. A manager that does not come up fails the test,
// with its console log.
func Start(t testing.TB, cfg Config) *Manager {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no real systemd for this test: %v", err)
	}
	if cfg.UnitDir == "" {
		t.Fatal("systemdtest.Start: Config.UnitDir is required")
	}
	if cfg.Home == "" {
		cfg.Home = t.TempDir()
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.BootTimeout <= 0 {
		cfg.BootTimeout = 30 * time.Second
	}
	m := &Manager{t: t, home: cfg.Home, exited: make(chan struct{})}
	t.Cleanup(m.stop)
	if err := m.boot(cfg); err != nil {
		t.Fatalf("systemd did not boot: %v\nconsole:\n%s", err, m.consoleText())
	}
	return m
}

// boot starts the namespaces and the manager in them, and waits for it to
// run.
func (m *Manager) boot(cfg Config) error {
	parent, err := cgroupParent()
	if err != nil {
		return err
	}
	removeStaleCgroups(parent)
	m.cgroup = filepath.Join(parent, fmt.Sprintf("%s%d.%d", cgroupPrefix, os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(m.cgroup, 0o755); err != nil {
		m.cgroup = ""
		return fmt.Errorf("cannot make a child cgroup: %w", err)
	}
	if m.console, err = openConsole(); err != nil {
		return err
	}
	state := m.t.TempDir() // the boot script and its staging directory
	script := filepath.Join(state, "boot.sh")
	if err := os.WriteFile(script, bootScript, 0o600); err != nil {
		return err
	}
	noGenerators := filepath.Join(state, "no-generators")
	if err := os.Mkdir(noGenerators, 0o700); err != nil {
		return err
	}
	m.unshare = exec.Command("unshare", "--pid", "--fork", "--mount", "--net", "--uts", "--ipc",
		"--mount-proc", "--propagation=private", "--kill-child=SIGKILL",
		"sh", script, "enter", m.cgroup, state, m.console.path, SystemdBinary,
		"--log-target=console", "--log-level="+cfg.LogLevel, "--log-color=no", "--show-status=no")
	m.unshare.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"container=systemdtest", // a container manager: no kernel modules, no hardware
		"SYSTEMD_UNIT_PATH=" + cfg.UnitDir,
		"SYSTEMD_GENERATOR_PATH=" + noGenerators,
		"SYSTEMD_ENVIRONMENT_GENERATOR_PATH=" + noGenerators,
		"SYSTEMD_COLORS=0",
		"HOME=" + cfg.Home,
		"LANG=C.UTF-8",
	}
	// Until the manager runs, the boot's own errors are all there is.
	m.unshare.Stdout, m.unshare.Stderr = m.console.terminal, m.console.terminal
	if err := m.startUnshare(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BootTimeout)
	defer cancel()
	if m.pid, err = m.findPID1(ctx); err != nil {
		return err
	}
	if m.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", m.pid)); err != nil {
		return err
	}
	if m.hostNet, err = os.Open("/proc/self/ns/net"); err != nil {
		return err
	}
	return m.waitRunning(ctx)
}

// startUnshare starts unshare from a goroutine locked to its thread for
// unshare's lifetime: unshare dies with that thread (Pdeathsig), and its
// child, the namespace's PID 1, dies with unshare (--kill-child), so a
// test binary that dies leaves no manager behind.
func (m *Manager) startUnshare() error {
	m.unshare.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := m.unshare.Start()
		started <- err
		if err != nil {
			close(m.exited)
			return
		}
		m.waitErr = m.unshare.Wait()
		close(m.exited)
	}()
	return <-started
}

// findPID1 finds unshare's child: the namespace's PID 1.
func (m *Manager) findPID1(ctx context.Context) (int, error) {
	parent := strconv.Itoa(m.unshare.Process.Pid)
	for {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue // gone
			}
			// pid (comm) state ppid ...: comm may hold spaces and parentheses.
			i := bytes.LastIndexByte(stat, ')')
			if f := strings.Fields(string(stat[i+1:])); i >= 0 && len(f) > 1 && f[1] == parent {
				return pid, nil
			}
		}
		select {
		case <-m.exited:
			return 0, fmt.Errorf("unshare exited: %v", m.waitErr)
		case <-ctx.Done():
			return 0, fmt.Errorf("unshare started no process: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitRunning waits for the manager to answer and have finished starting
// up.
func (m *Manager) waitRunning(ctx context.Context) error {
	var last string
	for {
		out, err := m.Systemctl(ctx, "is-system-running")
		last = strings.TrimSpace(out)
		switch {
		case last == "running":
			return nil
		case last == "degraded":
			failed, _ := m.Systemctl(ctx, "list-units", "--failed", "--plain")
			m.t.Logf("systemdtest: the manager is degraded:\n%s", failed)
			return nil
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("not running within the boot timeout; systemctl is-system-running: %q, %v", last, err)
		}
		select {
		case <-m.exited:
			return fmt.Errorf("the manager exited: %v", m.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not running within the boot timeout; systemctl is-system-running: %q", last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// PID is the manager's PID as this process sees it: PID 1 of its own
// namespaces.
func (m *Manager) PID() int { return m.pid }

// Home is the manager's HOME: %h in its units.
func (m *Manager) Home() string { return m.home }

// Console is the manager's log, from its /dev/console.
func (m *Manager) Console() *Lines { return &m.console.log }

func (m *Manager) consoleText() string {
	if m.console == nil {
		return ""
	}
	return m.console.log.String()
}

// commandTimeout bounds each command run in the manager's namespaces.
const commandTimeout = 30 * time.Second

// Exec runs a command in every namespace of the manager (nsenter -a),
// with env added to this process's environment, and returns its output,
// stdout then stderr. ctx and a 30 s bound end it.
func (m *Manager) Exec(ctx context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(m.pid), "-a", name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String() + stderr.String()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return out, nil
}

// Systemctl runs systemctl against the manager, over its private socket.
func (m *Manager) Systemctl(ctx context.Context, args ...string) (string, error) {
	return m.Exec(ctx, []string{"SYSTEMD_COLORS=0", "SYSTEMD_PAGER="}, "systemctl", append([]string{"--no-pager"}, args...)...)
}

// Ctl runs systemctl and fails the test if it fails; it returns the output
// without its trailing newline.
func (m *Manager) Ctl(args ...string) string {
	m.t.Helper()
	out, err := m.Systemctl(context.Background(), args...)
	if err != nil {
		m.t.Fatalf("%v", err)
	}
	return strings.TrimRight(out, "\n")
}

// Show returns unit's properties (systemctl show -p).
func (m *Manager) Show(unit string, props ...string) map[string]string {
	m.t.Helper()
	out := m.Ctl("show", unit, "-p", strings.Join(props, ","))
	vals := make(map[string]string, len(props))
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[k] = v
		}
	}
	return vals
}

// WaitShow waits until unit's properties have the values in want, and
// returns them; a timeout fails the test, with the values last seen.
func (m *Manager) WaitShow(ctx context.Context, unit string, want map[string]string) map[string]string {
	m.t.Helper()
	props := make([]string, 0, len(want))
	for k := range want {
		props = append(props, k)
	}
	for {
		got := m.Show(unit, props...)
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return got
		}
		select {
		case <-ctx.Done():
			m.t.Fatalf("%s: waiting for %v, last seen %v: %v", unit, want, got, context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop kills the manager and everything in its namespaces, and removes its
// cgroup.
func (m *Manager) stop() {
	if m.pid > 0 {
		// Every process of a PID namespace dies with its PID 1.
		if err := syscall.Kill(m.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			m.t.Errorf("systemdtest: killing the manager (pid %d): %v", m.pid, err)
		}
	}
	if m.unshare != nil && m.unshare.Process != nil {
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			m.t.Errorf("systemdtest: unshare (pid %d) still runs 10 s after its child was killed; killing it", m.unshare.Process.Pid)
			_ = m.unshare.Process.Kill() // its --kill-child ends the rest
			<-m.exited
		}
	}
	if m.cgroup != "" {
		if err := removeCgroup(m.cgroup, 10*time.Second); err != nil {
			m.t.Errorf("systemdtest: %v", err)
		}
	}
	for _, f := range []*os.File{m.netns, m.hostNet} {
		if f != nil {
			if err := f.Close(); err != nil {
				m.t.Errorf("systemdtest: %v", err)
			}
		}
	}
	if m.console != nil {
		if err := m.console.close(); err != nil {
			m.t.Errorf("systemdtest: closing the console: %v", err)
		}
		if m.t.Failed() {
			m.t.Logf("systemd's console:\n%s", m.console.log.String())
		}
	}
}
