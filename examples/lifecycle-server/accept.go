package main

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Back-off after a failed accept (out of descriptors, say: the connection
// stays queued, and the next accept fails the same way at once until a
// descriptor frees), and how often a failing accept is reported.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	acceptReportEach = 10 * time.Second
)

// acceptGuard keeps the accept loop from exhausting the process's
// descriptors, from spinning and from flooding the log when accepting
// fails, and the connections it accepts from holding a descriptor for
// good (timedConn).
type acceptGuard struct {
	slots      chan struct{} // one per connection open; nil: no cap
	stop       chan struct{} // closed when the listener closes
	stopOnce   sync.Once
	line, idle time.Duration
	log        *slog.Logger

	// The accept loop's own.
	backoff  time.Duration
	failures int       // since the last report
	reported time.Time // the last report
}

// newAcceptGuard caps open connections at maxConns (0: the descriptor
// limit less a reserve, for the state file, the logs and the notify
// socket; negative: no cap).
func newAcceptGuard(maxConns int, line, idle time.Duration, log *slog.Logger) *acceptGuard {
	g := &acceptGuard{stop: make(chan struct{}), line: line, idle: idle, log: log}
	if maxConns == 0 {
		maxConns = autoMaxConns()
	}
	if maxConns > 0 {
		g.slots = make(chan struct{}, maxConns)
	}
	return g
}

// autoMaxConns is the descriptor limit less a reserve of an eighth of it,
// at least 16 and at most 256; at least 1.
func autoMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 20 // no usable limit: a cap that is none
	}
	limit := int(rl.Cur)
	return max(limit-min(max(limit/8, 16), 256), 1)
}

// wait takes a slot for the next connection, waiting while every slot is
// taken (connections then wait in the listening socket's queue, where they
// cost this process nothing). False: the listener closed meanwhile.
func (g *acceptGuard) wait() bool {
	if g.slots == nil {
		return true
	}
	select {
	case g.slots <- struct{}{}:
		return true
	case <-g.stop:
		return false
	}
}

// release gives a slot back.
func (g *acceptGuard) release() {
	if g.slots != nil {
		<-g.slots
	}
}

// wrap makes c a connection that times out and gives its slot back when
// closed.
func (g *acceptGuard) wrap(c net.Conn) net.Conn {
	return &timedConn{Conn: c, line: g.line, idle: g.idle, release: g.release}
}

// failed reports a failed accept, at most once per acceptReportEach (a
// failing accept fails again as soon as it is retried: one line each would
// flood the log), and waits, longer each time. False: the listener closed
// meanwhile.
func (g *acceptGuard) failed(err error) bool {
	g.failures++
	if now := time.Now(); g.reported.IsZero() || now.Sub(g.reported) >= acceptReportEach {
		g.log.Warn("server: accept failed; retrying with back-off (reported at most every "+acceptReportEach.String()+")",
			"failures", g.failures, "err", err)
		g.failures, g.reported = 0, now
	}
	g.backoff = min(max(2*g.backoff, acceptBackoffMin), acceptBackoffMax)
	t := time.NewTimer(g.backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-g.stop:
		return false
	}
}

// succeeded ends a run of failures: the next one waits the least again.
func (g *acceptGuard) succeeded() { g.backoff = 0 }

// close ends every wait: the listener is closed.
func (g *acceptGuard) close() { g.stopOnce.Do(func() { close(g.stop) }) }
