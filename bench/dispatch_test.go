package bench

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
)

// logSizes are the logs the Dispatch and New benchmarks run over: none, and
// a million lines over 30 days with today's file holding 1/30 of them.
var logSizes = []struct {
	name  string
	lines int
}{
	{"log=0", 0},
	{"log=1M", 1_000_000},
}

// skipLarge skips the million-line cases under -short.
func skipLarge(b *testing.B, lines int) {
	if lines > 100_000 && testing.Short() {
		b.Skip("-short: no million-line log")
	}
}

// The floors come first in this file, so that go test runs them right
// before the Dispatch benchmarks they are compared with.

func benchmarkFloor(b *testing.B, syncDir bool) {
	f := newFloor(b, b.TempDir())
	b.ReportAllocs()
	for b.Loop() {
		if err := f.transition(syncDir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor3Fsync is the floor of a durable transition: state temp
// file fsync, directory fsync after the rename, log fsync.
func BenchmarkFloor3Fsync(b *testing.B) { benchmarkFloor(b, true) }

// BenchmarkFloor2Fsync leaves out the directory fsync, as the Python
// original does; a power loss can then undo the rename. The library no
// longer does: it is here to show what the directory fsync costs.
func BenchmarkFloor2Fsync(b *testing.B) { benchmarkFloor(b, false) }

// BenchmarkDispatchTransition is a durable transition per op, alternating
// idle_5min and heartbeat_refresh between WAKE and DROWSY, with the
// Machine's default options.
func BenchmarkDispatchTransition(b *testing.B) {
	for _, size := range logSizes {
		b.Run(size.name, func(b *testing.B) {
			skipLarge(b, size.lines)
			dir, fx := machineDir(b, size.lines)
			m, err := lifecycle.New(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			events := [2]lifecycle.Event{lifecycle.Idle5Min, lifecycle.HeartbeatRefresh}
			want := [2]lifecycle.State{lifecycle.Drowsy, lifecycle.Wake}
			if fx.final == lifecycle.Drowsy {
				events[0], events[1] = events[1], events[0]
				want[0], want[1] = want[1], want[0]
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s, err := m.Dispatch(events[i&1], lifecycle.Guards{})
				if err != nil {
					b.Fatal(err)
				}
				if s != want[i&1] {
					b.Fatalf("dispatch %d: %s, want %s", i, s, want[i&1])
				}
			}
		})
	}
}

// BenchmarkDispatchTick is a no-op dispatch per op: a tick, which changes
// nothing and writes nothing.
func BenchmarkDispatchTick(b *testing.B) {
	dir, _ := machineDir(b, 0)
	m, err := lifecycle.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{}); err != nil || s != lifecycle.Drowsy {
			b.Fatalf("tick: %s, %v", s, err)
		}
	}
}

// BenchmarkPythonTick is the Python original's tick (python/tick.py: lock,
// read, parse, compare, unlock) on the same directory as
// BenchmarkDispatchTick, right after it, so that the two are compared from
// one run. Its ns/op is the script's own timing of at least 20,000 ticks,
// without Python's start-up.
func BenchmarkPythonTick(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 not found")
	}
	dir, _ := machineDir(b, 0)
	m, err := lifecycle.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}); err != nil {
		b.Fatal(err)
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join("python", "tick.py"), dir, strconv.Itoa(max(b.N, 20_000))).Output()
	if err != nil {
		b.Fatalf("python/tick.py: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("python/tick.py printed %q: %v", out, err)
	}
	b.ReportMetric(ns, "ns/op")
}

// BenchmarkNew opens and closes a Machine per op, with its recovery check
// (which reads the newest day of the log) and its daily rotation check.
func BenchmarkNew(b *testing.B) {
	for _, size := range logSizes {
		b.Run(size.name, func(b *testing.B) {
			skipLarge(b, size.lines)
			dir, fx := machineDir(b, size.lines)
			b.ReportAllocs()
			for b.Loop() {
				m, err := lifecycle.New(dir)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Close(); err != nil {
					b.Fatal(err)
				}
			}
			// Nothing to recover or rotate: the state is still the log's.
			rec, err := lifecycle.LoadState(filepath.Join(dir, lifecycle.DefaultStateFile))
			if err != nil {
				b.Fatal(err)
			}
			if rec.CurrentState != fx.final || rec.TransitionSeq != fx.transitions {
				b.Fatalf("state %s seq %d after New, want %s seq %d", rec.CurrentState, rec.TransitionSeq, fx.final, fx.transitions)
			}
		})
	}
}
