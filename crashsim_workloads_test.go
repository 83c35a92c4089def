package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// simDay0 is the first day of the workloads, a few seconds before midnight
// so that they cross it.
var simDay0 = time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)

// simHistory is a setup: a Machine's first five events (WAKE to SLEEP).
func simHistory(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
	simHistoryOf(t, dir, opts, aDay[:5])
}

// simFullDay is a setup: a whole day, back to WAKE, so that a reset (whose
// record is WAKE) continues the chain of transitions.
func simFullDay(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
	simHistoryOf(t, dir, opts, aDay)
}

func simHistoryOf(t *testing.T, dir string, opts []lifecycle.Option, events []simEvent) {
	m, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	for _, e := range events {
		_, err := m.Dispatch(e.ev, e.g)
		require.NoError(t, err)
	}
	require.NoError(t, m.Close())
}

// simRotated is a setup: a whole day, then a Machine opened 40 days later,
// which rotates it: the log is .gz files only.
func simRotated(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
	simFullDay(t, dir, clock, opts)
	clock.set(simDay0.Add(40 * 24 * time.Hour))
	m, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	files, err := lifecycle.LogFiles(filepath.Join(dir, lifecycle.DefaultLogDir))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		require.True(t, f.Gzip, "%s is not rotated", f.Path)
	}
}

// simTorn is a state file torn mid-write, as a disk may leave it.
var simTorn = []byte(`{
  "current_state": "SLEEP",
  "since_ts": "2026-11-25T23:5`)

// simCorrupted is a setup: five events (WAKE to SLEEP), then the state
// file's bytes replaced by bad.
func simCorrupted(bad []byte) func(*testing.T, string, *simClock, []lifecycle.Option) {
	return func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
		simHistory(t, dir, clock, opts)
		require.NoError(t, os.WriteFile(filepath.Join(dir, lifecycle.DefaultStateFile), bad, 0o600))
	}
}

// simPythonHeartbeat is the state file as a Python tool rewrites it for a
// heartbeat: wrapper_event_seq and last_activity_ts moved, the rest kept.
func simPythonHeartbeat(t *testing.T, dir string, now time.Time) []byte {
	r, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
	require.NoError(t, err)
	r.WrapperEventSeq++
	r.LastActivityTS = now
	data, err := json.Marshal(r)
	require.NoError(t, err)
	return data
}

// simScripted is the scripted workloads: the daemon's ordinary life, and a
// dispatch stopped at each step of its write.
func simScripted() []simWorkload {
	day := func(s *simRun, m *simMachine) {
		for _, e := range aDay {
			s.dispatch(m, e.ev, e.g)
		}
	}
	ws := []simWorkload{
		{
			name: "New on a missing directory, a day, Update",
			sub:  "a/b/lc", start: simDay0,
			run: func(s *simRun) {
				m := s.newMachine()
				day(s, m)
				s.update(m, func(r *lifecycle.Record) error {
					r.SleepCycleProgress = []byte(`{"step":1}`)
					return nil
				})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			name: "New on an existing directory, a day",
			sub:  "lc", start: simDay0, setup: simHistory,
			run: func(s *simRun) {
				m := s.newMachine()
				day(s, m)
				s.close(m)
			},
		},
		{
			name: "the clock steps back across midnight",
			sub:  "lc", start: simDay0.Add(40 * time.Second), setup: simHistory,
			run: func(s *simRun) {
				m := s.newMachine()
				s.dispatch(m, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.clock.set(simDay0) // back to the day before
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.dispatch(m, lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				s.close(m)
				m = s.newMachine() // a restart, still on the day before
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			name: "rotation, and a clock 40 days ahead for one start",
			sub:  "lc", start: simDay0, opts: []lifecycle.Option{lifecycle.WithRetention(24 * time.Hour)},
			setup: func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
				simHistory(t, dir, clock, opts)
				clock.set(simDay0.Add(2 * 24 * time.Hour))
				simHistory(t, dir, clock, opts) // two days later: rotates the first
			},
			run: func(s *simRun) {
				back := s.clock.read()
				s.clock.set(back.Add(40 * 24 * time.Hour))
				m := s.newMachine() // rotates today's file too
				s.close(m)
				s.clock.set(back)
				m = s.newMachine()
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
	}
	// A dispatch stopped at each step of its write (a kill, or an I/O
	// error), then the next Machine recovers and goes on: all of it
	// recorded, so a power loss may also come after the recovery.
	for _, step := range simSteps {
		ws = append(ws, simWorkload{
			name: "a dispatch stopped at " + step + ", then recovery",
			sub:  "lc", start: simDay0, setup: simHistory,
			run: func(s *simRun) {
				m := s.newMachine()
				s.failAt(m, step, lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true})
				m = s.newMachine()
				s.dispatch(m, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.close(m)
			},
		})
	}
	return append(ws,
		simWorkload{
			name: "a new day's log file whose writer stopped before syncing its entry",
			sub:  "lc", start: simDay0, setup: simHistory,
			run: func(s *simRun) {
				s.clock.set(simDay0.Add(2 * time.Hour)) // the next UTC day
				m := s.newMachine()
				s.failAt(m, "log fsync", lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true})
				m = s.newMachine()
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
		simWorkload{
			name: "directories made by a process that stopped before syncing them",
			sub:  "a/lc", start: simDay0,
			run: func(s *simRun) {
				require.NoError(s.t, s.rec.Mkdir(filepath.Dir(s.dir), 0o700))
				require.NoError(s.t, s.rec.Mkdir(s.dir, 0o700))
				m := s.newMachine()
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
	)
}

// The steps of a durable write, as durable.go names them.
var simSteps = []string{"temp write", "temp fsync", "rename", "dir fsync", "log write", "log fsync"}

// simTargeted is the workloads that take the library where a slip in its
// durability shows: small, so that every operation of each is crashed in
// every configuration. Each names the claim it watches.
func simTargeted() []simWorkload {
	rotated := []lifecycle.Option{lifecycle.WithRetention(24 * time.Hour)}
	ws := []simWorkload{
		{
			// C7: mkdirAll syncs the parent of each directory it makes;
			// WriteWakeSignal syncs only the signal's own directory.
			name: "WriteWakeSignal into a new directory, then a daemon boots on it",
			sub:  "a/lc", start: simDay0,
			run: func(s *simRun) {
				s.writeWakeSignal()
				d := s.acquireDaemon()
				m := s.newMachine()
				s.consumeWakeSignal()
				s.dispatch(m, lifecycle.WakeSignal, lifecycle.Guards{})
				s.writeWakeSignal()
				s.close(m)
				require.NoError(s.t, d.Release())
			},
		},
		{
			// C7: a directory that is there may be a killed process's,
			// whose entry it never synced.
			name: "WriteWakeSignal into directories another process made and did not sync",
			sub:  "a/lc", start: simDay0,
			run: func(s *simRun) {
				require.NoError(s.t, s.rec.Mkdir(filepath.Dir(s.dir), 0o700))
				require.NoError(s.t, s.rec.Mkdir(s.dir, 0o700))
				s.writeWakeSignal()
				m := s.newMachine()
				s.consumeWakeSignal()
				s.close(m)
			},
		},
		{
			name: "AcquireDaemon on a new directory, then a tool's WriteWakeSignal",
			sub:  "a/lc", start: simDay0,
			run: func(s *simRun) {
				d := s.acquireDaemon()
				s.writeWakeSignal()
				m := s.newMachine()
				s.consumeWakeSignal()
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.close(m)
				require.NoError(s.t, d.Release())
			},
		},
		{
			// C4: every day rotated, a reset's seq must come from the .gz files.
			name: "the state file removed after every day is rotated (a reset)",
			sub:  "lc", start: simDay0, opts: rotated, setup: simRotated,
			run: func(s *simRun) {
				s.removeState()
				m := s.newMachine()
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			// C1, C4: a record met while the Machine stays open, not inside
			// New, whose own syncs would hide a missing one.
			name: "a Python default record, unsynced, while a Machine stays open, every day rotated",
			sub:  "lc", start: simDay0, opts: rotated, setup: simRotated,
			run: func(s *simRun) {
				m := s.newMachine()
				s.foreignState("a Python default record", simPythonDefault(s.clock.read()), true)
				s.dispatch(m, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			name: "a Python default record, unsynced, then New",
			sub:  "lc", start: simDay0, setup: simFullDay,
			run: func(s *simRun) {
				s.foreignState("a Python default record", simPythonDefault(s.clock.read()), true)
				m := s.newMachine()
				s.dispatch(m, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			name: "a Python heartbeat, unsynced, while a Machine stays open",
			sub:  "lc", start: simDay0, setup: simFullDay,
			run: func(s *simRun) {
				m := s.newMachine()
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.foreignState("a Python heartbeat", simPythonHeartbeat(s.t, s.dir, s.clock.read()), false)
				s.dispatch(m, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(m, lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				s.close(m)
			},
		},
		{
			// A rotation copies what the plain file holds in the page
			// cache: it must sync it first.
			name: "the Machine's daily rotation of a day with an unsynced Python line",
			sub:  "lc", start: simDay0, opts: rotated, setup: simHistory,
			run: func(s *simRun) {
				m := s.newMachine()
				s.foreignLine(simDay0, `{"ts":"2026-11-25T23:59:30+00:00","event":"wrapper_event"}`)
				s.clock.set(simDay0.Add(3 * 24 * time.Hour))
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.close(m)
			},
		},
	}
	ws = append(ws, simWorkload{
		// A repair stopped anywhere leaves the state path on the bad file
		// (run it again) or on the rebuilt record, never on nothing, and
		// the bad bytes under one of the names.
		name: "a torn state file repaired from the log, then a Machine goes on",
		sub:  "lc", start: simDay0, setup: simCorrupted(simTorn), corrupt: simTorn,
		run: func(s *simRun) {
			s.repair(simTorn)
			m := s.newMachine()
			s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
			s.close(m)
		},
	})
	ws = append(ws, simWorkload{
		// C7: a log directory made again while the Machine stays open
		// has its entry synced before a line in it is acknowledged.
		name: "the log directory (in a directory of its own) removed while a Machine stays open",
		sub:  "lc", logSub: "var/logs", start: simDay0, setup: simFullDay,
		run: func(s *simRun) {
			m := s.newMachine()
			s.removeLog()
			s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
			s.dispatch(m, lifecycle.HeartbeatRefresh, lifecycle.Guards{})
			s.close(m)
		},
	})
	// C1, C2, C7: another Machine (another process) stopped inside its
	// write while this one stays open; what it left is met by a dispatch.
	for _, step := range []string{"rename", "log write"} {
		ws = append(ws, simWorkload{
			name: "a second Machine stopped at " + step + " while the first stays open",
			sub:  "lc", start: simDay0, setup: simFullDay,
			run: func(s *simRun) {
				a := s.newMachine()
				b := s.newMachine()
				s.failAt(b, step, lifecycle.Idle5Min, lifecycle.Guards{})
				s.dispatch(a, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(a, lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				s.close(a)
			},
		})
	}
	return ws
}

// randomWorkload is a long random life: every event with random guards,
// Updates, restarts, and a clock that runs on, steps back across midnight
// or jumps ahead for a while, with rotation on.
func randomWorkload(seed uint64) simWorkload {
	return simWorkload{
		name: fmt.Sprintf("random life %d", seed),
		sub:  "lc", start: simDay0.Add(-time.Hour),
		opts: []lifecycle.Option{lifecycle.WithRetention(48 * time.Hour)},
		run: func(s *simRun) {
			rng := rand.New(rand.NewPCG(seed, 7))
			events := lifecycle.Events()
			m := s.newMachine()
			for range 70 {
				switch r := rng.IntN(100); {
				case r < 5:
					s.close(m)
					m = s.newMachine()
				case r < 10:
					now := s.clock.read()
					s.clock.set(now.Add(time.Duration(rng.IntN(72)-24) * time.Hour))
				case r < 15:
					step := rng.IntN(9)
					s.update(m, func(rec *lifecycle.Record) error {
						rec.SleepCycleProgress = []byte(fmt.Sprintf(`{"step":%d}`, step))
						return nil
					})
				default:
					g := lifecycle.Guards{SleepEligible: rng.IntN(2) == 0, StillIdle: rng.IntN(2) == 0}
					s.dispatch(m, events[rng.IntN(len(events))], g)
				}
			}
			s.close(m)
		},
	}
}

// TestCrashSimulator crashes every workload at every operation of the
// library's durable writes, in every way the power-loss model allows (up to
// a sample per operation), and checks C1 to C4 and C7 on each crash state;
// see crashsim_test.go for the model. The targeted workloads are crashed at
// every operation in every configuration, -short included.
// LIFECYCLE_CRASHSIM=long checks more states and more random lives.
func TestCrashSimulator(t *testing.T) {
	perPoint, stride, lives, want := 160, 1, 8, 5_000
	targetedPerPoint := 64
	switch {
	case os.Getenv("LIFECYCLE_CRASHSIM") == "long":
		perPoint, lives, targetedPerPoint, want = 400, 64, 400, 50_000
	case testing.Short():
		perPoint, stride, lives, targetedPerPoint, want = 4, 3, 1, 8, 0
	}
	total := newSimStats()
	run := func(ws []simWorkload, perPoint, stride int) {
		for _, w := range ws {
			if len(total.violations) > 0 {
				// A slip shows in many workloads at once: say what the
				// first one found, rather than check them all.
				t.Logf("skipped %q: an earlier workload failed", w.name)
				continue
			}
			t.Run(w.name, func(t *testing.T) {
				st := runWorkload(t, w, perPoint, stride)
				t.Logf("%s", st.report())
				total.add(st)
			})
		}
	}
	run(simTargeted(), targetedPerPoint, 1)
	run(simScripted(), perPoint, stride)
	var random []simWorkload
	for seed := range uint64(lives) {
		random = append(random, randomWorkload(seed))
	}
	run(random, perPoint, stride)
	t.Logf("all workloads: %s", total.report())
	require.Empty(t, total.violations, total.report())
	require.GreaterOrEqual(t, total.states, want)
}
