package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// timedConn is a client connection whose reads and writes time out, so
// that a client that stops halfway cannot hold a descriptor for good:
//
//   - a line begun (bytes after the last newline) must end within line;
//   - a connection between lines (or before its first) may stay silent
//     for idle;
//   - a write must go through within line (a client that does not read
//     its answers fills the socket).
//
// Zero turns a timeout off. A deadline set on it (the drain's, on the way
// out) applies as well: the earlier one wins. Closing it gives its slot
// back (release), once.
type timedConn struct {
	net.Conn
	line, idle time.Duration
	release    func()
	closeOnce  sync.Once

	mu    sync.Mutex
	begun time.Time // when the unfinished line began; zero: none
	own   time.Time // the read deadline the timeouts set last
	rlim  time.Time // SetDeadline / SetReadDeadline's
	wlim  time.Time // SetDeadline / SetWriteDeadline's
}

func (c *timedConn) Read(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	c.own = time.Time{}
	switch {
	case !c.begun.IsZero() && c.line > 0:
		c.own = c.begun.Add(c.line)
	case c.begun.IsZero() && c.idle > 0:
		c.own = now.Add(c.idle)
	}
	// Under the lock: a drain deadline set meanwhile is not overwritten.
	err := c.Conn.SetReadDeadline(earliest(c.own, c.rlim))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) && c.lineTimedOut() {
		// A reader such as bufio.Scanner hands on the bytes it holds as a
		// last line when a read fails: closing now keeps the unfinished
		// line from being answered as though it were whole.
		return n, errors.Join(err, c.Conn.Close())
	}
	if n > 0 {
		c.mu.Lock()
		switch i := bytes.LastIndexByte(p[:n], '\n'); {
		case i == n-1:
			c.begun = time.Time{}
		case i >= 0 || c.begun.IsZero():
			c.begun = now
		}
		c.mu.Unlock()
	}
	return n, err
}

// lineTimedOut reports whether the line begun has outlived line.
func (c *timedConn) lineTimedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.begun.IsZero() && c.line > 0 && !time.Now().Before(c.begun.Add(c.line))
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	dl := c.wlim
	if c.line > 0 {
		dl = earliest(dl, time.Now().Add(c.line))
	}
	err := c.Conn.SetWriteDeadline(dl)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *timedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rlim, c.wlim = t, t
	return c.Conn.SetDeadline(earliest(c.own, t))
}

func (c *timedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rlim = t
	return c.Conn.SetReadDeadline(earliest(c.own, t))
}

func (c *timedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wlim = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *timedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.release)
	return err
}

// earliest is the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
