package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func init() {
	childRoles["dispatcher"] = childDispatcher
}

// watchCycle is what childDispatcher dispatches, over and over: four
// transitions round the whole cycle, then a bookkeeping-only update.
var watchCycle = []struct {
	ev       lifecycle.Event
	g        lifecycle.Guards
	from, to lifecycle.State
}{
	{lifecycle.Idle5Min, lifecycle.Guards{}, lifecycle.Wake, lifecycle.Drowsy},
	{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}, lifecycle.Drowsy, lifecycle.Sleep},
	{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}, lifecycle.Sleep, lifecycle.Hibernation},
	{lifecycle.WakeSignal, lifecycle.Guards{}, lifecycle.Hibernation, lifecycle.Wake},
	{lifecycle.RequestArrived, lifecycle.Guards{}, lifecycle.Wake, lifecycle.Wake}, // no transition
}

// childDispatcher runs "dispatcher N": N dispatches of watchCycle, as fast
// as it can, then prints "done".
func childDispatcher(dir string, args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	for i := range n {
		step := watchCycle[i%len(watchCycle)]
		if _, err := m.DispatchContext(context.Background(), step.ev, step.g); err != nil {
			return err
		}
	}
	fmt.Println("done")
	return m.Close()
}

// watchModes are the two ways Watch learns of a change; every Watch test
// runs in both.
var watchModes = []struct {
	name string
	opts []lifecycle.WatchOption
}{
	{"notify", nil},
	{"polling", []lifecycle.WatchOption{lifecycle.WatchPolling(0)}}, // 0: the default interval
}

// eventDeadline only stops a test that would otherwise hang; no test
// depends on how fast an event comes.
const eventDeadline = 30 * time.Second

// nextEvent receives the next event; the watch must not have ended.
func nextEvent(t *testing.T, ch <-chan lifecycle.WatchEvent) lifecycle.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "the watch ended")
		return ev
	case <-time.After(eventDeadline):
		require.FailNow(t, "no event", "none within %v", eventDeadline)
		return lifecycle.WatchEvent{}
	}
}

// nextRecord receives events up to the next record, failing on a transition
// and collecting errors.
func nextRecord(t *testing.T, ch <-chan lifecycle.WatchEvent) (lifecycle.Record, []error) {
	t.Helper()
	var errs []error
	for {
		ev := nextEvent(t, ch)
		switch ev.Kind {
		case lifecycle.WatchRecord:
			return ev.Record, errs
		case lifecycle.WatchError:
			require.Error(t, ev.Err)
			errs = append(errs, ev.Err)
		default:
			require.Failf(t, "unexpected event", "%+v", ev)
		}
	}
}

// stopWatch cancels the watch and reads until the channel is closed.
func stopWatch(t *testing.T, cancel context.CancelFunc, ch <-chan lifecycle.WatchEvent) {
	t.Helper()
	cancel()
	deadline := time.After(eventDeadline)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			require.FailNow(t, "the watch did not end after its context was cancelled")
		}
	}
}

func startWatch(t *testing.T, dir string, opts ...lifecycle.WatchOption) (<-chan lifecycle.WatchEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := lifecycle.Watch(ctx, dir, opts...)
	if err != nil {
		cancel()
	}
	require.NoError(t, err)
	return ch, cancel
}

// TestWatchSeesEveryTransition watches another process make 200 dispatches
// as fast as it can: every transition arrives once, in order, each before
// the record that holds it, and the last record is the file's.
func TestWatchSeesEveryTransition(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			quickExit(t)
			dir := t.TempDir()
			ch, cancel := startWatch(t, dir, mode.opts...)
			defer cancel()

			// The watch is in place once the first record (the default one:
			// there is no file yet) has come.
			first, errs := nextRecord(t, ch)
			require.Empty(t, errs)
			require.Equal(t, lifecycle.Wake, first.CurrentState)
			require.Zero(t, first.TransitionSeq)

			// Read while the child dispatches, so that loads interleave with
			// its writes; once it has exited, read up to the file's record.
			c := startChild(t, dir, "dispatcher 200")
			exited := make(chan error, 1)
			go func() {
				line, err := c.stdout.ReadString('\n')
				if err == nil && line != "done\n" {
					err = fmt.Errorf("child said %q", line)
				}
				exited <- errors.Join(err, c.stdin.Close(), c.cmd.Wait())
			}()
			var final *lifecycle.Record
			var last lifecycle.Record
			var got []lifecycle.Transition
			records := 0
			for final == nil || !last.Equal(*final) {
				var ev lifecycle.WatchEvent
				select {
				case err := <-exited:
					require.NoError(t, err, "the dispatching child")
					rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
					require.NoError(t, err)
					require.Equal(t, int64(160), rec.TransitionSeq, "200 dispatches of the cycle make 160 transitions")
					final = &rec
					continue
				case ev = <-ch:
				case <-time.After(eventDeadline):
					require.FailNow(t, "no event", "none within %v", eventDeadline)
				}
				switch ev.Kind {
				case lifecycle.WatchTransition:
					got = append(got, ev.Transition)
				case lifecycle.WatchRecord:
					records++
					require.Equal(t, int64(len(got)), ev.Record.TransitionSeq,
						"a record comes after every transition it holds, and before any it does not")
					last = ev.Record
				default:
					require.Failf(t, "unexpected event", "%+v", ev)
				}
			}
			require.Len(t, got, 160)
			for i, tr := range got {
				step := watchCycle[i%4]
				require.Equal(t, int64(i+1), tr.Seq)
				require.Equal(t, step.from, tr.From, "seq %d", tr.Seq)
				require.Equal(t, step.to, tr.To, "seq %d", tr.Seq)
				require.Equal(t, step.ev, tr.Event, "seq %d", tr.Seq)
				require.False(t, tr.Time.IsZero(), "seq %d", tr.Seq)
				if i > 0 {
					require.False(t, tr.Time.Before(got[i-1].Time), "seq %d", tr.Seq)
				}
			}
			t.Logf("%s: 160 transitions in %d records", mode.name, records)
			stopWatch(t, cancel, ch)
		})
	}
}

// TestWatchReportsCorruptFile: a file that someone else corrupts is
// reported and the watch goes on; once mended, the record comes again, and
// later transitions too.
func TestWatchReportsCorruptFile(t *testing.T) {
	writers := []struct {
		name  string
		write func(path string, data []byte) error
	}{
		{"in place", func(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }},
		{"by rename", func(path string, data []byte) error {
			tmp := path + ".editor"
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, path)
		}},
	}
	for _, mode := range watchModes {
		for _, w := range writers {
			t.Run(mode.name+"/"+w.name, func(t *testing.T) {
				defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
				dir := t.TempDir()
				path := filepath.Join(dir, lifecycle.DefaultStateFile)
				m, err := lifecycle.New(dir)
				require.NoError(t, err)
				defer func() { require.NoError(t, m.Close()) }()
				_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(t, err)

				ch, cancel := startWatch(t, dir, mode.opts...)
				defer cancel()
				before, errs := nextRecord(t, ch)
				require.Empty(t, errs)
				require.Equal(t, lifecycle.Drowsy, before.CurrentState)

				require.NoError(t, w.write(path, []byte(`{"current_state": "DROWSY", "since_ts": `)))
				ev := nextEvent(t, ch)
				require.Equal(t, lifecycle.WatchError, ev.Kind, "%+v", ev)
				require.ErrorIs(t, ev.Err, lifecycle.ErrCorruptState)
				var pe *fs.PathError
				require.ErrorAs(t, ev.Err, &pe)
				require.Equal(t, path, pe.Path)

				// Mended: the same record as before the damage comes again.
				require.NoError(t, lifecycle.SaveState(path, before))
				again, errs := nextRecord(t, ch)
				for _, err := range errs {
					require.ErrorIs(t, err, lifecycle.ErrCorruptState)
				}
				require.True(t, again.Equal(before))

				_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				require.NoError(t, err)
				ev = nextEvent(t, ch)
				require.Equal(t, lifecycle.WatchTransition, ev.Kind, "%+v", ev)
				require.Equal(t, lifecycle.Transition{From: lifecycle.Drowsy, To: lifecycle.Wake,
					Event: lifecycle.HeartbeatRefresh, Trigger: "heartbeat_refresh", Seq: 2, Time: ev.Transition.Time}, ev.Transition)
				after, errs := nextRecord(t, ch)
				require.Empty(t, errs)
				require.Equal(t, lifecycle.Wake, after.CurrentState)
				require.Equal(t, int64(2), after.TransitionSeq)
				stopWatch(t, cancel, ch)
			})
		}
	}
}

// TestWatchCoalescesBurst: changes made while the consumer is not reading
// reach it as at most the record loaded before they ended and the latest;
// nothing stale stays queued behind the latest.
func TestWatchCoalescesBurst(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			dir := t.TempDir()
			m, err := lifecycle.New(dir)
			require.NoError(t, err)
			defer func() { require.NoError(t, m.Close()) }()
			ch, cancel := startWatch(t, dir, mode.opts...)
			defer cancel()
			_, errs := nextRecord(t, ch)
			require.Empty(t, errs)

			progress := func(i int) func(*lifecycle.Record) error {
				return func(r *lifecycle.Record) error {
					r.SleepCycleProgress = []byte(fmt.Sprintf(`{"last_completed_index":%d}`, i))
					return nil
				}
			}
			var final lifecycle.Record
			for i := 1; i <= 50; i++ {
				final, err = m.Update(progress(i))
				require.NoError(t, err)
			}
			var got []lifecycle.Record
			for len(got) == 0 || !got[len(got)-1].Equal(final) {
				rec, errs := nextRecord(t, ch)
				require.Empty(t, errs)
				got = append(got, rec)
			}
			require.LessOrEqual(t, len(got), 2, "a burst is delivered as at most one stale record and the latest")

			marker, err := m.Update(progress(51))
			require.NoError(t, err)
			rec, errs := nextRecord(t, ch)
			require.Empty(t, errs)
			require.True(t, rec.Equal(marker), "the next change is the next event: %s", rec.SleepCycleProgress)
			stopWatch(t, cancel, ch)
		})
	}
}

// TestWatchCancel: cancelling ends the watch, closing the channel, in
// whatever state it is, and leaves no goroutine behind.
func TestWatchCancel(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				run  func(t *testing.T, dir string)
			}{
				{"while waiting for a change", func(t *testing.T, dir string) {
					ch, cancel := startWatch(t, dir, mode.opts...)
					defer cancel()
					nextRecord(t, ch)
					stopWatch(t, cancel, ch)
				}},
				{"while an event waits to be read", func(t *testing.T, dir string) {
					ch, cancel := startWatch(t, dir, mode.opts...)
					defer cancel()
					stopWatch(t, cancel, ch)
				}},
				{"with a context already cancelled", func(t *testing.T, dir string) {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					ch, err := lifecycle.Watch(ctx, dir, mode.opts...)
					require.NoError(t, err)
					stopWatch(t, cancel, ch)
				}},
				{"after the directory was removed", func(t *testing.T, dir string) {
					ch, cancel := startWatch(t, dir, mode.opts...)
					defer cancel()
					nextRecord(t, ch)
					require.NoError(t, os.RemoveAll(dir))
					stopWatch(t, cancel, ch)
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
					tc.run(t, t.TempDir())
				})
			}
		})
	}
}

// TestWatchSurvivesDirectoryRemoval: the directory removed and made again
// (an operator resetting the daemon) does not end the watch; a missing file
// reads as the default record, as LoadState has it, and the new history's
// transitions arrive from its first.
func TestWatchSurvivesDirectoryRemoval(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			root := t.TempDir()
			dir := filepath.Join(root, "daemon")
			dispatch := func(ev lifecycle.Event) {
				m, err := lifecycle.New(dir)
				require.NoError(t, err)
				_, err = m.Dispatch(ev, lifecycle.Guards{})
				require.NoError(t, err)
				require.NoError(t, m.Close())
			}
			dispatch(lifecycle.Idle5Min)
			dispatch(lifecycle.HeartbeatRefresh)
			ch, cancel := startWatch(t, dir, mode.opts...)
			defer cancel()
			rec, errs := nextRecord(t, ch)
			require.Empty(t, errs)
			require.Equal(t, int64(2), rec.TransitionSeq)

			require.NoError(t, os.RemoveAll(dir))
			var lost []error // in notify mode: the watch says it lost notification and polls
			for rec.TransitionSeq != 0 {
				rec, errs = nextRecord(t, ch)
				lost = append(lost, errs...)
			}
			require.Equal(t, lifecycle.Wake, rec.CurrentState)

			dispatch(lifecycle.Idle5Min)
			for {
				ev := nextEvent(t, ch)
				if ev.Kind == lifecycle.WatchError {
					lost = append(lost, ev.Err)
					continue
				}
				require.Equal(t, lifecycle.WatchTransition, ev.Kind, "%+v", ev)
				require.Equal(t, int64(1), ev.Transition.Seq)
				require.Equal(t, lifecycle.Drowsy, ev.Transition.To)
				break
			}
			if mode.name == "notify" {
				require.Len(t, lost, 1)
				require.Contains(t, lost[0].Error(), "polling")
				var pe *fs.PathError
				require.ErrorAs(t, lost[0], &pe)
				require.Equal(t, dir, pe.Path)
			} else {
				require.Empty(t, lost)
			}
			rec, _ = nextRecord(t, ch)
			require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
			require.Equal(t, int64(1), rec.TransitionSeq)
			stopWatch(t, cancel, ch)
		})
	}
}

// TestWatchReportsTransitionsMissingFromLog: a record whose transitions the
// log does not hold (a state file copied in without its log) is delivered,
// after an error saying which transitions are missing.
func TestWatchReportsTransitionsMissingFromLog(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			dir := t.TempDir()
			m, err := lifecycle.New(dir)
			require.NoError(t, err)
			defer func() { require.NoError(t, m.Close()) }()
			_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
			require.NoError(t, err)
			ch, cancel := startWatch(t, dir, mode.opts...)
			defer cancel()
			rec, errs := nextRecord(t, ch)
			require.Empty(t, errs)

			// A record five transitions on, with one of them in the log.
			_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			require.NoError(t, err)
			rec.CurrentState, rec.TransitionSeq = lifecycle.Sleep, 6
			require.NoError(t, lifecycle.SaveState(filepath.Join(dir, lifecycle.DefaultStateFile), rec))

			var seqs []int64
			var gap error
			for {
				ev := nextEvent(t, ch)
				if ev.Kind == lifecycle.WatchRecord {
					if ev.Record.TransitionSeq == 6 {
						break
					}
					continue // the dispatch's own record, if it was loaded before the copy
				}
				if ev.Kind == lifecycle.WatchError {
					require.Nil(t, gap, "one error: %v", ev.Err)
					gap = ev.Err
					continue
				}
				seqs = append(seqs, ev.Transition.Seq)
			}
			require.Equal(t, []int64{2}, seqs)
			require.Error(t, gap)
			var pe *fs.PathError
			require.ErrorAs(t, gap, &pe)
			require.Equal(t, filepath.Join(dir, lifecycle.DefaultLogDir), pe.Path)
			require.Contains(t, gap.Error(), "seq 3 to 6")
			stopWatch(t, cancel, ch)
		})
	}
}

// TestWatchPaths: a Machine's files elsewhere than the defaults are watched
// with the matching options.
func TestWatchPaths(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir, stateDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	statePath := filepath.Join(stateDir, "state.json")
	m, err := lifecycle.New(dir, lifecycle.WithStatePath(statePath), lifecycle.WithLogDir(logDir))
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	ch, cancel := startWatch(t, dir, lifecycle.WatchStatePath(statePath), lifecycle.WatchLogDir(logDir))
	defer cancel()
	nextRecord(t, ch)
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	ev := nextEvent(t, ch)
	require.Equal(t, lifecycle.WatchTransition, ev.Kind, "%+v", ev)
	require.Equal(t, int64(1), ev.Transition.Seq)
	rec, errs := nextRecord(t, ch)
	require.Empty(t, errs)
	require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
	stopWatch(t, cancel, ch)
}

func TestWatchRefusesBadDir(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	root := t.TempDir()
	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(root, "missing"), "no such file"},
		{"a file", file, "not a directory"},
	} {
		for _, mode := range watchModes {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				ch, err := lifecycle.Watch(context.Background(), tc.dir, mode.opts...)
				require.Nil(t, ch)
				var pe *fs.PathError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tc.dir, pe.Path)
				require.Contains(t, err.Error(), tc.want)
			})
		}
	}
}

func TestWatchKindString(t *testing.T) {
	for kind, want := range map[lifecycle.WatchKind]string{
		lifecycle.WatchRecord:     "record",
		lifecycle.WatchTransition: "transition",
		lifecycle.WatchError:      "error",
		0:                         "WatchKind(0)",
	} {
		require.Equal(t, want, kind.String())
	}
}

// TestWatchAfterAClockSetBackDays: transitions stamped days before the last
// record the watch delivered, several of them between two of its reads, are
// all delivered, in seq order, with no error (C5). The watch reads a day
// before the last record's since_ts first, then the whole log.
func TestWatchAfterAClockSetBackDays(t *testing.T) {
	dir := t.TempDir()
	clock := &simClock{now: t0}
	m, err := lifecycle.New(dir, lifecycle.WithClock(clock.read))
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}) // seq 1
	require.NoError(t, err)
	// A long poll: the three transitions below land between two reads.
	ch, cancel := startWatch(t, dir, lifecycle.WatchPolling(time.Second))
	defer cancel()
	_, errs := nextRecord(t, ch)
	require.Empty(t, errs)

	clock.set(t0.Add(-3 * 24 * time.Hour))
	for _, ev := range []lifecycle.Event{lifecycle.HeartbeatRefresh, lifecycle.Idle5Min, lifecycle.HeartbeatRefresh} {
		_, err := m.Dispatch(ev, lifecycle.Guards{}) // seq 2, 3, 4
		require.NoError(t, err)
	}
	var seqs []int64
	for len(seqs) < 3 {
		ev := nextEvent(t, ch)
		switch ev.Kind {
		case lifecycle.WatchTransition:
			seqs = append(seqs, ev.Transition.Seq)
		case lifecycle.WatchError:
			require.NoError(t, ev.Err)
		}
	}
	require.Equal(t, []int64{2, 3, 4}, seqs)
	stopWatch(t, cancel, ch)
}
