package daemon

import (
	"sync"
	"sync/atomic"
	"time"
)

// requests carries the server's requests to the loop. Requests are
// coalesced: however many arrive, the loop makes one request_arrived
// dispatch per tick in WAKE, and one per wake-up of the loop otherwise.
type requests struct {
	n      atomic.Int64 // requests ever reported: still_idle compares it
	lastAt atomic.Int64 // when the latest came, as a monotonic offset (see Daemon.now)
	// undispatched: a request came since the last request_arrived
	// dispatch; the tick in WAKE dispatches one for them.
	undispatched atomic.Bool

	mu        sync.Mutex
	wait      bool          // a request waits for the loop to move the machine
	served    chan struct{} // closed once the loop has handled the waiting requests
	interrupt func()        // cancels the sleep step in progress, if any
	poke      chan struct{} // wakes the loop; one token is enough
}

func newRequests() *requests {
	return &requests{served: make(chan struct{}), poke: make(chan struct{}, 1)}
}

// report records a request. It is the fast path: atomics only.
func (r *requests) report(at time.Duration) {
	r.n.Add(1)
	r.lastAt.Store(int64(at))
	if !r.undispatched.Load() {
		r.undispatched.Store(true)
	}
}

func (r *requests) count() int64 { return r.n.Load() }

func (r *requests) latest() time.Duration { return time.Duration(r.lastAt.Load()) }

// await asks the loop to move the machine for the requests reported so far:
// it interrupts the sleep step in progress and wakes the loop. The channel
// is closed once the loop has done so.
func (r *requests) await() <-chan struct{} {
	r.mu.Lock()
	r.wait = true
	ch, interrupt := r.served, r.interrupt
	r.mu.Unlock()
	if interrupt != nil {
		interrupt()
	}
	select {
	case r.poke <- struct{}{}:
	default:
	}
	return ch
}

// waiting reports whether a request waits for the loop.
func (r *requests) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wait
}

// take hands the waiting requests to the loop, which closes the returned
// channel once it has dispatched for them; later requests wait for the
// next take. ok is false when none waits.
func (r *requests) take() (served chan struct{}, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.wait {
		return nil, false
	}
	served, r.served, r.wait = r.served, make(chan struct{}), false
	return served, true
}

// onWaiting sets the function that await calls (the sleep step's cancel)
// until the returned function is called.
func (r *requests) onWaiting(fn func()) (stop func()) {
	r.mu.Lock()
	r.interrupt = fn
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.interrupt = nil
		r.mu.Unlock()
	}
}
