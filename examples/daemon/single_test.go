package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// A second daemon on a directory whose daemon still runs exits 3 at once,
// naming the first one's pid, and touches nothing: the first is in
// HIBERNATION, which a daemon that got past the daemon lock would wake.
func TestDaemonSecondOnSameDirRefused(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	first := hibernate(t, ctx, dir, "--shadow-run")
	first.waitFor(t, "shadow run: staying up in HIBERNATION")
	statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
	before, err := os.ReadFile(statePath)
	require.NoError(t, err)

	second := startDaemon(t, ctx, dir, awake...)
	require.Equal(t, exitRunning, second.exit(t))
	require.Empty(t, second.seen, "a refused daemon does not boot")
	msg := second.stderr.String()
	require.Contains(t, msg, "another daemon runs on this directory")
	require.Contains(t, msg, fmt.Sprintf("(pid %d)", first.cmd.Process.Pid))
	require.Contains(t, msg, filepath.Join(dir, lifecycle.DaemonLockFile))
	after, err := os.ReadFile(statePath)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "the refused daemon wrote nothing")
	require.Equal(t, lifecycle.Hibernation, loadState(t, dir).CurrentState)

	// The first one never noticed.
	first.signal(t, syscall.SIGTERM)
	first.waitFor(t, "stopped: terminated signal received")
	require.Equal(t, 0, first.exit(t))
}

// Once the daemon has ended, however it ended, the next one starts at once:
// the kernel released the lock with the process.
func TestDaemonSuccessorStartsAtOnce(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		code int // the first daemon's exit code; -1: killed
	}{
		{"after SIGKILL", syscall.SIGKILL, -1},
		{"after SIGTERM", syscall.SIGTERM, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			first := startDaemon(t, ctx, dir, awake...)
			first.waitFor(t, "boot WAKE")
			first.signal(t, tt.sig)
			require.Equal(t, tt.code, first.exit(t))

			next := startDaemon(t, ctx, dir, awake...)
			next.waitFor(t, "boot WAKE")
			next.signal(t, syscall.SIGTERM)
			next.waitFor(t, "stopped: terminated signal received")
			require.Equal(t, 0, next.exit(t))
			require.NotContains(t, next.stderr.String(), "another daemon")
		})
	}
}

// In-process: a daemon lock this process holds refuses the daemon too, and
// the refusal leaves the directory as it found it; a directory that cannot
// be locked at all is an error (1), not "another daemon" (3).
func TestDaemonAcquireFailsInProcess(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) string // returns the --dir to give
		code    int
		want    []string // in stderr; DIR stands for the test's directory
	}{
		{"held by this process", func(t *testing.T, dir string) string {
			held, err := lifecycle.AcquireDaemon(dir)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, held.Release()) })
			return dir
		}, exitRunning, []string{"another daemon runs on this directory",
			fmt.Sprintf("acquire daemon lock %s: a daemon already runs on this directory (pid %d)",
				filepath.Join("DIR", lifecycle.DaemonLockFile), os.Getpid())}},
		{"not a directory", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "file")
			require.NoError(t, os.WriteFile(path, nil, 0o600))
			return path
		}, exitError, []string{filepath.Join("DIR", "file")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			arg := tt.prepare(t, dir)
			before := names(t, dir)
			var out, errb bytes.Buffer
			// fast: a daemon that got past the lock would hibernate and
			// exit 0 within the test, rather than run for ever.
			require.Equal(t, tt.code, run(append([]string{"--dir=" + arg}, fast...), &out, &errb))
			require.Empty(t, out.String())
			for _, w := range tt.want {
				require.Contains(t, errb.String(), strings.ReplaceAll(w, "DIR", dir))
			}
			require.NotContains(t, errb.String(), "cannot open the lifecycle directory", "refused before anything else")
			require.Equal(t, before, names(t, dir), "nothing created")
		})
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var ns []string
	for _, e := range entries {
		ns = append(ns, e.Name())
	}
	return ns
}
