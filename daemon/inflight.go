package daemon

import (
	"context"

	"github.com/iai-mcp/lifecycle"
)

// Begin reports a request, as Request does, and marks it in flight until
// the matching End. While anything is in flight (a request between Begin
// and End, or a connection accepted through Listener and not yet closed)
// the daemon is active: each tick tells the idle policy so
// (lifecycle.Observation.Active, a heartbeat_refresh), a daemon found in
// SLEEP is woken, and no sleep cycle ends in HIBERNATION. Use it for a
// request that takes time to serve (a long poll, a stream); Request alone
// is enough for one answered at once.
//
// Every call must be followed by exactly one End, whatever Begin returned:
// defer d.End(). In WAKE it costs a few atomic operations, as Request does.
func (d *Daemon) Begin(ctx context.Context) (lifecycle.State, error) {
	d.active.Add(1)
	return d.Request(ctx)
}

// End ends a request that Begin marked in flight. The idle clock starts
// again from the end of the last one. An End without its Begin is ignored.
func (d *Daemon) End() {
	d.req.lastAt.Store(int64(d.now()))
	for {
		n := d.active.Load()
		if n <= 0 || d.active.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// inFlight reports whether a request or a connection is in flight.
func (d *Daemon) inFlight() bool { return d.active.Load() > 0 }
