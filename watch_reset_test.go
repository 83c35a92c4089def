//go:build unix

package lifecycle_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// longHistory writes a directory whose log holds n transitions, seq 1 to
// n, and whose state file is the record after the last.
func longHistory(t *testing.T, n int) (dir string, rec lifecycle.Record) {
	t.Helper()
	dir = t.TempDir()
	logDir := filepath.Join(dir, lifecycle.DefaultLogDir)
	require.NoError(t, os.Mkdir(logDir, 0o700))
	f, err := os.OpenFile(filepath.Join(logDir, "lifecycle-events-2026-11-25.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var last lifecycle.Transition
	for seq := 1; seq <= n; seq++ {
		last = lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Seq: int64(seq),
			Time: start.Add(time.Duration(seq) * time.Millisecond)}
		if seq%2 == 0 {
			last.From, last.To, last.Event = lifecycle.Drowsy, lifecycle.Wake, lifecycle.HeartbeatRefresh
		}
		_, err := fmt.Fprintf(w, `{"ts":"%s","event":"state_transition","from":"%s","to":"%s","trigger":"%s","seq":%d}`+"\n",
			lifecycle.FormatTimestamp(last.Time), last.From, last.To, last.Event, seq)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	rec = lifecycle.DefaultRecord(last.Time)
	rec.CurrentState, rec.TransitionSeq, rec.LastTransition = last.To, last.Seq, &last
	require.NoError(t, lifecycle.SaveState(filepath.Join(dir, lifecycle.DefaultStateFile), rec))
	return dir, rec
}

// pythonDefaultRecord is the record a Python tool writes when it finds no
// state file: the defaults, without a transition_seq.
func pythonDefaultRecord(t *testing.T, path string) {
	t.Helper()
	ts := lifecycle.FormatTimestamp(time.Now())
	data := `{
  "current_state": "WAKE",
  "since_ts": "` + ts + `",
  "last_activity_ts": "` + ts + `",
  "wrapper_event_seq": 0,
  "sleep_cycle_progress": null,
  "quarantine": null,
  "shadow_run": false
}`
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(data), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// TestWatchAfterReset: a watch open across a reset (the state file
// removed, or replaced by a Python tool's default record, which has no
// transition_seq) and one transition after it delivers that transition
// alone, not the log's history again.
func TestWatchAfterReset(t *testing.T) {
	const n = 3000
	resets := []struct {
		name  string
		reset func(t *testing.T, path string)
	}{
		{"removed", func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }},
		{"python default", pythonDefaultRecord},
	}
	for _, mode := range watchModes {
		for _, r := range resets {
			t.Run(mode.name+"/"+r.name, func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				dir, _ := longHistory(t, n)
				ch, cancel := startWatch(t, dir, mode.opts...)
				defer cancel()
				rec, errs := nextRecord(t, ch)
				require.Empty(t, errs)
				require.Equal(t, int64(n), rec.TransitionSeq)

				r.reset(t, filepath.Join(dir, lifecycle.DefaultStateFile))
				rec, errs = nextRecord(t, ch)
				require.Empty(t, errs)
				require.Zero(t, rec.TransitionSeq)

				m, err := lifecycle.New(dir)
				require.NoError(t, err)
				_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(t, err)
				require.NoError(t, m.Close())

				var got []lifecycle.Transition
				for {
					ev := nextEvent(t, ch)
					require.NotEqual(t, lifecycle.WatchError, ev.Kind, "%v", ev.Err)
					if ev.Kind == lifecycle.WatchRecord {
						rec = ev.Record
						break
					}
					got = append(got, ev.Transition)
					require.Len(t, got, 1, "the log's history delivered again")
				}
				require.Equal(t, int64(n+1), rec.TransitionSeq)
				require.Len(t, got, 1)
				require.Equal(t, *rec.LastTransition, got[0])
				stopWatch(t, cancel, ch)
			})
		}
	}
}

// cancelAfterChecks is a context that cancels itself after it has been
// asked for its error limit times since it was armed: how a test sees
// how many lines a reader read (it asks before each one) without timing.
type cancelAfterChecks struct {
	context.Context
	cancel context.CancelFunc
	limit  int64
	armed  atomic.Bool
	checks atomic.Int64
}

func (c *cancelAfterChecks) Err() error {
	if c.armed.Load() && c.checks.Add(1) == c.limit {
		c.cancel()
	}
	return c.Context.Err()
}

// TestWatchStopsReadingWhenCancelled: a watch reading a long log (after a
// reset it reads the log once, for its highest seq) stops reading soon
// after its context ends, and closes its channel.
func TestWatchStopsReadingWhenCancelled(t *testing.T) {
	const n, limit = 100_000, 1000
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			dir, rec := longHistory(t, n)
			inner, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx := &cancelAfterChecks{Context: inner, cancel: cancel, limit: limit}
			ch, err := lifecycle.Watch(ctx, dir, mode.opts...)
			require.NoError(t, err)
			first, errs := nextRecord(t, ch)
			require.Empty(t, errs)
			require.Equal(t, rec.TransitionSeq, first.TransitionSeq)

			ctx.armed.Store(true)
			statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
			require.NoError(t, os.Remove(statePath))
			transitions := 0
			for ev := range ch {
				switch {
				case ev.Kind == lifecycle.WatchRecord && ev.Record.TransitionSeq == 0:
					// The reset's record came before any long read: make
					// one more transition, whose read may be long too.
					next := lifecycle.Transition{From: rec.CurrentState, To: lifecycle.Sleep, Event: lifecycle.Idle30Min, Seq: int64(n + 1), Time: time.Now().UTC()}
					after := rec
					after.CurrentState, after.SinceTS, after.TransitionSeq, after.LastTransition = next.To, next.Time, next.Seq, &next
					require.NoError(t, lifecycle.SaveState(statePath, after))
				case ev.Kind == lifecycle.WatchTransition:
					transitions++
				}
				if transitions > 1 {
					cancel()
					for range ch {
					}
					require.FailNow(t, "the watch read the log's history again, without stopping for its context",
						"%d transitions delivered, %d checks of the context", transitions, ctx.checks.Load())
				}
			}
			checks := ctx.checks.Load()
			require.GreaterOrEqual(t, checks, int64(limit), "the watch ended before its context did")
			require.Less(t, checks, int64(limit+64), "lines read after the context was cancelled")
			require.Less(t, checks, int64(n/2))
			require.Zero(t, transitions)
		})
	}
}
