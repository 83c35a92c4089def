//go:build unix

package lifecycle

import (
	"log/slog"
	"runtime/debug"
	"sync"
)

// WithObserver adds fn to the functions the Machine calls after each
// transition, once the transition is durable (in the log and the state
// file). Several observers are called in the order they were added.
//
//   - Order: transitions are delivered one at a time, in seq order, across
//     all the goroutines that dispatch on the Machine. Observers are never
//     called concurrently with each other.
//   - Goroutine: an observer runs on a goroutine that called Dispatch, after
//     the Machine's mutex and file lock are released. Normally that is the
//     goroutine whose dispatch made the transition, before its Dispatch
//     returns; but if another goroutine is already delivering, that one
//     delivers this transition too, and this Dispatch returns without
//     waiting for it.
//   - Re-entrance: an observer may call Dispatch, Update or Snapshot on its
//     Machine; nothing is locked while it runs. A transition made that way
//     is delivered after the current one, once the observer returns (the
//     inner Dispatch itself returns first).
//   - Panics: a panic in an observer is recovered and reported through the
//     Machine's logger at Error level, with the transition and the stack.
//     It does not escape Dispatch, which returns its result as usual (the
//     transition is durable), and later observers and transitions are
//     delivered. An observer that blocks holds up the delivery of later
//     transitions, not dispatching.
//   - Not delivered: transitions of a dispatch that returned an error, and
//     the log line recovery restores from the state file (it belongs to a
//     dispatch of an earlier Machine that crashed before returning); the
//     restored line is reported through the logger. A new Machine's
//     observers start from the state Snapshot shows.
//
// A nil fn is ignored.
func WithObserver(fn func(Transition)) Option {
	return func(c *config) {
		if fn != nil {
			c.observers.fns = append(c.observers.fns, fn)
		}
	}
}

// observers delivers a Machine's transitions to its observer functions, one
// at a time and in seq order, outside the Machine's locks. A transition is
// queued under the Machine's mutex, so the queue is in seq order; after the
// locks are released, the dispatching goroutine delivers the queue unless
// another goroutine is doing so already, in which case that one delivers it.
// That way a re-entrant Dispatch (an observer's) queues its transition and
// returns, and the delivering goroutine picks it up next: nothing waits for
// anything held by the goroutine it is running on.
type observers struct {
	fns []func(Transition) // set by the options, read-only afterwards

	mu         sync.Mutex
	pending    []Transition // made durable, not yet delivered
	delivering bool         // a goroutine is draining pending
}

// queue records a durable transition. The caller holds the Machine's mutex.
func (o *observers) queue(tr Transition) {
	if len(o.fns) == 0 {
		return
	}
	o.mu.Lock()
	o.pending = append(o.pending, tr)
	o.mu.Unlock()
}

// deliver calls the observers for every queued transition, unless another
// goroutine is delivering. The caller holds none of the Machine's locks.
func (o *observers) deliver(logger *slog.Logger) {
	if len(o.fns) == 0 {
		return
	}
	o.mu.Lock()
	if o.delivering {
		o.mu.Unlock()
		return
	}
	o.delivering = true
	locked := true
	// Deferred, so that an observer ending its goroutine (runtime.Goexit,
	// t.FailNow in a test) does not leave the queue stuck: the next
	// dispatch delivers what is left.
	defer func() {
		if !locked {
			o.mu.Lock()
		}
		o.delivering = false
		o.mu.Unlock()
	}()
	for len(o.pending) > 0 {
		tr := o.pending[0]
		o.pending = o.pending[1:]
		if len(o.pending) == 0 {
			o.pending = nil
		}
		o.mu.Unlock()
		locked = false
		for _, fn := range o.fns {
			call(fn, tr, logger)
		}
		o.mu.Lock()
		locked = true
	}
}

// call runs one observer, recovering a panic and reporting it.
func call(fn func(Transition), tr Transition, logger *slog.Logger) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("lifecycle observer panicked", "panic", p, "from", tr.From, "to", tr.To,
				"event", tr.Event, "seq", tr.Seq, "stack", string(debug.Stack()))
		}
	}()
	fn(tr)
}
