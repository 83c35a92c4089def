// Command ratios reads `go test -bench` output from this module's
// benchmarks (a file named on the command line, or standard input) and
// prints the ratios the library's docs/performance.md quotes, each
// computed from the medians of the runs in that output, with the target it
// is held to.
//
// Usage:
//
//	go run ./cmd/ratios bench-output.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// The Python original's figures, measured on this machine outside this
// module (issue #6): a durable dispatch, and a tick (lock, read, parse).
// BenchmarkPythonTick measures the tick in the same run when python3 is
// there; its figure is used instead.
const (
	pythonDispatchNs = 680_000
	pythonTickNs     = 16_000
)

func main() {
	in := io.Reader(os.Stdin)
	name := "standard input"
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "ratios:", err)
			os.Exit(1)
		}
		defer f.Close()
		in, name = f, os.Args[1]
	}
	res, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	if len(res) == 0 {
		fmt.Fprintf(os.Stderr, "ratios: no benchmark results in %s\n", name)
		os.Exit(1)
	}
	report(os.Stdout, res)
}

// results holds every value of every benchmark and unit: results[name][unit].
// Names are without "Benchmark" and the -GOMAXPROCS suffix.
type results map[string]map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines: name, iterations, then value-unit pairs.
func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// median of name's values in unit; ok is false when there are none.
func (r results) median(name, unit string) (float64, bool) {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 1 {
		return vs[n/2], true
	} else {
		return (vs[n/2-1] + vs[n/2]) / 2, true
	}
}

// row is one line of the report: what, the figure, the target, and whether
// the figure meets it ("" when there is no target or no figure).
type row struct{ what, figure, target, verdict string }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func report(w io.Writer, r results) {
	ns := func(name string) (float64, bool) { return r.median(name, "ns/op") }
	var rows []row
	missing := func(what string, names ...string) {
		var absent []string
		for _, n := range names {
			if r[n] == nil {
				absent = append(absent, n)
			}
		}
		rows = append(rows, row{what, "n/a (not in this run: " + strings.Join(absent, ", ") + ")", "", ""})
	}

	// The pure function against the faster peer.
	ct, okCT := ns("Cycle/ComputeTransition")
	peer, peerNs, okPeer := "", 0.0, false
	for _, p := range []string{"Cycle/looplab-fsm", "Cycle/stateless"} {
		if v, ok := ns(p); ok && (!okPeer || v < peerNs) {
			peer, peerNs, okPeer = strings.TrimPrefix(p, "Cycle/"), v, true
		}
	}
	if okCT && okPeer {
		x := peerNs / ct
		rows = append(rows, row{"ComputeTransition vs the faster peer (" + peer + ")", fmt.Sprintf("%.1f× faster", x), "≥ 50×", verdict(x >= 50)})
	} else {
		missing("ComputeTransition vs the faster peer", "Cycle/ComputeTransition", "Cycle/looplab-fsm", "Cycle/stateless")
	}
	if a, ok := r.median("Cycle/ComputeTransition", "allocs/op"); ok {
		rows = append(rows, row{"ComputeTransition allocations", fmt.Sprintf("%g allocs/op", a), "0", verdict(a == 0)})
	}

	// Durable Dispatch against the floors.
	tr, okTr := ns("DispatchTransition/log=0")
	for _, f := range []struct{ name, what, target string }{
		{"Floor3Fsync", "Dispatch transition / 3-fsync floor", "≤ 1.15×"},
		{"Floor2Fsync", "Dispatch transition / 2-fsync floor (no directory fsync)", ""},
	} {
		fl, ok := ns(f.name)
		if !ok || !okTr {
			missing(f.what, "DispatchTransition/log=0", f.name)
			continue
		}
		x := tr / fl
		v := ""
		if f.target != "" {
			v = verdict(x <= 1.15)
		}
		rows = append(rows, row{f.what, fmt.Sprintf("%.2f× (%s vs %s)", x, dur(tr), dur(fl)), f.target, v})
	}
	if tick, ok := ns("DispatchTick"); ok && okTr {
		x := tr / tick
		rows = append(rows, row{"Dispatch tick / transition", fmt.Sprintf("1/%.0f (%s vs %s)", x, dur(tick), dur(tr)), "< 1/20", verdict(x > 20)})
	} else {
		missing("Dispatch tick / transition", "DispatchTick", "DispatchTransition/log=0")
	}
	for _, name := range []string{"DispatchTransition/log=0", "DispatchTick"} {
		if a, ok := r.median(name, "allocs/op"); ok {
			b, _ := r.median(name, "B/op")
			rows = append(rows, row{"Allocations per Dispatch (" + strings.TrimPrefix(name, "Dispatch") + ")", fmt.Sprintf("%g allocs, %g B", a, b), "small", ""})
		}
	}

	// Scale: a million-line log.
	for _, s := range []struct{ what, name, unit, target string }{
		{"Dispatch transition, log=1M / log=0", "DispatchTransition", "ns/op", "≈ 1 (no growth)"},
		{"New, log=1M / log=0 (recovery reads the newest day)", "New", "ns/op", ""},
	} {
		big, ok1 := r.median(s.name+"/log=1M", s.unit)
		small, ok0 := r.median(s.name+"/log=0", s.unit)
		if !ok1 || !ok0 {
			missing(s.what, s.name+"/log=0", s.name+"/log=1M")
			continue
		}
		x, v := big/small, ""
		if s.target != "" {
			v = verdict(x < 1.25)
		}
		rows = append(rows, row{s.what, fmt.Sprintf("%.2f× (%s vs %s)", x, dur(big), dur(small)), s.target, v})
	}
	for _, reader := range []string{"ReadLog", "History"} {
		big, ok1 := r.median(reader+"1M", "peak-heap-bytes")
		small, ok0 := r.median(reader+"100k", "peak-heap-bytes")
		what := reader + " peak heap, 1M / 100k lines"
		if !ok1 || !ok0 {
			missing(what, reader+"100k", reader+"1M")
		} else {
			x := big / small
			rows = append(rows, row{what, fmt.Sprintf("%.2f× (%s vs %s)", x, mib(big), mib(small)), "≈ 1 (no growth)", verdict(x < 1.5)})
		}
		for _, name := range []string{reader + "1M", reader + "100k"} {
			if v, ok := r.median(name, "lines/s"); ok {
				rows = append(rows, row{reader + " throughput (" + strings.TrimPrefix(name, reader) + " lines)", fmt.Sprintf("%.0f lines/s", v), "", ""})
			}
		}
	}
	// History is ReadLog plus reading each transition and summing days.
	if h, ok := r.median("History1M", "lines/s"); !ok {
		missing("History / ReadLog throughput, 1M lines", "History1M")
	} else if rl, ok := r.median("ReadLog1M", "lines/s"); !ok {
		missing("History / ReadLog throughput, 1M lines", "ReadLog1M")
	} else {
		rows = append(rows, row{"History / ReadLog throughput, 1M lines", fmt.Sprintf("%.2f×", h/rl), "", ""})
	}

	// The Python original, measured elsewhere: a table of its own.
	var py []row
	if okTr {
		x := pythonDispatchNs / tr
		py = append(py, row{fmt.Sprintf("durable dispatch: Python ~%s / Go %s", dur(pythonDispatchNs), dur(tr)), fmt.Sprintf("Go %.2f× faster", x), "> 1×", verdict(x > 1)})
	}
	if tick, ok := ns("DispatchTick"); ok {
		pyTick, where := float64(pythonTickNs), "~"
		if v, ok := ns("PythonTick"); ok {
			pyTick, where = v, "" // measured in this run, beside the Go tick
		}
		x := pyTick / tick
		py = append(py, row{fmt.Sprintf("tick: Python %s%s / Go %s", where, dur(pyTick), dur(tick)), fmt.Sprintf("Go %.2f× faster", x), "≥ 3×", verdict(x >= 3)})
	}

	n := 0
	for _, m := range r {
		for _, vs := range m {
			n = max(n, len(vs))
		}
	}
	fmt.Fprintf(w, "Ratios of medians (up to %d runs per benchmark)\n\n", n)
	table(w, rows)
	if len(py) > 0 {
		fmt.Fprintf(w, "\nAgainst the Python original: the durable dispatch is a constant measured elsewhere on this machine (issue #6); the tick is measured in this run when python3 is there\n\n")
		table(w, py)
	}
}

func table(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tmeasured\ttarget\t")
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.what, x.figure, x.target, x.verdict)
	}
	tw.Flush()
}

// dur formats nanoseconds in the unit that suits them.
func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.1f ns", ns)
	}
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
