package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/iai-mcp/lifecycle/daemon"
)

// maxLine bounds a request line: a client that sends more without a
// newline is disconnected.
const maxLine = 64 << 10

// server answers each line a client sends with the state it was served in.
type server struct {
	d     *daemon.Daemon
	ln    net.Listener
	log   *slog.Logger
	guard *acceptGuard

	accepting sync.WaitGroup // the accept loop
	handlers  sync.WaitGroup // one per connection
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closing   bool      // shutdown has begun
	deadline  time.Time // then: the end of the drain

	closeOnce sync.Once
	closeErr  error // of the listener's Close
}

func newServer(d *daemon.Daemon, ln net.Listener, logger *slog.Logger, guard *acceptGuard) *server {
	s := &server{d: d, ln: ln, log: logger, guard: guard, conns: map[net.Conn]struct{}{}}
	s.accepting.Add(1)
	return s
}

// accept accepts connections until the listener is closed.
func (s *server) accept() {
	defer s.accepting.Done()
	for s.guard.wait() {
		c, err := s.ln.Accept()
		if err != nil {
			s.guard.release()
			// Out of descriptors and the like: the connection waits in the
			// queue, and a later Accept may succeed.
			if errors.Is(err, net.ErrClosed) || !s.guard.failed(err) {
				return
			}
			continue
		}
		s.guard.succeeded()
		c = s.guard.wrap(c)
		s.track(c)
		go s.handle(c)
	}
}

// track records c as open. A connection accepted as the listener closes is
// served too, within the drain: its client has been accepted, and must not
// go unanswered.
func (s *server) track(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	if s.closing {
		_ = c.SetDeadline(s.deadline) // fails only on a closed connection
	}
}

// handle answers each line on c until the client closes it, or the drain
// deadline passes on the way out.
func (s *server) handle(c net.Conn) {
	defer s.handlers.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("server: closing a connection", "err", err)
		}
	}()
	src := &endReader{r: c}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 256), maxLine)
	sc.Split(src.lines)
	w := bufio.NewWriter(c)
	for sc.Scan() {
		st, err := s.d.Request(context.Background())
		if err != nil {
			s.log.Warn("server: request not reported", "err", err)
		}
		if _, err := w.WriteString(string(st) + "\n"); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
	_ = w.Flush() // the client may be gone; nothing to do about it
}

// closeListener stops accepting: a connection that comes after it waits in
// the listening socket's queue, for the next server the service manager
// starts. Only the first call closes.
func (s *server) closeListener() error {
	s.closeOnce.Do(func() {
		s.guard.close()
		s.closeErr = s.ln.Close()
	})
	return s.closeErr
}

// shutdown stops accepting, gives accepted connections drain to send more
// and read their answers, and waits for their handlers. The deadline covers
// writes too: a client that sends and never reads would otherwise block its
// handler's write, and the server's exit, for good.
func (s *server) shutdown(drain time.Duration) error {
	s.mu.Lock()
	s.closing, s.deadline = true, time.Now().Add(drain)
	for c := range s.conns {
		_ = c.SetDeadline(s.deadline) // fails only on a closed connection
	}
	s.mu.Unlock()
	err := s.closeListener()
	s.accepting.Wait()
	s.handlers.Wait()
	return err
}

// endReader reads a connection and remembers how its reads ended, so that
// lines can tell a last line the client ended (EOF) from one cut short.
type endReader struct {
	r   io.Reader
	eof bool
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}

// lines splits as bufio.ScanLines does, except that bytes after the last
// newline are a line only when the client ended its side: a Scanner hands
// them on when a read fails too (the drain's deadline, a reset), and such
// an unfinished line is not a request.
func (e *endReader) lines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && !e.eof && len(data) > 0 && bytes.IndexByte(data, '\n') < 0 {
		return len(data), nil, nil
	}
	return bufio.ScanLines(data, atEOF)
}
