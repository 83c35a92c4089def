package daemon

import (
	"context"

	"github.com/iai-mcp/lifecycle"
)

// recordServed dispatches request_arrived for the requests reported since
// the last one, if any: a daemon stopped between two ticks would otherwise
// lose the activity it served in WAKE. The loop has ended, so ctx is gone:
// it waits for the lock for at most the lock wait, and a lock still busy
// then is logged, not an error. It narrates nothing and notifies nothing:
// STOPPING=1 is, or is about to be, the manager's last word.
func (d *Daemon) recordServed() error {
	if !d.req.undispatched.Swap(false) {
		return nil
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), d.cfg.lockWait, errLockWait)
	defer cancel()
	_, err := d.m.DispatchContext(ctx, lifecycle.RequestArrived, lifecycle.Guards{})
	if busy(err) {
		d.log.Warn("daemon: the requests served since the last tick are not recorded: "+whyBusy(err), "err", err)
		return nil
	}
	return err
}
