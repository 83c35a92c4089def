package bench

import (
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// benchmarkHistory summarises the whole generated log by UTC day per op, as
// `lifecyclectl history` does, and reports lines per second (every line of
// the log, as for ReadLog, so that the two compare) and the heap's
// high-water mark over all ops.
func benchmarkHistory(b *testing.B, lines int) {
	fx := fixture(b, lines)
	h := lifecycle.History{Dir: fx.dir}
	until := time.Now()
	peak := startHeapPeak()
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		days, transitions := 0, 0
		st, err := h.Days(time.Time{}, until, func(d lifecycle.DaySummary) error {
			days++
			transitions += d.Transitions
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if st.Log.Malformed != 0 || st.Invalid != 0 || st.Unordered != 0 || int64(st.Transitions) != fx.transitions ||
			days != fixtureDays || int64(transitions) != fx.transitions {
			b.Fatalf("Days: %+v over %d days, %d transitions; want %d days, %d transitions, no line skipped",
				st, days, transitions, fixtureDays, fx.transitions)
		}
		total += fx.lines
	}
	peak.stop()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(peak.peak), "peak-heap-bytes")
}

// BenchmarkHistory100k summarises a log of 100,000 lines (half of them
// transitions) over 30 days; with the 1M case, it shows that the memory
// History needs does not grow with the log.
func BenchmarkHistory100k(b *testing.B) { benchmarkHistory(b, 100_000) }

// BenchmarkHistory1M summarises a log of 1,000,000 lines over 30 days, three
// of them gzip-compressed: compare with BenchmarkReadLog1M, the read it is
// built on.
func BenchmarkHistory1M(b *testing.B) {
	skipLarge(b, 1_000_000)
	benchmarkHistory(b, 1_000_000)
}
