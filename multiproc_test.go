package lifecycle_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func init() {
	childRoles["chaos"] = childChaos
	childRoles["contend"] = childContend
	childRoles["updater"] = childUpdater
}

// childChaos dispatches random events forever, printing "ack SEQ" after each
// call that returned, where SEQ is the transition_seq it left.
func childChaos(dir string, args []string) error {
	seed, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	events := lifecycle.Events()
	state := lifecycle.Wake
	for {
		ev := events[rng.IntN(len(events))]
		g := lifecycle.Guards{SleepEligible: rng.IntN(2) == 0, StillIdle: rng.IntN(2) == 0}
		// Mostly pick an event that moves the machine, so that kills often
		// land inside a durable transition.
		if rng.IntN(4) > 0 {
			g = lifecycle.Guards{SleepEligible: true, StillIdle: true}
			for _, i := range rng.Perm(len(events)) {
				if _, ok := lifecycle.ComputeTransition(state, events[i], g); ok {
					ev = events[i]
					break
				}
			}
		}
		state, err = m.DispatchContext(context.Background(), ev, g)
		if err != nil {
			return err
		}
		rec, err := m.Snapshot()
		if err != nil {
			return err
		}
		fmt.Printf("ack %d\n", rec.TransitionSeq)
	}
}

// TestKill9 kills a dispatching process at random moments, and after each
// kill writes the state file as a Python tool does since its v1.0: a
// heartbeat, read-modify-replace, without the lock. The next Machine must
// find a whole state that holds every acknowledged transition, leave the
// Python tool's record as it wrote it (C3), and a log that agrees with it.
func TestKill9(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	var acked int64
	torn, restored := 0, 0
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=chaos "+strconv.FormatUint(rng.Uint64(), 10), "LIFECYCLE_TEST_DIR="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1024)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Mostly kill while it dispatches; sometimes while it starts up or recovers.
		if rng.IntN(4) > 0 {
			require.Equal(t, "ready", <-lines)
		}
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		for line := range lines {
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				seq, err := strconv.ParseInt(n, 10, 64)
				require.NoError(t, err)
				acked = max(acked, seq)
			}
		}
		wg.Wait()
		err = cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "kill %d: child ended by itself: %v", i, err)

		// The state file alone holds every acknowledged transition (C1).
		before, err := lifecycle.LoadState(state)
		require.NoError(t, err, "kill %d", i)
		require.GreaterOrEqual(t, before.TransitionSeq, acked, "kill %d: an acknowledged transition is not in the state file", i)

		// A Python tool's heartbeat, without the lock.
		python := pythonHeartbeat(t, state)
		linesBefore := countTransitionLines(t, dir)

		// The next process carries on: a Machine holds the lock once.
		m, err := lifecycle.New(dir)
		require.NoError(t, err, "kill %d", i)
		require.NoError(t, m.Close())
		after, err := lifecycle.LoadState(state)
		require.NoError(t, err)
		requireSameMove(t, python, after, "kill %d: recovery moved the Python tool's record", i)
		w := checkInvariants(t, dir, torn+1)
		torn = w.stats.Malformed
		if len(w.seqs) > linesBefore {
			restored++
		}
		require.GreaterOrEqual(t, w.rec.TransitionSeq, acked, "kill %d: an acknowledged transition was lost", i)
	}
	w := checkInvariants(t, dir, torn)
	t.Logf("%d kills, each followed by a Python heartbeat; %d transitions, %d acknowledged, %d log lines restored from the state file, %d torn lines",
		kills, w.rec.TransitionSeq, acked, restored, torn)
	require.Positive(t, acked, "no dispatch was acknowledged: the test proved nothing")
}

// pythonHeartbeat does to the state file at path what the Python project's
// dispatch of heartbeat_refresh does since its v1.0, without the lock:
// read, bump last_activity_ts and wrapper_event_seq, replace. It keeps the
// keys it does not know (transition_seq, last_transition), as Python does.
func pythonHeartbeat(t *testing.T, path string) lifecycle.Record {
	t.Helper()
	rec, err := lifecycle.LoadState(path)
	require.NoError(t, err)
	rec.LastActivityTS = time.Now().UTC().Truncate(time.Microsecond)
	rec.WrapperEventSeq++
	require.NoError(t, lifecycle.SaveState(path, rec))
	return rec
}

// requireSameMove checks that b has a's current_state, since_ts,
// transition_seq and wrapper_event_seq: the fields C3 says recovery leaves.
func requireSameMove(t *testing.T, a, b lifecycle.Record, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, a.CurrentState, b.CurrentState, msgAndArgs...)
	require.True(t, a.SinceTS.Equal(b.SinceTS), msgAndArgs...)
	require.Equal(t, a.TransitionSeq, b.TransitionSeq, msgAndArgs...)
	require.Equal(t, a.WrapperEventSeq, b.WrapperEventSeq, msgAndArgs...)
}

func countTransitionLines(t *testing.T, dir string) int {
	t.Helper()
	st, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(lifecycle.LogEntry) error { return nil })
	require.NoError(t, err)
	return st.Entries
}

// childContend runs "contend MODE N": N rounds of heartbeat_refresh then
// idle_5min, waiting for the lock (MODE wait) or not (MODE nowait). It
// prints how many heartbeats succeeded and how many met ErrLocked.
func childContend(dir string, args []string) error {
	wait := args[0] == "wait"
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	ok, locked := 0, 0
	for range n {
		for _, ev := range []lifecycle.Event{lifecycle.HeartbeatRefresh, lifecycle.Idle5Min} {
			if wait {
				_, err = m.DispatchContext(context.Background(), ev, lifecycle.Guards{})
			} else {
				_, err = m.Dispatch(ev, lifecycle.Guards{})
			}
			switch {
			case err == nil && ev == lifecycle.HeartbeatRefresh:
				ok++
			case errors.Is(err, lifecycle.ErrLocked) && !wait:
				if ev == lifecycle.HeartbeatRefresh {
					locked++
				}
			case err != nil:
				return err
			}
		}
	}
	fmt.Printf("%d %d\n", ok, locked)
	return m.Close()
}

func runChildren(t *testing.T, dir string, roles ...string) []string {
	t.Helper()
	outs := make([]string, len(roles))
	errs := make([]error, len(roles))
	var wg sync.WaitGroup
	for i, role := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+role, "LIFECYCLE_TEST_DIR="+dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			outs[i], errs[i] = strings.TrimSpace(string(out)), err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, roles[i])
	}
	return outs
}

func TestContention(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		dir := t.TempDir()
		outs := runChildren(t, dir, "contend wait 250", "contend wait 250", "contend wait 250", "contend wait 250")
		for _, o := range outs {
			require.Equal(t, "250 0", o)
		}
		w := checkInvariants(t, dir, 0)
		require.Equal(t, int64(1000), w.rec.WrapperEventSeq)
		require.Equal(t, w.stats.Entries, len(w.seqs))
		t.Logf("4 processes x 250 waiting heartbeats: wrapper_event_seq %d, %d transitions logged, %d malformed lines",
			w.rec.WrapperEventSeq, len(w.seqs), w.stats.Malformed)
	})
	t.Run("not waiting", func(t *testing.T) {
		dir := t.TempDir()
		outs := runChildren(t, dir, "contend nowait 250", "contend nowait 250", "contend nowait 250", "contend nowait 250")
		succeeded, locked := 0, 0
		for _, o := range outs {
			var ok, l int
			_, err := fmt.Sscanf(o, "%d %d", &ok, &l)
			require.NoError(t, err)
			require.Equal(t, 250, ok+l)
			succeeded += ok
			locked += l
		}
		w := checkInvariants(t, dir, 0)
		require.Equal(t, int64(succeeded), w.rec.WrapperEventSeq)
		t.Logf("4 processes x 250 non-blocking heartbeats: %d succeeded, %d ErrLocked, wrapper_event_seq %d",
			succeeded, locked, w.rec.WrapperEventSeq)
	})
}

// childUpdater records N steps of sleep-cycle progress through Update.
func childUpdater(dir string, args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		_, err := m.UpdateContext(context.Background(), func(r *lifecycle.Record) error {
			r.SleepCycleProgress = json.RawMessage(fmt.Sprintf(`{"last_completed_index":%d}`, i))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return m.Close()
}

func TestUpdateAndDispatchLoseNoField(t *testing.T) {
	dir := t.TempDir()
	runChildren(t, dir, "updater 200", "contend wait 200")
	w := checkInvariants(t, dir, 0)
	require.JSONEq(t, `{"last_completed_index":200}`, string(w.rec.SleepCycleProgress))
	require.Equal(t, int64(200), w.rec.WrapperEventSeq)
	require.Equal(t, int64(399), w.rec.TransitionSeq) // 200 x WAKE->DROWSY, 199 x back: the first heartbeat finds WAKE
}
