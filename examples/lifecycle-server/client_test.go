package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The client the docs show, run as they show it (the port aside), gets
// its answer and returns: it works without any particular nc.
func TestDocsClient(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skipf("no bash: %v", err)
	}
	ctx := testContext(t)
	p := startServer(t, append([]string{"--dir=" + t.TempDir(), "--listen=127.0.0.1:0"}, awake...)...)
	addr := listenAddr(t, p.stdout.waitFor(t, ctx, "listening on ..."))
	_, port, ok := strings.Cut(addr, ":")
	require.True(t, ok, addr)
	for _, doc := range []string{filepath.Join("..", "..", "docs", "daemon.md"), "main.go"} {
		data, err := os.ReadFile(doc)
		require.NoError(t, err)
		var client string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "/dev/tcp/127.0.0.1/7070") {
				client, _, _ = strings.Cut(strings.TrimPrefix(line, "//\t"), "#")
				break
			}
		}
		require.NotEmpty(t, client, "%s shows a client", doc)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", strings.ReplaceAll(client, "7070", port))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", client, out)
		require.Equal(t, "WAKE\n", string(out), client)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exit(t, ctx))
}
