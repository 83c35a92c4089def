package daemon

import (
	"errors"
	"net"
	"sync"
)

// listeners accepts from several listening sockets, as one net.Listener.
// One goroutine per socket accepts and hands each connection (or error)
// to Accept; it accepts the next one only once Accept has taken it, so at
// most one connection per socket is out of the kernel's queue and not yet
// the caller's.
//
// The goroutines start at the first Accept or Close, so that a Daemon's
// Listener can put its gate between each socket and its goroutine first.
type listeners struct {
	lns   []net.Listener
	start sync.Once
	out   chan accepted // unbuffered: a hand-over, not a queue
	done  chan struct{} // closed by Close
	ended chan struct{} // closed once every accepting goroutine has returned

	mu   sync.Mutex
	left []net.Conn // accepted as Close came, for Accept to return

	closeOnce sync.Once
	closeErr  error
}

type accepted struct {
	c   net.Conn
	err error
}

func newListeners(lns []net.Listener) *listeners {
	return &listeners{lns: lns, out: make(chan accepted), done: make(chan struct{}), ended: make(chan struct{})}
}

// run starts a goroutine accepting from each socket.
func (l *listeners) run() {
	var wg sync.WaitGroup
	for _, ln := range l.lns {
		wg.Go(func() { l.acceptFrom(ln) })
	}
	go func() {
		wg.Wait()
		close(l.ended)
	}()
}

// acceptFrom accepts from ln until it is closed.
func (l *listeners) acceptFrom(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case l.out <- accepted{c, err}:
			// An error (out of descriptors, say) waits for the caller to
			// take it too: the caller's back-off paces this loop.
		case <-l.done:
			if c != nil {
				l.mu.Lock()
				l.left = append(l.left, c)
				l.mu.Unlock()
			}
			return
		}
	}
}

// Accept returns the next connection on any of the sockets. Once the
// listener is closed, it returns the connections accepted as Close came,
// then an error wrapping net.ErrClosed.
func (l *listeners) Accept() (net.Conn, error) {
	l.start.Do(l.run)
	select {
	case a := <-l.out:
		return a.c, a.err
	case <-l.ended:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.left); n > 0 {
		c := l.left[n-1]
		l.left = l.left[:n-1]
		return c, nil
	}
	return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
}

// Close closes every socket; only the first call does.
func (l *listeners) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.start.Do(l.run) // so that Accept, after Close, ends
		errs := make([]error, len(l.lns))
		for i, ln := range l.lns {
			errs[i] = ln.Close()
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// Addr is the first socket's address.
func (l *listeners) Addr() net.Addr { return l.lns[0].Addr() }

// Addrs lists every socket's address, in the order they were passed.
func (l *listeners) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(l.lns))
	for i, ln := range l.lns {
		addrs[i] = ln.Addr()
	}
	return addrs
}
