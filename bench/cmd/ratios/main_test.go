package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkCycle/ComputeTransition-2   	100	 5.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCycle/ComputeTransition-2   	100	 7.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCycle/ComputeTransition-2   	100	 6.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkCycle/looplab-fsm-2         	100	 600 ns/op	 289 B/op	 5 allocs/op
BenchmarkCycle/stateless-2           	100	 300 ns/op	 64 B/op	 1 allocs/op
BenchmarkFloor3Fsync-2               	100	 500000 ns/op	 352 B/op	 5 allocs/op
BenchmarkDispatchTransition/log=0-2  	100	 550000 ns/op	 13288 B/op	 271 allocs/op
BenchmarkDispatchTick-2              	100	 5000 ns/op	 6408 B/op	 176 allocs/op
BenchmarkReadLog1M-2                 	1	 2000000000 ns/op	 500000 lines/s	 5000000 peak-heap-bytes	 1 B/op	 1 allocs/op
BenchmarkHistory1M-2                 	1	 2500000000 ns/op	 400000 lines/s	 6000000 peak-heap-bytes	 1 B/op	 1 allocs/op
--- BENCH: BenchmarkReadLog1M-2
    fixture_test.go:83: generated 1000000 log lines
PASS
`

func TestParseAndReport(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := r.median("Cycle/ComputeTransition", "ns/op"); !ok || m != 6 {
		t.Errorf("median %v, %v; want 6", m, ok)
	}
	if m, _ := r.median("ReadLog1M", "peak-heap-bytes"); m != 5e6 {
		t.Errorf("peak heap %v", m)
	}
	var out strings.Builder
	report(&out, r)
	for _, want := range []string{
		"ComputeTransition vs the faster peer (stateless)",
		"50.0× faster",
		"Dispatch transition / 3-fsync floor",
		"1.10× (550.0 µs vs 500.0 µs)",
		"1/110 (5.0 µs vs 550.0 µs)",
		"n/a (not in this run: Floor2Fsync)",
		"tick: Python ~16.0 µs / Go 5.0 µs",
		"Go 3.20× faster",
		"Go 1.24× faster",
		"measured elsewhere on this machine",
		"0.80×",
		"History throughput (1M lines)",
		"n/a (not in this run: History100k)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
