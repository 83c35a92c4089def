package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// tally counts the clients' outcomes.
type tally struct {
	mu         sync.Mutex
	answered   int
	refused    int
	unanswered []error
	answers    map[string]int // answer -> count
}

func (c *tally) add(answer string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.answered++
		c.answers[answer]++
	case isRefused(err):
		c.refused++
	default:
		c.unanswered = append(c.unanswered, err)
	}
}

// burst sends n clients at once, each with one request, and waits for them.
func (c *tally) burst(ctx context.Context, addr string, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { c.add(ask(ctx, "tcp", addr)) })
	}
	wg.Wait()
}

// The whole cycle, with a supervisor that does what a systemd socket unit
// does: the server hibernates and exits, and the next connection starts it
// again, five times, with clients connecting throughout. None is
// refused, none goes unanswered, and each start after a hibernation is a
// HIBERNATION -> WAKE transition in the log.
func TestServerWakeCycles(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	sup := supervise(t, nil, nil, "--dir="+dir, "--tick=2ms", "--drowsy-after=30ms", "--sleep-after=60ms",
		"--sleep-steps=2", "--sleep-step=2ms")
	addr := sup.Addr.String()
	const hibernations, burst = 5, 20
	during := &tally{answers: map[string]int{}}     // sent once a server had exited
	background := &tally{answers: map[string]int{}} // one every 250 ms, whatever runs

	bctx, stopBackground := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for range 40 {
			select {
			case <-bctx.Done():
				return
			case <-tick.C:
			}
			background.add(ask(ctx, "tcp", addr))
		}
	})

	// The first burst starts the first server, on a fresh directory; each
	// later one comes once a server has hibernated and exited.
	var bursts sync.WaitGroup
	bursts.Go(func() { during.burst(ctx, addr, burst) })
	starts, exits := 0, 0
	for exits < hibernations {
		select {
		case ev, ok := <-sup.Events():
			require.True(t, ok, "the supervisor ended")
			switch ev.Kind {
			case daemontest.Started:
				starts++
			case daemontest.Exited:
				require.NoError(t, ev.Err, "the server exits 0")
				exits++
				if exits < hibernations {
					bursts.Go(func() { during.burst(ctx, addr, burst) })
				} else {
					stopBackground() // and let the last server hibernate
				}
			}
		case <-ctx.Done():
			t.Fatalf("%d starts and %d exits within %v", starts, exits, overall)
		}
	}
	bursts.Wait()
	stopBackground()
	bg.Wait()
	// Every client has its answer. A background one may have started a
	// server since: it hibernates too, and its events end the count.
	closed := make(chan error, 1)
	go func() { closed <- sup.CloseWhenIdle(ctx) }()
	for ev := range sup.Events() {
		if ev.Kind == daemontest.Started {
			starts++
		} else {
			require.NoError(t, ev.Err, "the server exits 0")
			exits++
		}
	}
	require.NoError(t, <-closed)
	require.Equal(t, starts, exits)

	total := during.answered + len(during.unanswered) + during.refused +
		background.answered + len(background.unanswered) + background.refused
	t.Logf("%d server starts, %d hibernations; %d connections: %d in bursts of %d sent once a server had exited (answers %v), %d in the background every 250 ms (answers %v)",
		starts, exits, total, during.answered+len(during.unanswered)+during.refused, burst, during.answers,
		background.answered+len(background.unanswered)+background.refused, background.answers)
	for _, c := range []*tally{during, background} {
		require.Zero(t, c.refused, "refused")
		require.Empty(t, c.unanswered, "unanswered")
	}
	require.GreaterOrEqual(t, total, 100)
	require.Equal(t, hibernations*burst, during.answered)
	require.Equal(t, hibernations*burst, during.answers["WAKE"], "a burst wakes the server it starts")

	// The log: every server but the first woke from HIBERNATION, every one
	// hibernated, and the transitions chain from WAKE to the state file.
	trs := transitionLines(t, dir)
	count := func(s string) int {
		n := 0
		for _, tr := range trs {
			if tr.String() == s {
				n++
			}
		}
		return n
	}
	require.Equal(t, starts-1, count("HIBERNATION->WAKE wake_signal"))
	require.Equal(t, exits, count("SLEEP->HIBERNATION sleep_cycle_done"))
	require.GreaterOrEqual(t, starts-1, 3, "at least three wakes")
	from := lifecycle.Wake
	for i, tr := range trs {
		require.Equal(t, from, tr.From, "transition %d: %s", i, tr)
		require.Equal(t, int64(i+1), tr.Seq)
		from = tr.To
	}
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	require.Equal(t, lifecycle.Hibernation, rec.CurrentState)
	require.Equal(t, from, rec.CurrentState)
	require.Equal(t, int64(len(trs)), rec.TransitionSeq)
}

// transition is a state_transition line of the log.
type transition struct {
	From, To lifecycle.State
	Trigger  string
	Seq      int64
}

func (tr transition) String() string {
	return string(tr.From) + "->" + string(tr.To) + " " + tr.Trigger
}

func transitionLines(t *testing.T, dir string) []transition {
	t.Helper()
	var trs []transition
	_, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var tr transition
			if err := json.Unmarshal(e.Raw, &tr); err != nil {
				return err
			}
			trs = append(trs, tr)
			return nil
		})
	require.NoError(t, err)
	return trs
}
