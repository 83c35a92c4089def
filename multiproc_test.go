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

// TestKill9 kills a dispatching process at random moments. After each kill
// the next Machine must find a whole state that holds every acknowledged
// transition, and a log that agrees with it.
func TestKill9(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	var acked int64
	torn, rolled := 0, 0
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

		// Count the kills that fell between the log fsync and the rename.
		before, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
		require.NoError(t, err, "kill %d", i)

		// The next process carries on: a Machine holds the lock once (recovery).
		m, err := lifecycle.New(dir)
		require.NoError(t, err, "kill %d", i)
		require.NoError(t, m.Close())
		w := checkInvariants(t, dir, torn+1)
		torn = w.stats.Malformed
		if w.rec.TransitionSeq > before.TransitionSeq {
			rolled++
		}
		require.GreaterOrEqual(t, w.rec.TransitionSeq, acked, "kill %d: an acknowledged transition was lost", i)
	}
	w := checkInvariants(t, dir, torn)
	t.Logf("%d kills, %d transitions, %d acknowledged, %d rolled forward from the log, %d torn lines",
		kills, w.rec.TransitionSeq, acked, rolled, torn)
	require.Positive(t, acked, "no dispatch was acknowledged: the test proved nothing")
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
