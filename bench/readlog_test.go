package bench

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// heapPeak samples the bytes of heap objects (live, and dead but not yet
// swept: what the heap actually holds, the garbage collector's pacing
// included) every few milliseconds in a goroutine of its own and keeps the
// highest value seen. A reader that kept lines would show here in
// proportion to the log; one that streams stays near the collector's
// minimum heap target (4 MiB at GOGC=100).
type heapPeak struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  uint64
}

const heapSampleEvery = 2 * time.Millisecond

func startHeapPeak() *heapPeak {
	runtime.GC() // start from what is live, not from the setup's garbage
	p := &heapPeak{stopc: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	p.sample(samples)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(heapSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				p.sample(samples)
				return
			case <-t.C:
				p.sample(samples)
			}
		}
	}()
	return p
}

func (p *heapPeak) sample(s []metrics.Sample) {
	metrics.Read(s)
	p.peak = max(p.peak, s[0].Value.Uint64())
}

func (p *heapPeak) stop() {
	close(p.stopc)
	p.wg.Wait()
}

// benchmarkReadLog streams the whole generated log per op and reports lines
// per second and the heap's high-water mark over all ops.
func benchmarkReadLog(b *testing.B, lines int) {
	fx := fixture(b, lines)
	noop := func(lifecycle.LogEntry) error { return nil }
	peak := startHeapPeak()
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		st, err := lifecycle.ReadLog(fx.dir, lifecycle.LogQuery{}, noop)
		if err != nil {
			b.Fatal(err)
		}
		if st.Entries != lines || st.Malformed != 0 {
			b.Fatalf("ReadLog: %+v, want %d entries, none malformed", st, lines)
		}
		total += st.Entries
	}
	peak.stop()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(peak.peak), "peak-heap-bytes")
}

// BenchmarkReadLog100k reads a log of 100,000 lines over 30 days: with the
// 1M case, it shows that the reader's memory does not grow with the log.
func BenchmarkReadLog100k(b *testing.B) { benchmarkReadLog(b, 100_000) }

// BenchmarkReadLog1M reads a log of 1,000,000 lines over 30 days, three of
// them gzip-compressed.
func BenchmarkReadLog1M(b *testing.B) {
	skipLarge(b, 1_000_000)
	benchmarkReadLog(b, 1_000_000)
}
