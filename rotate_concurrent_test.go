package lifecycle_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func init() {
	childRoles["appender"] = childAppender
}

// appenderDays are the old days the appender writes to: each ended long
// before any rotation's cutoff.
var appenderDays = func() []time.Time {
	days := make([]time.Time, 8)
	for i := range days {
		days[i] = time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC)
	}
	return days
}()

// childAppender runs "appender MODE SEED": it appends wrapper_event lines
// numbered 0, 1, 2, ... to the files of appenderDays, as a Python writer
// does: O_APPEND, one write per line, no lock, no fsync, with short pauses
// between opens. MODE line opens
// the file for each line; MODE held keeps it open for a few lines, with
// pauses between them. It prints "ready", then, once its stdin closes,
// "wrote N".
func childAppender(dir string, args []string) error {
	held := args[0] == "held"
	seed, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	fmt.Println("ready")
	n := 0
	for !stop.Load() {
		day := appenderDays[rng.IntN(len(appenderDays))]
		path := filepath.Join(dir, lifecycle.LogFileName(day))
		lines := 1
		if held {
			lines = 1 + rng.IntN(8)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		for range lines {
			ts := lifecycle.FormatTimestamp(day.Add(time.Duration(n) * time.Millisecond))
			line := fmt.Sprintf(`{"ts":"%s","event":"wrapper_event","n":%d}`+"\n", ts, n)
			if _, err := f.WriteString(line); err != nil {
				return errors.Join(err, f.Close())
			}
			n++
			if held {
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		// Pauses, so that rotations find files no one holds open.
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
	}
	fmt.Printf("wrote %d\n", n)
	return nil
}

// TestRotationWithAnUnlockedAppender rotates a log directory again and
// again while another process appends to its old days' files as Python
// writers do, without the flock: every line written is read back exactly
// once, from the .gz files and the plain files the rotations leave.
func TestRotationWithAnUnlockedAppender(t *testing.T) {
	const minRotated = 20 // files actually replaced by a .gz
	for _, mode := range []string{"line", "held"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			c := startChild(t, dir, "appender "+mode+" "+strconv.FormatUint(seed, 10))
			c.expect(t, "ready")

			rotations, rotated := 0, 0
			left := map[string]int{}
			var took time.Duration
			deadline := time.Now().Add(2 * time.Minute) // for -race on a busy machine
			for rotations < minRotated || rotated < minRotated {
				require.True(t, time.Now().Before(deadline),
					"only %d of %d files rotated in %d rotations; left %v", rotated, minRotated, rotations, left)
				start := time.Now()
				r, err := lifecycle.RotateLogsReport(dir, time.Hour, time.Now())
				require.NoError(t, err)
				took = max(took, time.Since(start))
				rotations++
				rotated += len(r.Rotated)
				for _, l := range r.Left {
					left[l.Reason]++
				}
				time.Sleep(time.Millisecond)
			}
			require.NoError(t, c.stdin.Close())
			line, err := c.stdout.ReadString('\n')
			require.NoError(t, err)
			wrote, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "wrote "))
			require.NoError(t, err, "child said %q", line)
			require.NoError(t, c.cmd.Wait())

			seen := make([]int, wrote)
			st, err := lifecycle.ReadLog(dir, lifecycle.LogQuery{}, func(e lifecycle.LogEntry) error {
				var n int
				_, err := fmt.Sscanf(string(e.Raw[strings.LastIndex(string(e.Raw), `"n":`):]), `"n":%d}`, &n)
				require.NoError(t, err, "%s", e.Raw)
				require.Less(t, n, wrote, "%s", e.Raw)
				seen[n]++
				return nil
			})
			require.NoError(t, err)
			require.Zero(t, st.Malformed)
			var lost, twice []int
			for n, k := range seen {
				switch {
				case k == 0:
					lost = append(lost, n)
				case k > 1:
					twice = append(twice, n)
				}
			}
			t.Logf("%d lines written, %d rotations replaced %d files and left %v; the slowest took %v",
				wrote, rotations, rotated, left, took)
			require.Empty(t, lost, "%d of %d lines lost", len(lost), wrote)
			require.Empty(t, twice, "%d of %d lines read more than once", len(twice), wrote)
			require.Positive(t, wrote)
		})
	}
}
