package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// gate decides when the listeners handed to Daemon.Listener accept. Before
// the loop decides to hibernate it pauses them: no Accept is in progress
// and none starts, so every connection this process will ever serve has
// been accepted and is counted as in flight when the decision is made, and
// every later one waits in the kernel's queue for the next instance. If
// the daemon does not hibernate, they resume.
type gate struct {
	mu       sync.Mutex
	cond     sync.Cond // signalled when paused, inAccept or a listener's closed changes
	paused   bool
	ended    bool // Run has ended: paused for good
	inAccept int  // Accept calls inside the wrapped listeners' Accept
	lns      []*listener
}

// longAgo is a deadline in the past: it ends an Accept in progress at once.
var longAgo = time.Unix(1, 0)

// deadliner is a listener whose Accept a deadline can end: *net.TCPListener
// and *net.UnixListener.
type deadliner interface {
	SetDeadline(time.Time) error
}

// Listener returns ln wrapped so that the daemon controls when it accepts,
// and counts each connection it accepts as in flight until the connection
// is closed (see Begin): a daemon does not sleep or hibernate with a client
// connected, even one whose first request is slow to come or half sent.
// Before the loop decides to hibernate it stops accepting, and resumes if
// it does not hibernate; once Run has ended, Accept waits until the
// listener is closed. A connection that arrives while it does not accept
// waits in the socket's queue: under socket activation the service manager
// holds the socket and hands it, with its queue, to the next instance.
//
// Serve the clients on the returned listener only, and close every
// connection it returns: an open one keeps the daemon awake. ln must have
// a SetDeadline method, as *net.TCPListener and *net.UnixListener (and so
// the listeners Listen returns) have; the daemon sets ln's deadline itself.
func (d *Daemon) Listener(ln net.Listener) (net.Listener, error) {
	if many, ok := ln.(*listeners); ok {
		// Several sockets (Listen's): the gate goes between each socket
		// and the goroutine that accepts from it, so that none takes a
		// connection from the kernel's queue while the gate is shut.
		gated := make([]net.Listener, len(many.lns))
		for i, one := range many.lns {
			g, err := d.Listener(one)
			if err != nil {
				return nil, err
			}
			gated[i] = g
		}
		return newListeners(gated), nil
	}
	dl, ok := ln.(deadliner)
	if !ok {
		return nil, fmt.Errorf("daemon: a %T listening on %s has no SetDeadline: the daemon cannot stop its Accept", ln, ln.Addr())
	}
	l := &listener{Listener: ln, dl: dl, d: d}
	g := &d.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lns = append(g.lns, l)
	if g.paused {
		_ = dl.SetDeadline(longAgo) // fails only on a closed listener, whose Accept fails anyway
	}
	return l, nil
}

// pause stops every listener from accepting and waits for the Accept calls
// in progress to return; the connections they got are counted in flight
// when it returns.
func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		for _, l := range g.lns {
			_ = l.dl.SetDeadline(longAgo) // fails only on a closed listener
		}
	}
	for g.inAccept > 0 {
		g.cond.Wait()
	}
}

// resume lets the listeners accept again, unless Run has ended.
func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused || g.ended {
		return
	}
	g.paused = false
	for _, l := range g.lns {
		_ = l.dl.SetDeadline(time.Time{}) // fails only on a closed listener
	}
	g.cond.Broadcast()
}

// end pauses the listeners for good: Run has ended.
func (g *gate) end() {
	g.pause()
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
}

// listener is a listener the gate controls.
type listener struct {
	net.Listener
	dl     deadliner
	d      *Daemon
	closed bool // under the gate's mutex
}

// Accept waits while the gate is paused, then accepts a connection and
// counts it in flight before the gate can pause again.
func (l *listener) Accept() (net.Conn, error) {
	g := &l.d.gate
	for {
		g.mu.Lock()
		for g.paused && !l.closed {
			g.cond.Wait()
		}
		if l.closed {
			g.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
		}
		g.inAccept++
		g.mu.Unlock()

		c, err := l.Listener.Accept()

		g.mu.Lock()
		g.inAccept--
		if err == nil {
			l.d.active.Add(1)
		}
		g.cond.Broadcast()
		g.mu.Unlock()
		switch {
		case err == nil:
			return &conn{Conn: c, d: l.d}, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // the gate's deadline: wait for it to reopen
		}
		return nil, err
	}
}

// Close closes the listener; an Accept waiting on the gate returns.
func (l *listener) Close() error {
	g := &l.d.gate
	g.mu.Lock()
	l.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
	return l.Listener.Close()
}

// conn is a connection accepted through the gate: in flight until closed.
type conn struct {
	net.Conn
	d    *Daemon
	done atomic.Bool
}

// Close closes the connection and ends its time in flight.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.done.CompareAndSwap(false, true) {
		c.d.End()
	}
	return err
}

// NetConn returns the connection the listener accepted, for its own
// methods (CloseWrite, SetKeepAlive, File). Close this one, not that.
func (c *conn) NetConn() net.Conn { return c.Conn }
