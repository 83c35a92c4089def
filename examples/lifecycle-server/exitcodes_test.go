package main

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// Each way the server ends has its own exit code, so that an operator (or
// systemd's RestartPreventExitStatus) can tell them apart; in particular a
// watchdog kill, which the Go runtime ends with 2, is not a bad command
// line.
func TestServerExitCodes(t *testing.T) {
	ctx := testContext(t)
	codes := map[string]int{}

	var out, errb bytes.Buffer
	codes["bad command line"] = run([]string{"--tick=0"}, &out, &errb)

	dir := t.TempDir()
	first := startServer(t, "--dir="+dir, "--listen="+freeAddr(t), "--tick=1h")
	first.stdout.waitFor(t, ctx, "boot WAKE")
	second := startServer(t, "--dir="+dir, "--listen="+freeAddr(t))
	codes["another daemon on the directory"] = second.exit(t, ctx)
	// What systemd's watchdog sends a service that stopped pinging
	// (WatchdogSignal=SIGABRT): the Go runtime prints every goroutine's
	// stack and exits.
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGABRT))
	codes["watchdog kill"] = first.exit(t, ctx)

	corrupt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, lifecycle.DefaultStateFile), []byte("{"), 0o600))
	codes["error"] = run([]string{"--dir=" + corrupt, "--listen=" + freeAddr(t)}, &out, &errb)

	stopped := startServer(t, "--dir="+t.TempDir(), "--listen="+freeAddr(t), "--tick=1h")
	stopped.stdout.waitFor(t, ctx, "boot WAKE")
	require.NoError(t, stopped.cmd.Process.Signal(syscall.SIGTERM))
	codes["stopped"] = stopped.exit(t, ctx)

	require.Equal(t, map[string]int{
		"stopped":                         0,
		"error":                           1,
		"watchdog kill":                   2,
		"another daemon on the directory": 3,
		"bad command line":                64,
	}, codes)
}
