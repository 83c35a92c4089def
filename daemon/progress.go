package daemon

import "context"

// progressKey is the context key under which a sleep step's context carries
// its Daemon.
type progressKey struct{}

// Progress tells the kit that the sleep step running with ctx is making
// progress. The service manager's watchdog is fed by the loop's own
// progress: between steps the loop feeds it itself, but a step that may run
// longer than half the watchdog interval (WatchdogSec) must call Progress as
// it works, or the manager takes the daemon for hung and kills it. It costs
// a clock reading when no ping is due, and does nothing for a ctx that is
// not a sleep step's. Safe from any goroutine.
func Progress(ctx context.Context) {
	if d, ok := ctx.Value(progressKey{}).(*Daemon); ok {
		d.note.alive()
	}
}
