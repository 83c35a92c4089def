package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A stop signal ends status --watch cleanly, exit 0, whichever it is. The
// scripts send SIGINT from outside; testscript cannot send SIGTERM, so the
// watch runs here, in this process, and the test signals itself: run's
// handler, registered for the whole watch, takes the signal.
func TestWatchEndsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			ready := filepath.Join(t.TempDir(), "ready")
			var out, errb bytes.Buffer
			code := make(chan int, 1)
			go func() {
				code <- run([]string{"--dir", dir, "status", "--watch", "--ready", ready}, &out, &errb)
			}()
			// A guard, not a timing assertion: the file comes at once.
			guard := time.After(time.Minute)
			for {
				_, err := os.Stat(ready)
				if err == nil {
					break
				}
				require.ErrorIs(t, err, fs.ErrNotExist)
				select {
				case c := <-code:
					t.Fatalf("the watch ended (exit %d) before it was ready: %s", c, errb.String())
				case <-guard:
					t.Fatal("the watch never got ready")
				case <-time.After(5 * time.Millisecond):
				}
			}
			require.NoError(t, syscall.Kill(os.Getpid(), sig))
			select {
			case c := <-code:
				require.Equal(t, exitOK, c, errb.String())
			case <-guard:
				t.Fatal("the watch did not end on the signal")
			}
			require.Regexp(t, `^.{20}  WAKE since .+ \(no state file: a new machine's record\)\n$`, out.String())
			require.Empty(t, errb.String())
		})
	}
}
