package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// simDay0 is the first day of the workloads, a few seconds before midnight
// so that they cross it.
var simDay0 = time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)

func simWorkloads(randomLives int) []simWorkload {
	day := func(s *simRun, m *lifecycle.Machine) {
		for _, e := range aDay {
			s.dispatch(m, e.ev, e.g)
		}
	}
	history := func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
		m, err := lifecycle.New(dir, opts...)
		require.NoError(t, err)
		for _, e := range aDay[:5] {
			_, err := m.Dispatch(e.ev, e.g)
			require.NoError(t, err)
		}
		require.NoError(t, m.Close())
	}
	ws := []simWorkload{
		{
			name: "New on a missing directory, a day, Update",
			sub:  "a/b/lc", start: simDay0,
			run: func(s *simRun) {
				m := s.newMachine()
				day(s, m)
				_, err := m.Update(func(r *lifecycle.Record) error {
					r.SleepCycleProgress = []byte(`{"step":1}`)
					return nil
				})
				require.NoError(s.t, err)
				s.ack("Update")
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
			},
		},
		{
			name: "New on an existing directory, a day",
			sub:  "lc", start: simDay0, setup: history,
			run: func(s *simRun) {
				m := s.newMachine()
				day(s, m)
				require.NoError(s.t, m.Close())
			},
		},
		{
			name: "the clock steps back across midnight",
			sub:  "lc", start: simDay0.Add(40 * time.Second), setup: history,
			run: func(s *simRun) {
				m := s.newMachine()
				s.dispatch(m, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.clock.set(simDay0) // back to the day before
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				s.dispatch(m, lifecycle.HeartbeatRefresh, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
				m = s.newMachine() // a restart, still on the day before
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
			},
		},
		{
			name: "rotation, and a clock 40 days ahead for one start",
			sub:  "lc", start: simDay0, opts: []lifecycle.Option{lifecycle.WithRetention(24 * time.Hour)},
			setup: func(t *testing.T, dir string, clock *simClock, opts []lifecycle.Option) {
				history(t, dir, clock, opts)
				clock.set(simDay0.Add(2 * 24 * time.Hour))
				history(t, dir, clock, opts) // two days later: rotates the first
			},
			run: func(s *simRun) {
				back := s.clock.read()
				s.clock.set(back.Add(40 * 24 * time.Hour))
				m := s.newMachine() // rotates today's file too
				require.NoError(s.t, m.Close())
				s.clock.set(back)
				m = s.newMachine()
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
			},
		},
	}
	// A dispatch stopped at each step of its write (a kill, or an I/O
	// error), then the next Machine recovers and goes on: all of it
	// recorded, so a power loss may also come after the recovery.
	for _, step := range []string{"temp write", "temp fsync", "rename", "dir fsync", "log write", "log fsync"} {
		ws = append(ws, simWorkload{
			name: "a dispatch stopped at " + step + ", then recovery",
			sub:  "lc", start: simDay0, setup: history,
			run: func(s *simRun) {
				m := s.newMachine()
				s.failAt(m, step, lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true})
				m = s.newMachine()
				s.dispatch(m, lifecycle.Tick, lifecycle.Guards{})
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
			},
		})
	}
	ws = append(ws,
		simWorkload{
			name: "a new day's log file whose writer stopped before syncing its entry",
			sub:  "lc", start: simDay0, setup: history,
			run: func(s *simRun) {
				s.clock.set(simDay0.Add(2 * time.Hour)) // the next UTC day
				m := s.newMachine()
				s.failAt(m, "log fsync", lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true})
				m = s.newMachine()
				s.dispatch(m, lifecycle.RequestArrived, lifecycle.Guards{})
				s.dispatch(m, lifecycle.Idle5Min, lifecycle.Guards{})
				require.NoError(s.t, m.Close())
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
				require.NoError(s.t, m.Close())
			},
		},
	)
	ws = append(ws, jobRunnerWorkload())
	for seed := range uint64(randomLives) {
		ws = append(ws, randomWorkload(seed))
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
					require.NoError(s.t, m.Close())
					m = s.newMachine()
				case r < 10:
					now := s.clock.read()
					s.clock.set(now.Add(time.Duration(rng.IntN(72)-24) * time.Hour))
				case r < 15:
					_, err := m.Update(func(rec *lifecycle.Record) error {
						rec.SleepCycleProgress = []byte(fmt.Sprintf(`{"step":%d}`, rng.IntN(9)))
						return nil
					})
					require.NoError(s.t, err)
					s.ack("Update")
				default:
					g := lifecycle.Guards{SleepEligible: rng.IntN(2) == 0, StillIdle: rng.IntN(2) == 0}
					s.dispatch(m, events[rng.IntN(len(events))], g)
				}
			}
			require.NoError(s.t, m.Close())
		},
	}
}

// TestCrashSimulator crashes every workload at every operation of the
// library's durable writes, in every way the power-loss model allows (up to
// a sample per operation), and checks C1, C2 and C3 on each crash state;
// see crashsim_test.go for the model.
func TestCrashSimulator(t *testing.T) {
	perPoint, stride, lives, want := 160, 1, 24, 10_000
	if testing.Short() {
		perPoint, stride, lives, want = 4, 3, 2, 0
	}
	total := simStats{violations: map[string]int{}, examples: map[string]string{}}
	for _, w := range simWorkloads(lives) {
		t.Run(w.name, func(t *testing.T) {
			st := runWorkload(t, w, perPoint, stride)
			t.Logf("%s", st.report())
			total.add(st)
		})
	}
	t.Logf("all workloads: %s", total.report())
	require.Empty(t, total.violations, total.report())
	require.GreaterOrEqual(t, total.states, want)
}

// jobRunnerWorkload is a daemon of another kind: examples/jobrunner's
// table, whose state file holds the core record and the daemon's own
// fields, with a dispatch stopped between its state file and its log line.
func jobRunnerWorkload() simWorkload {
	tab, err := lifecycle.LoadTable(filepath.Join("examples", "jobrunner", "table.json"))
	if err != nil {
		panic(err)
	}
	if !tab.HasCoreRecord() {
		panic("examples/jobrunner/table.json: want the core record")
	}
	g := lifecycle.Guards{StillIdle: true}
	return simWorkload{
		name: "a job runner of its own table and the core record",
		sub:  "jobs", start: simDay0, table: tab,
		run: func(s *simRun) {
			m := s.newMachine()
			for i := range 2 {
				s.dispatch(m, "job_started", g)
				_, err := m.Update(func(r *lifecycle.Record) error { return r.SetField("jobs_done", i+1) })
				require.NoError(s.t, err)
				s.ack("Update")
				s.dispatch(m, "job_finished", g)
			}
			s.failAt(m, "log write", "drain", g)
			m = s.newMachine()
			s.dispatch(m, "stop", g)
			s.dispatch(m, "start", g)
			require.NoError(s.t, m.Close())
		},
	}
}
