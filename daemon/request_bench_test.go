package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
)

// BenchmarkRequestAwake is the cost of Request in WAKE, the server's hot
// path, from every core at once. No tick comes during the benchmark, so it
// measures the report alone, not the coalesced dispatch.
//
//	go test ./daemon -run '^$' -bench RequestAwake
func BenchmarkRequestAwake(b *testing.B) {
	benchAwake(b, func(d *daemon.Daemon, ctx context.Context) (lifecycle.State, error) { return d.Request(ctx) })
}

// BenchmarkBeginEndAwake is the cost of a request marked in flight in
// WAKE: Begin and End.
//
//	go test ./daemon -run '^$' -bench BeginEndAwake
func BenchmarkBeginEndAwake(b *testing.B) {
	benchAwake(b, func(d *daemon.Daemon, ctx context.Context) (lifecycle.State, error) {
		defer d.End()
		return d.Begin(ctx)
	})
}

// benchAwake runs call from every core at once on a daemon in WAKE.
func benchAwake(b *testing.B, call func(*daemon.Daemon, context.Context) (lifecycle.State, error)) {
	d, err := daemon.Open(b.TempDir(), daemon.WithTick(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	result := make(chan error, 1)
	go func() {
		_, err := d.Run(ctx)
		result <- err
	}()
	b.Cleanup(func() { // after b.Context is cancelled
		if err := <-result; err != nil {
			b.Error(err)
		}
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	})
	<-d.Ready()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st, err := call(d, ctx); err != nil || st != lifecycle.Wake {
				b.Errorf("Request: %s, %v", st, err)
				return
			}
		}
	})
}
