package lifecycle_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// dirNames lists the names in dir, so tests can see that no temporary file
// was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWakeSignalSequences(t *testing.T) {
	// W writes a signal; C consumes and expects true, c expects false.
	tests := []struct {
		name string
		ops  string
	}{
		{"nothing to consume", "c"},
		{"one signal, one winner", "WCc"},
		{"signals written before a consume coalesce", "WWWCc"},
		{"write after consume is a new signal", "WCWCc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, lifecycle.WakeSignalFile)
			for i, op := range tt.ops {
				switch op {
				case 'W':
					require.NoError(t, lifecycle.WriteWakeSignal(dir))
					fi, err := os.Lstat(path)
					require.NoError(t, err)
					require.True(t, fi.Mode().IsRegular())
					require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
					data, err := os.ReadFile(path)
					require.NoError(t, err)
					_, err = lifecycle.ParseTimestamp(string(data))
					require.NoError(t, err, "the signal holds the time it was written")
					require.Equal(t, []string{lifecycle.WakeSignalFile}, dirNames(t, dir))
				case 'C', 'c':
					got, err := lifecycle.ConsumeWakeSignal(dir)
					require.NoError(t, err)
					require.Equal(t, op == 'C', got, "op %d", i)
					require.Empty(t, dirNames(t, dir))
				}
			}
		})
	}
}

func TestWriteWakeSignalCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	require.NoError(t, lifecycle.WriteWakeSignal(dir))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	got, err := lifecycle.ConsumeWakeSignal(dir)
	require.NoError(t, err)
	require.True(t, got)
}

func TestConsumeWakeSignalMissingDir(t *testing.T) {
	got, err := lifecycle.ConsumeWakeSignal(filepath.Join(t.TempDir(), "missing"))
	require.NoError(t, err)
	require.False(t, got)
}

func TestWakeSignalBadEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the dir to use
		// wantPath(dir) is the path the error must name.
		wantPath func(dir string) string
	}{
		{
			name: "dir is a file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "file")
				require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
				return p
			},
		},
		{
			name: "signal is an empty directory",
			setup: func(t *testing.T, dir string) string {
				require.NoError(t, os.Mkdir(filepath.Join(dir, lifecycle.WakeSignalFile), 0o700))
				return dir
			},
			wantPath: func(dir string) string { return filepath.Join(dir, lifecycle.WakeSignalFile) },
		},
		{
			name: "signal is a directory with a file in it",
			setup: func(t *testing.T, dir string) string {
				sub := filepath.Join(dir, lifecycle.WakeSignalFile)
				require.NoError(t, os.Mkdir(sub, 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(sub, "keep"), []byte("x"), 0o600))
				return dir
			},
			wantPath: func(dir string) string { return filepath.Join(dir, lifecycle.WakeSignalFile) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := tt.setup(t, base)
			before := dirNames(t, base)
			wantPath := dir
			if tt.wantPath != nil {
				wantPath = tt.wantPath(dir)
			}
			writeErr := lifecycle.WriteWakeSignal(dir)
			consumed, consumeErr := lifecycle.ConsumeWakeSignal(dir)
			require.False(t, consumed)
			for _, c := range []struct {
				op  string
				err error
			}{{"write", writeErr}, {"consume", consumeErr}} {
				var pe *fs.PathError
				require.True(t, errors.As(c.err, &pe), "%s: %v", c.op, c.err)
				if tt.wantPath != nil {
					require.Equal(t, wantPath, pe.Path, c.op)
				} else {
					require.True(t, strings.HasPrefix(pe.Path, wantPath), "%s: %v", c.op, c.err)
				}
			}
			require.Equal(t, before, dirNames(t, base), "nothing created or removed")
			if tt.wantPath != nil {
				fi, err := os.Lstat(wantPath)
				require.NoError(t, err)
				require.True(t, fi.IsDir(), "the directory is not taken for a signal")
				require.Equal(t, []string{lifecycle.WakeSignalFile}, dirNames(t, dir), "no temporary file left")
			}
		})
	}
}

func TestConsumeWakeSignalGoroutines(t *testing.T) {
	dir := t.TempDir()
	for round := range 5 {
		require.NoError(t, lifecycle.WriteWakeSignal(dir))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				got, err := lifecycle.ConsumeWakeSignal(dir)
				mu.Lock()
				defer mu.Unlock()
				require.NoError(t, err)
				if got {
					wins++
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, 1, wins, "round %d", round)
	}
}

// TestWakeSignalProcesses runs writers and consumers as separate processes,
// all at once. A patient writer waits until its signal is gone before it
// writes the next, so every signal is consumed by exactly one process; eager
// writers' signals may coalesce, so there are at least one and at most as
// many wins as writes.
func TestWakeSignalProcesses(t *testing.T) {
	// Under -race, a process sleeps a second at exit unless told not to;
	// the children inherit this.
	t.Setenv("GORACE", os.Getenv("GORACE")+" atexit_sleep_ms=0")
	tests := []struct {
		name      string
		writers   int
		writes    int
		patient   bool
		consumers int
	}{
		{"one patient writer", 1, 20, true, 4},
		{"eager writers", 3, 10, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mode := "eager"
			if tt.patient {
				mode = "patient"
			}
			var writers, consumers []*child
			for range tt.writers {
				writers = append(writers, startChild(t, dir, "wake-write "+strconv.Itoa(tt.writes)+" "+mode))
			}
			for range tt.consumers {
				consumers = append(consumers, startChild(t, dir, "wake-consume"))
			}
			all := append(append([]*child(nil), writers...), consumers...)
			for _, c := range all {
				c.expect(t, "ready")
			}
			for _, c := range all {
				_, err := c.stdin.Write([]byte("go\n"))
				require.NoError(t, err)
			}
			for _, c := range writers {
				c.expect(t, "done")
				c.wait(t)
			}
			wins := 0
			for _, c := range consumers {
				require.NoError(t, c.stdin.Close()) // stop consuming
				line, err := c.stdout.ReadString('\n')
				require.NoError(t, err)
				n, err := strconv.Atoi(strings.TrimSpace(line))
				require.NoError(t, err, line)
				require.NoError(t, c.cmd.Wait())
				wins += n
			}
			left, err := lifecycle.ConsumeWakeSignal(dir)
			require.NoError(t, err)
			if tt.patient {
				require.False(t, left, "a patient writer's last signal was consumed")
				require.Equal(t, tt.writes, wins, "each signal has exactly one winner")
			} else {
				if left {
					wins++
				}
				require.GreaterOrEqual(t, wins, 1, "the last signal is consumed")
				require.LessOrEqual(t, wins, tt.writers*tt.writes)
			}
			require.Empty(t, dirNames(t, dir), "no signal or temporary file left")
		})
	}
}

func ExampleWriteWakeSignal() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A wrapper that finds the daemon hibernated asks for it to wake.
	if err := lifecycle.WriteWakeSignal(dir); err != nil {
		log.Fatal(err)
	}
	// The daemon, at boot and on each tick, takes the signal: once.
	for range 2 {
		woken, err := lifecycle.ConsumeWakeSignal(dir)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(woken)
	}
	// Output:
	// true
	// false
}
