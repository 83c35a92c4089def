package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// simClock is a workload's wall clock: each reading is a second after the
// last, and a workload may set it anywhere, back included.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// simAck is an operation that returned: what the state file held when it
// returned (nil: no state file), after ops operations, and whether it
// returned without error (acknowledged). A failed operation is not
// acknowledged, but what it wrote may survive: it is a "later" record.
type simAck struct {
	ops   int
	what  string
	state []byte
	acked bool
}

// simRun is a workload being recorded.
type simRun struct {
	t     *testing.T
	rec   *recorder
	dir   string // the lifecycle directory
	clock *simClock
	opts  []lifecycle.Option
	acks  []simAck
}

func (s *simRun) stateBytes() []byte {
	data, err := os.ReadFile(filepath.Join(s.dir, lifecycle.DefaultStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(s.t, err)
	return data
}

func (s *simRun) ack(what string) {
	s.acks = append(s.acks, simAck{ops: s.rec.ops(), what: what, state: s.stateBytes(), acked: true})
}

// failed records an operation that returned an error.
func (s *simRun) failed(what string) {
	s.acks = append(s.acks, simAck{ops: s.rec.ops(), what: what, state: s.stateBytes()})
}

// failAt dispatches ev on m with the step named step failing, as a crash
// or an I/O error there would, and closes m.
func (s *simRun) failAt(m *lifecycle.Machine, step string, ev lifecycle.Event, g lifecycle.Guards) {
	restore := lifecycle.SetAfterStep(func(st string) error {
		if st == step {
			return errInjected
		}
		return nil
	})
	_, err := m.Dispatch(ev, g)
	restore()
	require.ErrorIs(s.t, err, errInjected)
	s.failed(string(ev) + " failed at " + step)
	require.NoError(s.t, m.Close())
}

func (s *simRun) newMachine() *lifecycle.Machine {
	m, err := lifecycle.New(s.dir, s.opts...)
	require.NoError(s.t, err)
	s.ack("New")
	return m
}

func (s *simRun) dispatch(m *lifecycle.Machine, ev lifecycle.Event, g lifecycle.Guards) {
	_, err := m.Dispatch(ev, g)
	require.NoError(s.t, err)
	s.ack(string(ev))
}

// simEvent is a step of a scripted workload.
type simEvent struct {
	ev lifecycle.Event
	g  lifecycle.Guards
}

// aDay is the events of a daemon's idle day: through every state and back.
var aDay = []simEvent{
	{lifecycle.Idle5Min, lifecycle.Guards{}},
	{lifecycle.HeartbeatRefresh, lifecycle.Guards{}},
	{lifecycle.Tick, lifecycle.Guards{}},
	{lifecycle.Idle5Min, lifecycle.Guards{}},
	{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
	{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}},
	{lifecycle.WakeSignal, lifecycle.Guards{}},
	{lifecycle.RequestArrived, lifecycle.Guards{}},
}

// simWorkload is a scripted workload: setup prepares the root (all of it
// durable) before recording starts, run is recorded.
type simWorkload struct {
	name  string
	sub   string // the lifecycle directory, relative to the root
	start time.Time
	opts  []lifecycle.Option
	// table is the Machine's table (WithTable), nil for the default; the
	// checks read the state file with it.
	table *lifecycle.Table
	setup func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option)
	run   func(s *simRun)
}

// simStats counts crash states and what was wrong with them.
type simStats struct {
	states     int
	violations map[string]int
	examples   map[string]string
}

func (st *simStats) add(o simStats) {
	st.states += o.states
	for k, v := range o.violations {
		st.violations[k] += v
		if _, ok := st.examples[k]; !ok {
			st.examples[k] = o.examples[k]
		}
	}
}

func (st *simStats) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d crash states", st.states)
	keys := make([]string, 0, len(st.violations))
	for k := range st.violations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %6d  %s\n          e.g. %s", st.violations[k], k, st.examples[k])
	}
	return b.String()
}

// The kinds of violation the checker counts.
const (
	vStateBehind    = "C1: the state file alone holds less than the acknowledged record"
	vStateCorrupt   = "C1: the state file alone does not load"
	vNewFails       = "New fails on the crash state"
	vAckLost        = "C1: an acknowledged operation is lost after recovery"
	vRecordMoved    = "C3: recovery changed current_state, since_ts, transition_seq or wrapper_event_seq"
	vInvariant      = "C2: after recovery the log's seqs are not 1..N, chained, N = transition_seq, last to = current_state"
	vNextInvariant  = "C2/C4: after recovery and one more transition"
	vTempLeft       = "a temporary state file is left after recovery"
	vNextDispatches = "the next dispatch fails"
)

// runWorkload records w once and checks up to perPoint crash states at
// every stride-th operation.
func runWorkload(t *testing.T, w simWorkload, perPoint, stride int) simStats {
	root := simTempDir(t)
	clock := &simClock{now: w.start}
	opts := append([]lifecycle.Option{lifecycle.WithClock(clock.read)}, w.opts...)
	tab := w.table
	if tab == nil {
		tab = lifecycle.DefaultTable()
	} else {
		opts = append(opts, lifecycle.WithTable(tab))
	}
	dir := filepath.Join(root, w.sub)
	if w.setup != nil {
		w.setup(t, dir, clock, opts)
	}
	rec := newRecorder(t, root)
	s := &simRun{t: t, rec: rec, dir: dir, clock: clock, opts: opts}
	initial := simAck{state: s.stateBytes(), what: "setup", acked: true}
	restore := lifecycle.SetFileSystem(rec)
	w.run(s)
	restore()
	end := clock.read()

	st := simStats{violations: map[string]int{}, examples: map[string]string{}}
	rng := rand.New(rand.NewPCG(1, uint64(len(w.name))))
	states := simTempDir(t)
	n := 0
	for k := 0; k < len(rec.snaps); k += stride {
		// The acknowledged operation: the last one complete by operation k.
		// What the state file may hold: the acknowledged record or any
		// written after it, failed operations' included.
		allowed := append([]simAck{initial}, s.acks...)
		for i, a := range s.acks {
			if a.ops <= k && a.acked {
				allowed = s.acks[i:]
			}
		}
		where := fmt.Sprintf("%s, crash after operation %d", w.name, k)
		if k > 0 {
			where += " (" + rec.what[k-1] + ")"
		}
		for _, c := range crashChoices(rec.snaps[k], perPoint, rng) {
			n++
			cs := filepath.Join(states, fmt.Sprint(n))
			materialize(t, rec.snaps[k], c, cs)
			clock.set(end)
			for _, v := range checkCrashState(filepath.Join(cs, w.sub), allowed, opts, tab) {
				st.violations[v.kind]++
				if _, ok := st.examples[v.kind]; !ok {
					st.examples[v.kind] = where + ": " + v.msg
				}
			}
			require.NoError(t, os.RemoveAll(cs))
			st.states++
		}
	}
	return st
}

type violation struct{ kind, msg string }

// checkCrashState checks C1, C2 and C3 on one crash state.
func checkCrashState(dir string, allowed []simAck, opts []lifecycle.Option, tab *lifecycle.Table) (vs []violation) {
	fail := func(kind, msg string) []violation { return append(vs, violation{kind, msg}) }
	statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
	before, err := os.ReadFile(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		before = nil
	} else if err != nil {
		return fail(vStateCorrupt, err.Error())
	}
	// C1, read as a Python tool would: before any Machine.
	ok := false
	for _, a := range allowed {
		if bytes.Equal(a.state, before) {
			ok = true
		}
	}
	acked := allowed[0]
	if !ok {
		vs = fail(vStateBehind, fmt.Sprintf("after %q the state file holds %s", acked.what, brief(before)))
	}
	var was lifecycle.Record
	if before != nil {
		if was, err = tab.LoadState(statePath); err != nil {
			return fail(vStateCorrupt, err.Error())
		}
	}

	m, err := lifecycle.New(dir, opts...)
	if err != nil {
		return fail(vNewFails, err.Error())
	}
	if err := m.Close(); err != nil {
		return fail(vNewFails, err.Error())
	}
	after, err := tab.LoadState(statePath)
	if err != nil {
		return fail(vNewFails, err.Error())
	}
	if before != nil {
		if was.CurrentState != after.CurrentState || !was.SinceTS.Equal(after.SinceTS) ||
			was.TransitionSeq != after.TransitionSeq || was.WrapperEventSeq != after.WrapperEventSeq {
			vs = fail(vRecordMoved, fmt.Sprintf("%s seq %d -> %s seq %d", was.CurrentState, was.TransitionSeq, after.CurrentState, after.TransitionSeq))
		}
	}
	if acked.state != nil {
		want, err := recordOf(tab, acked.state)
		if err != nil {
			return fail(vAckLost, err.Error())
		}
		if after.TransitionSeq < want.TransitionSeq || after.WrapperEventSeq < want.WrapperEventSeq {
			vs = fail(vAckLost, fmt.Sprintf("after %q: acknowledged seq %d, wrapper_event_seq %d; recovered %d, %d",
				acked.what, want.TransitionSeq, want.WrapperEventSeq, after.TransitionSeq, after.WrapperEventSeq))
		}
	}
	if _, err := invariantsWith(dir, tab); err != nil {
		if strings.Contains(err.Error(), "temporary") {
			return fail(vTempLeft, err.Error())
		}
		vs = fail(vInvariant, err.Error())
	}

	// And the machine carries on: one more transition, in seq.
	m, err = lifecycle.New(dir, opts...)
	if err != nil {
		return fail(vNextDispatches, err.Error())
	}
	ev, g := nextTransition(tab, after.CurrentState)
	_, err = m.Dispatch(ev, g)
	err = errors.Join(err, m.Close())
	if err != nil {
		return fail(vNextDispatches, err.Error())
	}
	if _, err := invariantsWith(dir, tab); err != nil {
		return fail(vNextInvariant, err.Error())
	}
	return vs
}

// nextTransition is an event, with guards, that moves a machine of tab out
// of from: for the default table request_arrived (idle_5min in WAKE).
func nextTransition(tab *lifecycle.Table, from lifecycle.State) (lifecycle.Event, lifecycle.Guards) {
	if tab == lifecycle.DefaultTable() {
		if from == lifecycle.Wake {
			return lifecycle.Idle5Min, lifecycle.Guards{}
		}
		return lifecycle.RequestArrived, lifecycle.Guards{}
	}
	g := lifecycle.Guards{SleepEligible: true, StillIdle: true}
	for _, ev := range tab.Events() {
		if _, changed := tab.Transition(from, ev, g); changed {
			return ev, g
		}
	}
	return lifecycle.Tick, g // NewTable refuses a state with no way out
}

// recordOf decodes a state file's bytes with tab, through a file.
func recordOf(tab *lifecycle.Table, data []byte) (lifecycle.Record, error) {
	dir, err := os.MkdirTemp("", "recordof")
	if err != nil {
		return lifecycle.Record{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return lifecycle.Record{}, err
	}
	return tab.LoadState(path)
}

func brief(state []byte) string {
	if state == nil {
		return "no file"
	}
	var r lifecycle.Record
	if err := json.Unmarshal(state, &r); err != nil {
		return fmt.Sprintf("%q", state)
	}
	return fmt.Sprintf("%s, transition_seq %d, wrapper_event_seq %d", r.CurrentState, r.TransitionSeq, r.WrapperEventSeq)
}

// invariantsErr is invariants' verdict alone.
func invariantsErr(dir string) error {
	_, err := invariants(dir)
	return err
}
