package daemon_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/stretchr/testify/require"
)

// overall bounds each test. It guards against a hung loop; it is not a
// timing assertion: every wait is for a line of narration or a result.
const overall = 30 * time.Second

// fast walks a whole idle day in milliseconds.
var fast = []daemon.Option{
	daemon.WithTick(time.Millisecond),
	daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: 5 * time.Millisecond, Sleep: 10 * time.Millisecond}),
}

// narration collects a daemon's lines as they come.
type narration struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on each new line
}

func newNarration() *narration { return &narration{more: make(chan struct{})} }

func (n *narration) add(line string) {
	n.mu.Lock()
	n.lines = append(n.lines, line)
	close(n.more)
	n.more = make(chan struct{})
	n.mu.Unlock()
}

// current is the channel the next line closes.
func (n *narration) current() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.more
}

func (n *narration) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lines...)
}

// running is a Daemon whose Run runs in a goroutine.
type running struct {
	d      *daemon.Daemon
	lines  *narration
	next   int // the index of the first line waitFor has not passed
	ctx    context.Context
	cancel context.CancelFunc
	result chan result
}

type result struct {
	outcome daemon.Outcome
	err     error
}

// startDaemon opens a Daemon on dir and runs it until the test ends.
func startDaemon(t *testing.T, dir string, opts ...daemon.Option) *running {
	t.Helper()
	lines := newNarration()
	d, err := daemon.Open(dir, append(opts, daemon.WithNarrator(lines.add))...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{d: d, lines: lines, ctx: ctx, cancel: cancel, result: make(chan result, 1)}
	go func() {
		o, err := d.Run(ctx)
		r.result <- result{o, err}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.Done():
		case <-time.After(overall):
			t.Errorf("Run still running %v after the test", overall)
		}
		require.NoError(t, d.Close())
		if t.Failed() {
			t.Logf("narration:\n%s", strings.Join(lines.all(), "\n"))
		}
	})
	return r
}

// waitFor waits for a line equal to want, or starting with it when want
// ends in "..."; lines before it are passed over, so a series of waitFor
// calls checks the order of the lines they name.
func (r *running) waitFor(t *testing.T, want string) string {
	t.Helper()
	prefix, isPrefix := strings.CutSuffix(want, "...")
	deadline := time.NewTimer(overall)
	defer deadline.Stop()
	for {
		r.lines.mu.Lock()
		lines, more := r.lines.lines, r.lines.more
		r.lines.mu.Unlock()
		for ; r.next < len(lines); r.next++ {
			if l := lines[r.next]; l == want || isPrefix && strings.HasPrefix(l, prefix) {
				r.next++
				return l
			}
		}
		select {
		case <-more:
		case <-r.d.Done():
			// Run narrates nothing once it has ended: a last look.
			if more != r.lines.current() {
				continue
			}
			select {
			case res := <-r.result: // sent as Run returns; put back for end
				r.result <- res
				t.Fatalf("Run ended (%v, %v) before %q", res.outcome, res.err, want)
			case <-deadline.C: // taken already, by end
				t.Fatalf("Run ended before %q", want)
			}
		case <-deadline.C:
			t.Fatalf("no %q within %v", want, overall)
		}
	}
}

// end waits for Run's result.
func (r *running) end(t *testing.T) (daemon.Outcome, error) {
	t.Helper()
	select {
	case res := <-r.result:
		return res.outcome, res.err
	case <-time.After(overall):
		t.Fatalf("Run did not return within %v", overall)
	}
	return 0, nil
}

// stop cancels Run's context and requires Stopped.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	o, err := r.end(t)
	require.NoError(t, err)
	require.Equal(t, daemon.Stopped, o)
}

// transitions returns the log's state_transition lines as "FROM->TO trigger".
func transitions(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	_, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var l struct{ From, To, Trigger string }
			if err := json.Unmarshal(e.Raw, &l); err != nil {
				return err
			}
			got = append(got, l.From+"->"+l.To+" "+l.Trigger)
			return nil
		})
	require.NoError(t, err)
	return got
}

func load(t *testing.T, dir string) lifecycle.Record {
	t.Helper()
	rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	return rec
}

// dispatchAll drives dir's machine through events from another Machine, as
// another process would.
func dispatchAll(t *testing.T, dir string, evs ...lifecycle.Event) {
	t.Helper()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	for _, ev := range evs {
		_, err := m.DispatchContext(t.Context(), ev, lifecycle.Guards{SleepEligible: true, StillIdle: true})
		require.NoError(t, err)
	}
	require.NoError(t, m.Close())
}

// steps is a sleep cycle of n steps that records the steps it ran and
// does no work.
type steps struct {
	mu  sync.Mutex
	ran []int
}

func (s *steps) cycle(n int) daemon.SleepCycle {
	return daemon.SleepCycle{Steps: n, Step: func(ctx context.Context, i int) error {
		s.mu.Lock()
		s.ran = append(s.ran, i)
		s.mu.Unlock()
		return nil
	}}
}

func (s *steps) all() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.ran...)
}
