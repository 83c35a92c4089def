package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hangLimit only stops a test whose command hangs; no assertion depends on
// how fast the command is.
const hangLimit = time.Minute

// TestHistoryEndsOnSIGTERM runs lifecyclectl history, as built, on a log
// whose line is three centuries old (more than a time.Duration holds):
// it summarises every day since, and a SIGTERM in the middle ends it, with
// an error saying its output is incomplete.
func TestHistoryEndsOnSIGTERM(t *testing.T) {
	bin, err := exec.LookPath(progName) // testscript.Main's copy of this binary
	require.NoError(t, err)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.Mkdir(logs, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "lifecycle-events-1700-01-01.jsonl"),
		[]byte(`{"ts":"1700-01-01T12:00:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`+"\n"), 0o600))

	cmd := exec.Command(bin, "--dir", dir, "history", "--until", "2026-11-26")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() {
		// Until the first day's line is out, the command has not got to
		// its summary; until it is killed, nothing reads its output, so it
		// cannot finish before the signal.
		out := bufio.NewReader(stdout)
		var err error
		for line := ""; err == nil && !bytes.HasPrefix([]byte(line), []byte("1700-01-01 ")); {
			line, err = out.ReadString('\n')
		}
		if err == nil {
			err = cmd.Process.Signal(syscall.SIGTERM)
		}
		rest, rerr := io.ReadAll(out)
		if err == nil && bytes.Contains(rest, []byte("\ntotal ")) {
			err = errors.New("the summary went on to its total after SIGTERM")
		}
		done <- errors.Join(err, rerr, cmd.Wait())
	}()
	select {
	case err = <-done:
	case <-time.After(hangLimit):
		require.NoError(t, cmd.Process.Kill())
		<-done
		require.FailNow(t, "lifecyclectl history did not end", "within %v; stderr:\n%s", hangLimit, stderr.String())
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
	require.Equal(t, exitError, ee.ExitCode())
	require.Equal(t, "lifecyclectl: history: interrupted by a signal; what it printed is incomplete\n", stderr.String())
}
