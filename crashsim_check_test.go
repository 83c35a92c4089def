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
	"slices"
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

// simAck is an operation that returned: the recorded operations before it
// began (start) and when it returned (ops), what the state file held then
// (nil: no state file), and whether it returned without error
// (acknowledged). A failed operation is not acknowledged, but what it wrote
// may survive: it is a "later" record.
type simAck struct {
	start, ops int
	what       string
	state      []byte
	acked      bool
	// foreign: another writer's act (a Python tool, an operator), which
	// may leave its data unsynced: until the library acknowledges something
	// after it, a state file that does not load may be its doing.
	foreign bool
	// reset: a foreign act that lowers the record's counters (a state file
	// removed, a record without transition_seq).
	reset bool
	// signal: +1 when wake.signal is there after it, -1 when it is gone,
	// 0 when the operation is not about it.
	signal int8
	// seq: the seq of the transition it made, whose log line must then be
	// on disk (C1); 0 for none.
	seq int64
	// logCut: another writer removed the log (an operator's rm -r).
	logCut bool
	// aside: an operation that neither reads nor writes the state file
	// (the wake signal's), whose acknowledgement says nothing of it.
	aside bool
}

// simMachine is a workload's Machine; after an injected error poisons it,
// the workload goes on with a new one in its place.
type simMachine struct{ m *lifecycle.Machine }

// simRun is a workload being recorded.
type simRun struct {
	t      *testing.T
	name   string
	root   string
	rec    *recorder
	dir    string // the lifecycle directory
	logDir string
	clock  *simClock
	opts   []lifecycle.Option
	acks   []simAck
	faults *faultFS // nil: no injected errors
	stats  simStats // what the run itself found
}

func (s *simRun) stateBytes() []byte {
	data, err := os.ReadFile(filepath.Join(s.dir, lifecycle.DefaultStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(s.t, err)
	return data
}

func (s *simRun) record(a simAck) {
	a.ops, a.state = s.rec.ops(), s.stateBytes()
	s.acks = append(s.acks, a)
}

func (s *simRun) ack(start int, what string) {
	s.record(simAck{start: start, what: what, acked: true})
}

// failed records an operation that returned an error.
func (s *simRun) failed(start int, what string) {
	s.record(simAck{start: start, what: what})
}

// call runs one library call, and tells whether it failed because of an
// error injected during it. Any other error fails the test.
func (s *simRun) call(what string, fn func() error) (injected bool) {
	mark := s.faults.mark()
	err := fn()
	if err == nil {
		if s.faults.firedSince(mark) {
			s.stats.absorbed++
		}
		return false
	}
	if !s.faults.firedSince(mark) {
		s.t.Fatalf("%s: %s failed%s: %v", s.name, what, s.faults.after(), err)
	}
	return true
}

func (s *simRun) newMachine() *simMachine {
	for {
		start := s.rec.ops()
		var m *lifecycle.Machine
		if !s.call("New", func() (err error) { m, err = lifecycle.New(s.dir, s.opts...); return err }) {
			s.ack(start, "New")
			return &simMachine{m}
		}
		s.failed(start, "New") // the error is spent: the next New must work
	}
}

func (s *simRun) close(m *simMachine) {
	require.NoError(s.t, m.m.Close())
}

// machineCall runs fn on m. When an injected error fails it, either nothing
// changed on disk, or m is poisoned: its next call fails at once, touching
// nothing, and a new Machine takes its place.
func (s *simRun) machineCall(m *simMachine, what string, fn func(*lifecycle.Machine) error) {
	start, seq := s.rec.ops(), stateSeq(s.stateBytes())
	if !s.call(what, func() error { return fn(m.m) }) {
		a := simAck{start: start, what: what, acked: true}
		if now := stateSeq(s.stateBytes()); now > seq {
			a.seq = now
		}
		s.record(a)
		return
	}
	s.failed(start, what)
	changed := s.rec.changedSince(start)
	probe := s.rec.ops()
	_, err := m.m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	switch {
	case errors.Is(err, lifecycle.ErrPoisoned):
		s.stats.poisoned++
		if s.rec.ops() != probe {
			s.stats.violation(vPoisonTouches, fmt.Sprintf("%s: %s failed%s; the poisoned Machine's next call did %s",
				s.name, what, s.faults.after(), s.rec.what[probe]))
		}
		s.close(m)
		m.m = s.newMachine().m
	case changed != "":
		s.stats.violation(vNotPoisoned, fmt.Sprintf("%s: %s failed%s after it did %s; the next call returned %v",
			s.name, what, s.faults.after(), changed, err))
		s.close(m)
		m.m = s.newMachine().m
	case err != nil:
		s.t.Fatalf("%s: %s failed%s, changing nothing; the Machine's next tick failed: %v", s.name, what, s.faults.after(), err)
	default:
		s.stats.unchanged++
		s.ack(probe, "tick")
	}
}

func (s *simRun) dispatch(m *simMachine, ev lifecycle.Event, g lifecycle.Guards) {
	s.machineCall(m, string(ev), func(m *lifecycle.Machine) error {
		_, err := m.Dispatch(ev, g)
		return err
	})
}

func (s *simRun) update(m *simMachine, fn func(*lifecycle.Record) error) {
	s.machineCall(m, "Update", func(m *lifecycle.Machine) error {
		_, err := m.Update(fn)
		return err
	})
}

// failAt dispatches ev on m with the step named step failing, as a crash
// or an I/O error there would, and closes m.
func (s *simRun) failAt(m *simMachine, step string, ev lifecycle.Event, g lifecycle.Guards) {
	restore := lifecycle.SetAfterStep(func(st string) error {
		if st == step {
			return errInjected
		}
		return nil
	})
	start, mark := s.rec.ops(), s.faults.mark()
	_, err := m.m.Dispatch(ev, g)
	restore()
	if !s.faults.firedSince(mark) {
		require.ErrorIs(s.t, err, errInjected)
	}
	s.failed(start, string(ev)+" failed at "+step)
	s.close(m)
}

func (s *simRun) writeWakeSignal() {
	for {
		start := s.rec.ops()
		injected := s.call("WriteWakeSignal", func() error { return lifecycle.WriteWakeSignal(s.dir) })
		s.record(simAck{start: start, what: "WriteWakeSignal", acked: !injected, signal: 1, aside: true})
		if !injected {
			return
		}
	}
}

// consumeWakeSignal consumes the signal. Only (true, nil) says that it is
// gone for good; (false, nil) after a failed attempt says nothing of what
// that attempt removed.
func (s *simRun) consumeWakeSignal() {
	for {
		start := s.rec.ops()
		var took bool
		injected := s.call("ConsumeWakeSignal", func() (err error) { took, err = lifecycle.ConsumeWakeSignal(s.dir); return err })
		switch {
		case injected:
			s.record(simAck{start: start, what: "ConsumeWakeSignal", signal: -1, aside: true})
			continue
		case took:
			s.record(simAck{start: start, what: "ConsumeWakeSignal", acked: true, signal: -1, aside: true})
		default:
			s.record(simAck{start: start, what: "ConsumeWakeSignal found none", acked: true, aside: true})
		}
		return
	}
}

func (s *simRun) acquireDaemon() *lifecycle.DaemonLock {
	for {
		var d *lifecycle.DaemonLock
		if !s.call("AcquireDaemon", func() (err error) { d, err = lifecycle.AcquireDaemon(s.dir); return err }) {
			return d
		}
	}
}

// repair runs RepairState until it returns without an error. A call that
// an injected error fails must say which file it failed on, and leave the
// state path holding the bad file or the rebuilt record, the bad bytes kept
// under one of the names. Only a call that repaired acknowledges: one that
// finds the file sound (an earlier call's record, whose directory entry a
// failed sync may have left unsynced) promises nothing of it.
func (s *simRun) repair(bad []byte) {
	path := filepath.Join(s.dir, lifecycle.DefaultStateFile)
	for {
		start := s.rec.ops()
		var r lifecycle.Repair
		var rerr error
		injected := s.call("RepairState", func() error {
			r, rerr = lifecycle.RepairState(s.dir, false, s.opts...)
			return rerr
		})
		if msg := repairedOrBad(s.dir, bad); msg != "" {
			s.stats.violation(vRepairState, fmt.Sprintf("%s: RepairState%s, on the live files: %s", s.name, s.faults.after(), msg))
		}
		if injected {
			if !strings.Contains(rerr.Error(), path) && !strings.Contains(rerr.Error(), s.faults.firedOn) {
				s.stats.violation(vRepairError, fmt.Sprintf("%s: RepairState failed%s with %q", s.name, s.faults.after(), rerr))
			}
			s.failed(start, "RepairState")
			continue
		}
		if r.Problem == nil {
			s.record(simAck{start: start, what: "RepairState found the file sound"})
			return
		}
		got, err := os.ReadFile(r.MovedTo)
		require.NoError(s.t, err)
		require.Equal(s.t, string(bad), string(got), "%s: the bad file moved aside", s.name)
		s.ack(start, "RepairState")
		return
	}
}

// The acts of other writers go to the recorder directly: they are not the
// library's, and no error is injected into them.

// foreignState replaces the state file with data as the Python tools may:
// a temporary file written, not synced, renamed over the state file, and
// the directory not synced either.
func (s *simRun) foreignState(what string, data []byte, reset bool) {
	start := s.rec.ops()
	path := filepath.Join(s.dir, lifecycle.DefaultStateFile)
	tmp := path + ".tmp"
	f, err := s.rec.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	require.NoError(s.t, err)
	_, err = s.rec.Write(f, data)
	require.NoError(s.t, err)
	require.NoError(s.t, f.Close())
	require.NoError(s.t, s.rec.Rename(tmp, path))
	s.record(simAck{start: start, what: what, foreign: true, reset: reset})
}

// removeState removes the state file, as an operator's rm then sync would.
func (s *simRun) removeState() {
	start := s.rec.ops()
	require.NoError(s.t, s.rec.Remove(filepath.Join(s.dir, lifecycle.DefaultStateFile)))
	require.NoError(s.t, s.rec.SyncDir(s.dir))
	s.record(simAck{start: start, what: "state file removed", foreign: true, reset: true})
}

// foreignLine appends line to the log file of day as the Python wrapper
// does: no lock, no fsync.
func (s *simRun) foreignLine(day time.Time, line string) {
	start := s.rec.ops()
	path := filepath.Join(s.logDir, lifecycle.LogFileName(day))
	f, err := s.rec.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(s.t, err)
	_, err = s.rec.Write(f, []byte(line+"\n"))
	require.NoError(s.t, err)
	require.NoError(s.t, f.Close())
	s.record(simAck{start: start, what: "a Python line", foreign: true})
}

// removeLog removes the log directory and everything in it, as an
// operator's rm -r then sync would.
func (s *simRun) removeLog() {
	start := s.rec.ops()
	logDir := s.logDir
	ents, err := os.ReadDir(logDir)
	require.NoError(s.t, err)
	for _, e := range ents {
		require.NoError(s.t, s.rec.Remove(filepath.Join(logDir, e.Name())))
	}
	require.NoError(s.t, s.rec.Remove(logDir))
	require.NoError(s.t, s.rec.SyncDir(filepath.Dir(logDir)))
	s.record(simAck{start: start, what: "log directory removed", foreign: true, logCut: true})
}

// stateSeq is the transition_seq of a state file's bytes, 0 if none.
func stateSeq(data []byte) int64 {
	var r struct {
		TransitionSeq int64 `json:"transition_seq"`
	}
	if json.Unmarshal(data, &r) != nil {
		return 0
	}
	return r.TransitionSeq
}

// simPythonDefault is the record the Python tools write when they find no
// state file: no transition_seq, no last_transition.
func simPythonDefault(now time.Time) []byte {
	ts := lifecycle.FormatTimestamp(now)
	return []byte(`{
  "current_state": "WAKE",
  "since_ts": "` + ts + `",
  "last_activity_ts": "` + ts + `",
  "wrapper_event_seq": 0,
  "sleep_cycle_progress": null,
  "quarantine": null,
  "shadow_run": false,
  "crisis_mode": false,
  "crisis_mode_since_ts": null,
  "essential_variable_consecutive_breaches": 0,
  "essential_variable_consecutive_clears": 0
}`)
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
	name   string
	sub    string // the lifecycle directory, relative to the root
	logSub string // the log directory (WithLogDir), relative to sub; "": the default
	start  time.Time
	opts   []lifecycle.Option
	setup  func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option)
	run    func(s *simRun)
	// corrupt: the bad bytes setup left in the state file, which no crash
	// state may lose (see repairedOrBad).
	corrupt []byte
}

// optsFor is w's options for the lifecycle directory dir.
func (w simWorkload) optsFor(dir string, clock func() time.Time) []lifecycle.Option {
	opts := append([]lifecycle.Option{lifecycle.WithClock(clock)}, w.opts...)
	if w.logSub != "" {
		opts = append(opts, lifecycle.WithLogDir(filepath.Join(dir, w.logSub)))
	}
	return opts
}

// logDirOf is w's log directory for the lifecycle directory dir.
func (w simWorkload) logDirOf(dir string) string {
	if w.logSub != "" {
		return filepath.Join(dir, w.logSub)
	}
	return filepath.Join(dir, lifecycle.DefaultLogDir)
}

// simStats counts crash states, injected errors and what was wrong.
type simStats struct {
	states     int // crash states checked
	tolerated  int // of those, a foreign writer's torn state file, not the library's doing
	injected   int // injected errors that fired
	poisoned   int // of those, calls that failed and poisoned their Machine
	unchanged  int // calls that failed, changed nothing and left their Machine working
	absorbed   int // calls that returned no error although one was injected into them
	violations map[string]int
	examples   map[string]string
}

func newSimStats() simStats {
	return simStats{violations: map[string]int{}, examples: map[string]string{}}
}

func (st *simStats) violation(kind, msg string) {
	if st.violations == nil {
		st.violations, st.examples = map[string]int{}, map[string]string{}
	}
	st.violations[kind]++
	if _, ok := st.examples[kind]; !ok {
		st.examples[kind] = msg
	}
}

func (st *simStats) add(o simStats) {
	st.states += o.states
	st.tolerated += o.tolerated
	st.injected += o.injected
	st.poisoned += o.poisoned
	st.unchanged += o.unchanged
	st.absorbed += o.absorbed
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
	if st.tolerated > 0 {
		fmt.Fprintf(&b, " (%d with another writer's torn state file, not checked)", st.tolerated)
	}
	if st.injected > 0 {
		fmt.Fprintf(&b, ", %d injected errors (%d calls poisoned their Machine, %d changed nothing, %d absorbed the error)",
			st.injected, st.poisoned, st.unchanged, st.absorbed)
	}
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

// The kinds of violation the checker counts, each named by the claim it
// breaks.
const (
	vStateBehind    = "C1: the state file alone holds less than the acknowledged record"
	vStateCorrupt   = "C1: the state file alone does not load"
	vNewFails       = "recovery: New fails on the crash state"
	vAckLost        = "C1: an acknowledged operation is lost after recovery"
	vLineLost       = "C1: an acknowledged transition's log line is not on disk"
	vRecordMoved    = "C3: recovery changed current_state, since_ts, transition_seq or wrapper_event_seq"
	vInvariant      = "C2: after recovery the log's seqs are not 1..N, chained, N = transition_seq, last to = current_state"
	vSeqReused      = "C4: a seq is in the log twice: after a reset the next seq was not above every seq in the log"
	vNextInvariant  = "C2: after recovery and one more transition, the log's seqs are not 1..N, chained"
	vTempLeft       = "recovery: a temporary state file is left after recovery"
	vNextDispatches = "recovery: the next dispatch fails"
	vSignalLost     = "C7: wake.signal, reported written, is gone: an entry it relies on was not durable"
	vSignalBack     = "C7: wake.signal, reported consumed, is back"
	vNotPoisoned    = "poisoning: a call failed after changing the files, and its Machine is not poisoned"
	vPoisonTouches  = "poisoning: a poisoned Machine's next call touched the disk instead of failing fast"
	vOutsideSeam    = "the library changed a directory outside the file-system seam: the crash model is blind to it"
	vRepairState    = "repair: the state path names neither the bad file nor a record, or the bad bytes are lost"
	vRepairError    = "repair: a failed RepairState names neither the state file nor the file it failed on"
	vRepairAgain    = "repair: RepairState run again on the crash state does not repair it"
)

// simSetups keeps what a workload's setup made, to copy for each of the
// many runs of one workload that TestCrashSimulatorInjectedErrors makes.
type simSetups struct {
	t     *testing.T
	roots map[string]string    // workload name: the root its setup made
	now   map[string]time.Time // and the clock after it
}

func newSimSetups(t *testing.T) *simSetups {
	return &simSetups{t: t, roots: map[string]string{}, now: map[string]time.Time{}}
}

// recordWorkload runs w's setup (or copies what setups kept of it), then
// records its run; with faults, every change the library makes goes
// through faults first.
func recordWorkload(t *testing.T, w simWorkload, faults *faultFS, setups *simSetups) *simRun {
	root := simTempDir(t)
	clock := &simClock{now: w.start}
	dir := filepath.Join(root, w.sub)
	opts := w.optsFor(dir, clock.read)
	switch {
	case w.setup == nil:
	case setups == nil:
		w.setup(t, dir, clock, opts)
	default:
		kept, ok := setups.roots[w.name]
		if !ok {
			kept = simTempDir(setups.t)
			keptDir := filepath.Join(kept, w.sub)
			w.setup(t, keptDir, clock, w.optsFor(keptDir, clock.read))
			setups.roots[w.name], setups.now[w.name] = kept, clock.now
		}
		require.NoError(t, os.CopyFS(root, os.DirFS(kept)))
		clock.set(setups.now[w.name])
	}
	rec := newRecorder(t, root)
	s := &simRun{t: t, name: w.name, root: root, rec: rec, dir: dir, logDir: w.logDirOf(dir), clock: clock, opts: opts, faults: faults, stats: newSimStats()}
	s.acks = []simAck{{what: "setup", state: s.stateBytes(), acked: true}}
	var seam lifecycle.FileSystem = rec
	if faults != nil {
		faults.rec, faults.FileSystem, seam = rec, rec, faults
		s.name += faults.String()
	}
	restore := lifecycle.SetFileSystem(seam)
	defer restore()
	w.run(s)
	for _, d := range rec.diverged {
		s.stats.violation(vOutsideSeam, s.name+": "+d)
	}
	return s
}

// runWorkload records w once and checks up to perPoint crash states at
// every stride-th operation.
func runWorkload(t *testing.T, w simWorkload, perPoint, stride int) simStats {
	s := recordWorkload(t, w, nil, nil)
	var points []int
	for k := 0; k < len(s.rec.snaps); k += stride {
		points = append(points, k)
	}
	if last := len(s.rec.snaps) - 1; points[len(points)-1] != last {
		points = append(points, last)
	}
	st := s.stats
	st.add(checkPoints(t, w, s, points, perPoint))
	return st
}

// crashExpect is what a crash state may hold at one point of a workload.
type crashExpect struct {
	// The state file: allowed[0]'s (the acknowledged operation's) or that
	// of an operation begun after it.
	allowed []simAck
	// A foreign writer acted since the acknowledged operation: a state file
	// that does not load may be its doing.
	foreignPending bool
	// What wake.signal may be (+1 there, -1 gone); nil when no operation on
	// it has been acknowledged.
	signals []int8
	// The last acknowledged operation on wake.signal.
	signalWhat string
	// The seqs of the acknowledged transitions, whose lines must be in the
	// log (those before another writer removed it excepted).
	logged []int64
	// Another writer removed the log: its first seq may be above 1.
	logCut bool
	// The bad bytes of a corrupt state file that a repair mends, or nil:
	// the state path may hold them, and they must never be lost.
	bad []byte
}

// expectAt is what a crash after operation k may hold.
func expectAt(acks []simAck, k int) crashExpect {
	last := 0
	for i, a := range acks {
		if a.acked && a.ops <= k && !a.aside {
			last = i
		}
	}
	e := crashExpect{allowed: []simAck{acks[last]}}
	for _, a := range acks[last+1:] {
		if a.start <= k {
			e.allowed = append(e.allowed, a)
			e.foreignPending = e.foreignPending || a.foreign
		}
	}
	for _, a := range acks {
		switch {
		case a.logCut && a.start <= k:
			e.logged, e.logCut = nil, true
		case a.acked && a.ops <= k && a.seq > 0:
			e.logged = append(e.logged, a.seq)
		}
	}
	sig := -1
	for i, a := range acks {
		if a.acked && a.ops <= k && a.signal != 0 {
			sig = i
		}
	}
	if sig >= 0 {
		e.signals, e.signalWhat = []int8{acks[sig].signal}, acks[sig].what
		for _, a := range acks[sig+1:] {
			if a.start <= k && a.signal != 0 {
				e.signals = append(e.signals, a.signal)
			}
		}
	}
	return e
}

// checkPoints checks up to perPoint crash states after each operation in
// points of the recorded run s.
func checkPoints(t *testing.T, w simWorkload, s *simRun, points []int, perPoint int) simStats {
	end := s.clock.read()
	st := newSimStats()
	rng := rand.New(rand.NewPCG(1, uint64(len(w.name))))
	states := simTempDir(t)
	defer func() { require.NoError(t, os.RemoveAll(states)) }()
	n := 0
	for _, k := range points {
		e := expectAt(s.acks, k)
		e.bad = w.corrupt
		where := fmt.Sprintf("%s, crash after operation %d", s.name, k)
		if k > 0 {
			where += " (" + s.rec.what[k-1] + ")"
		}
		for _, c := range crashChoices(s.rec.snaps[k], perPoint, rng) {
			n++
			cs := filepath.Join(states, fmt.Sprint(n))
			materialize(t, s.rec.snaps[k], c, cs)
			s.clock.set(end)
			csDir := filepath.Join(cs, w.sub)
			vs, tolerated := checkCrashState(csDir, w.logDirOf(csDir), e, w.optsFor(csDir, s.clock.read))
			for _, v := range vs {
				st.violation(v.kind, where+": "+v.msg)
			}
			if tolerated {
				st.tolerated++
			}
			require.NoError(t, os.RemoveAll(cs))
			st.states++
		}
	}
	return st
}

type violation struct{ kind, msg string }

// checkCrashState checks C1, C2, C3, C4 and C7 on one crash state.
// tolerated is true when the state file does not load because a foreign
// writer had not synced it, which the library cannot help.
func checkCrashState(dir, logDir string, e crashExpect, opts []lifecycle.Option) (vs []violation, tolerated bool) {
	fail := func(kind, msg string) []violation { return append(vs, violation{kind, msg}) }
	statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
	acked := e.allowed[0]
	if e.signals != nil {
		_, err := os.Lstat(filepath.Join(dir, lifecycle.WakeSignalFile))
		there := int8(-1)
		if err == nil {
			there = 1
		}
		if !slices.Contains(e.signals, there) {
			if there > 0 {
				vs = fail(vSignalBack, "after "+e.signalWhat)
			} else {
				vs = fail(vSignalLost, "after "+e.signalWhat)
			}
		}
	}
	if len(e.logged) > 0 {
		if missing := missingSeqs(logDir, e.logged); missing != "" {
			vs = fail(vLineLost, missing)
		}
	}
	if e.bad != nil {
		if msg := repairedOrBad(dir, e.bad); msg != "" {
			vs = fail(vRepairState, msg)
		}
	}
	before, err := os.ReadFile(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		before = nil
	} else if err != nil {
		return fail(vStateCorrupt, err.Error()), false
	}
	unrepaired := e.bad != nil && bytes.Equal(before, e.bad)
	if before != nil && !unrepaired {
		if _, err := lifecycle.LoadState(statePath); err != nil {
			if e.foreignPending {
				return vs, true
			}
			return fail(vStateCorrupt, fmt.Sprintf("after %q: %v", acked.what, err)), false
		}
	}
	// C1, read as a Python tool would: before any Machine.
	match := -1
	for i, a := range e.allowed {
		if bytes.Equal(a.state, before) {
			match = i
			break
		}
	}
	if match < 0 && !(e.bad != nil && before == nil) { // repairedOrBad said so
		vs = fail(vStateBehind, fmt.Sprintf("after %q the state file holds %s, not %s", acked.what, brief(before), brief(acked.state)))
	}
	// A reset another writer made since the acknowledged operation may
	// lower the counters; what is then owed is only what came after it.
	resetSince := false
	for _, a := range e.allowed[1:max(match+1, 1)] {
		resetSince = resetSince || a.reset
	}

	// A repair a crash stopped before its record was in place: run again,
	// it mends the file and keeps the bad bytes.
	if unrepaired {
		r, err := lifecycle.RepairState(dir, false, opts...)
		switch {
		case err != nil:
			return fail(vRepairAgain, err.Error()), false
		case r.Problem == nil:
			return fail(vRepairAgain, "it finds the bad file sound"), false
		}
		if msg := repairedOrBad(dir, e.bad); msg != "" {
			return fail(vRepairAgain, msg), false
		}
		if before, err = os.ReadFile(statePath); err != nil {
			return fail(vRepairAgain, err.Error()), false
		}
	}

	m, err := lifecycle.New(dir, opts...)
	if err != nil {
		return fail(vNewFails, err.Error()), false
	}
	if err := m.Close(); err != nil {
		return fail(vNewFails, err.Error()), false
	}
	after, err := lifecycle.LoadState(statePath)
	if err != nil {
		return fail(vNewFails, err.Error()), false
	}
	if before != nil {
		var was lifecycle.Record
		if err := json.Unmarshal(before, &was); err != nil {
			return fail(vStateCorrupt, err.Error()), false
		}
		if was.CurrentState != after.CurrentState || !was.SinceTS.Equal(after.SinceTS) ||
			was.TransitionSeq != after.TransitionSeq || was.WrapperEventSeq != after.WrapperEventSeq {
			vs = fail(vRecordMoved, fmt.Sprintf("%s seq %d -> %s seq %d", was.CurrentState, was.TransitionSeq, after.CurrentState, after.TransitionSeq))
		}
	}
	if acked.state != nil && !resetSince && !bytes.Equal(acked.state, e.bad) {
		var want lifecycle.Record
		if err := json.Unmarshal(acked.state, &want); err != nil {
			return fail(vAckLost, err.Error()), false
		}
		if after.TransitionSeq < want.TransitionSeq || after.WrapperEventSeq < want.WrapperEventSeq {
			vs = fail(vAckLost, fmt.Sprintf("after %q: acknowledged seq %d, wrapper_event_seq %d; recovered %d, %d",
				acked.what, want.TransitionSeq, want.WrapperEventSeq, after.TransitionSeq, after.WrapperEventSeq))
		}
	}
	if kind, msg := simInvariants(dir, logDir, vInvariant, e.logCut); kind != "" {
		vs = fail(kind, msg)
		if kind == vTempLeft {
			return vs, false
		}
	}

	// And the machine carries on: one more transition, in seq.
	m, err = lifecycle.New(dir, opts...)
	if err != nil {
		return fail(vNextDispatches, err.Error()), false
	}
	ev := lifecycle.RequestArrived
	if after.CurrentState == lifecycle.Wake {
		ev = lifecycle.Idle5Min
	}
	_, err = m.Dispatch(ev, lifecycle.Guards{})
	err = errors.Join(err, m.Close())
	if err != nil {
		return fail(vNextDispatches, err.Error()), false
	}
	if kind, msg := simInvariants(dir, logDir, vNextInvariant, e.logCut); kind != "" {
		return fail(kind, msg), false
	}
	return vs, false
}

// simInvariants checks C2 and C4 in dir once a Machine has held the lock,
// and returns the kind of the first violation (chain for C2's) and what it
// is, or "". C2: the state_transition lines that carry a seq, in seq order,
// are 1..N, each from the previous one's to, the first from WAKE, the last
// to current_state; N is transition_seq unless the record is a reset's
// (no state file, or one without transition_seq: its seq is the log's).
// C4: no seq is logged twice. No temporary state file is left. After
// another writer removed the log (cut), the first seq may be any.
func simInvariants(dir, logDir, chain string, cut bool) (kind, msg string) {
	statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
	rec, err := lifecycle.LoadState(statePath)
	if err != nil {
		return chain, err.Error()
	}
	reset := true
	if data, err := os.ReadFile(statePath); err == nil {
		var raw map[string]json.RawMessage
		reset = json.Unmarshal(data, &raw) != nil || raw["transition_seq"] == nil
	}
	type line struct {
		From, To lifecycle.State
		Seq      *int64
		raw      string
	}
	var lines []line
	_, err = lifecycle.ReadLog(logDir, lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			var l line
			if err := json.Unmarshal(e.Raw, &l); err != nil {
				return err
			}
			if l.Seq != nil {
				l.raw = string(e.Raw)
				lines = append(lines, l)
			}
			return nil
		})
	if err != nil {
		return chain, err.Error()
	}
	sort.SliceStable(lines, func(i, j int) bool { return *lines[i].Seq < *lines[j].Seq })
	for i := 1; i < len(lines); i++ {
		if *lines[i].Seq == *lines[i-1].Seq {
			return vSeqReused, fmt.Sprintf("seq %d is logged twice: %s and %s", *lines[i].Seq, lines[i-1].raw, lines[i].raw)
		}
	}
	prev, first := lifecycle.Wake, int64(1)
	if cut && len(lines) > 0 {
		prev, first = lines[0].From, *lines[0].Seq
	}
	for i, l := range lines {
		if *l.Seq != first+int64(i) {
			return chain, fmt.Sprintf("line %d of %d has seq %d", i+1, len(lines), *l.Seq)
		}
		if l.From != prev {
			return chain, fmt.Sprintf("seq %d is from %s, the previous line went to %s", *l.Seq, l.From, prev)
		}
		prev = l.To
	}
	if top := first + int64(len(lines)) - 1; !reset && (len(lines) > 0 || !cut) && top != rec.TransitionSeq {
		return chain, fmt.Sprintf("the log's transitions end at seq %d, transition_seq is %d", top, rec.TransitionSeq)
	}
	if prev != rec.CurrentState {
		return chain, fmt.Sprintf("the last transition went to %s, the state is %s", prev, rec.CurrentState)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return chain, err.Error()
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "."+lifecycle.DefaultStateFile) {
			return vTempLeft, fmt.Sprintf("temporary file %s left", e.Name())
		}
	}
	return "", ""
}

// repairedOrBad checks the files of dir while a corrupt state file whose
// bytes are bad is repaired: the state path names the bad file or a record
// that loads, and the bad bytes are under the state path or beside it,
// under a STATEFILE.corrupt- name. It says what is wrong, or is "".
func repairedOrBad(dir string, bad []byte) string {
	statePath := filepath.Join(dir, lifecycle.DefaultStateFile)
	data, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no state file"
	case err != nil:
		return err.Error()
	case !bytes.Equal(data, bad):
		if _, err := lifecycle.LoadState(statePath); err != nil {
			return "the state file is neither the bad file nor a record: " + err.Error()
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	for _, e := range ents {
		name := e.Name()
		if name != lifecycle.DefaultStateFile && !strings.HasPrefix(name, lifecycle.DefaultStateFile+".corrupt-") {
			continue
		}
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil && bytes.Equal(data, bad) {
			return ""
		}
	}
	return "the bad bytes are under no name"
}

// missingSeqs names the seqs of want that no state_transition line in
// logDir carries, or is "".
func missingSeqs(logDir string, want []int64) string {
	have := map[int64]bool{}
	_, err := lifecycle.ReadLog(logDir, lifecycle.LogQuery{Kind: "state_transition"},
		func(e lifecycle.LogEntry) error {
			if seq, ok := seqOf(e.Raw); ok {
				have[seq] = true
			}
			return nil
		})
	if err != nil {
		return err.Error()
	}
	var missing []string
	for _, seq := range want {
		if !have[seq] {
			missing = append(missing, fmt.Sprint(seq))
		}
	}
	if missing == nil {
		return ""
	}
	return "acknowledged seqs missing from the log: " + strings.Join(missing, ", ")
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
