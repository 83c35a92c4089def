package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// systemdUserOptIn runs TestServerUnderSystemdUser on a machine booted with
// systemd. It is opt-in: the private user manager the test starts runs in
// the test's own cgroup, and as root on a machine whose cgroups it cannot
// delegate it may take other processes of that cgroup along.
const systemdUserOptIn = "LIFECYCLE_TEST_SYSTEMD_USER"

// The shipped units, run by a real user manager under a private
// XDG_RUNTIME_DIR: the first connection starts the server through the
// socket unit, the server hibernates and exits 0, and the next connection
// starts it again, which wakes it. The test changes only the socket's
// address and the server's command (drop-ins); Type=notify, WatchdogSec and
// Restart are the shipped ones.
func TestServerUnderSystemdUser(t *testing.T) {
	systemd, err := exec.LookPath("systemd")
	if err != nil {
		t.Skipf("no systemd binary: %v", err)
	}
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		t.Skipf("no systemctl binary: %v", err)
	}
	ctx := testContext(t)
	base := shortTempDir(t)
	rt, cfg := filepath.Join(base, "rt"), filepath.Join(base, "cfg")
	require.NoError(t, os.Mkdir(rt, 0o700))
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "XDG_CONFIG_HOME="+cfg, "DBUS_SESSION_BUS_ADDRESS=")

	if _, err := os.Stat("/run/systemd/system"); err != nil {
		// systemd refuses a user instance here; run it to show it does.
		cmd := exec.CommandContext(ctx, systemd, "--user")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		pid1, _ := os.ReadFile("/proc/1/comm") // for the message only
		t.Skipf("systemd --user cannot run here: it exited at once (%v; output %q), because PID 1 (%s) is not "+
			"systemd and /run/systemd/system is missing: systemd then refuses a user instance with "+
			"\"Trying to run as user instance, but the system has not been booted with systemd.\", which it "+
			"writes to /dev/console. Faking that directory in a private mount namespace does start it, but "+
			"at the root cgroup the manager then moves every process of the machine into its own "+
			"init.scope, so this test does not; TestServerWakeCycles's supervisor is the proof.",
			err, strings.TrimSpace(string(out)), strings.TrimSpace(string(pid1)))
	}
	if os.Getenv(systemdUserOptIn) != "1" {
		t.Skipf("set %s=1 to start a private systemd --user manager for this test "+
			"(it runs in this test's cgroup)", systemdUserOptIn)
	}

	units := filepath.Join(cfg, "systemd", "user")
	dir := t.TempDir()
	sock := filepath.Join(base, "s.sock")
	for name, dropIn := range map[string]string{
		"lifecycle-server.socket": "[Socket]\nListenStream=\nListenStream=" + sock + "\n",
		"lifecycle-server.service": "[Service]\nExecStart=\nExecStart=" + os.Args[0] + " --dir=" + dir +
			" --tick=5ms --drowsy-after=100ms --sleep-after=200ms --sleep-steps=2 --sleep-step=5ms\n" +
			"Environment=" + serverEnv + "=1 \"GORACE=atexit_sleep_ms=0\"\n",
	} {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(units, name+".d"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(units, name), data, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(units, name+".d", "test.conf"), []byte(dropIn), 0o600))
	}

	manager := exec.Command(systemd, "--user")
	manager.Env = env
	var managerOut bytes.Buffer
	manager.Stdout, manager.Stderr = &managerOut, &managerOut
	require.NoError(t, manager.Start())
	exited := make(chan error, 1)
	go func() { exited <- manager.Wait() }()
	t.Cleanup(func() {
		_ = manager.Process.Signal(os.Interrupt) // SIGINT: a user manager exits on it
		select {
		case <-exited:
		case <-time.After(overall):
			_ = manager.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("systemd --user:\n%s", &managerOut)
		}
	})
	ctl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, systemctl, append([]string{"--user"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "systemctl --user %s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	// The manager's control socket appears once it runs: an external
	// process, so it is polled.
	for {
		if _, err := os.Stat(filepath.Join(rt, "systemd", "private")); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Skipf("systemd --user did not start: %v: %s", err, &managerOut)
		case <-ctx.Done():
			t.Fatalf("systemd --user not ready within %v", overall)
		case <-time.After(10 * time.Millisecond):
		}
	}
	ctl("start", "lifecycle-server.socket")
	waitInactive := func() {
		for ctl("show", "-P", "ActiveState", "lifecycle-server.service") != "inactive" {
			select {
			case <-ctx.Done():
				t.Fatalf("the server did not hibernate within %v", overall)
			case <-time.After(20 * time.Millisecond):
			}
		}
		require.Equal(t, "success", ctl("show", "-P", "Result", "lifecycle-server.service"))
	}
	for round := range 2 {
		answer, err := ask(ctx, "unix", sock)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, "WAKE", answer)
		waitInactive()
	}
	var wakes int
	for _, tr := range transitionLines(t, dir) {
		if tr.String() == "HIBERNATION->WAKE wake_signal" {
			wakes++
		}
	}
	require.Equal(t, 1, wakes)
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
}
