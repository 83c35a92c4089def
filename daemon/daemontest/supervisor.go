//go:build unix

package daemontest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Supervisor does what a systemd socket unit with Accept=no does: it holds
// listening sockets, and whenever no server runs and a connection waits on
// one of them, it starts one, passing the sockets as file descriptors 3, 4,
// ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the server's pid)
// set. Connections that arrive while no server runs, or while one is
// starting or exiting, wait in the sockets' queues for the next server:
// none is refused.
type Supervisor struct {
	Addr    net.Addr   // the first socket's address
	Addrs   []net.Addr // every socket's address, in the order given
	socks   []*os.File
	fds     []int // socks' descriptors, read once: each Fd call may change its mode
	names   string
	newCmd  func() *exec.Cmd
	events  chan Event
	wake    [2]int // a pipe: Close writes to it to end the poll
	done    chan struct{}
	mu      sync.Mutex
	cmd     *exec.Cmd // the running server, if any
	closed  bool      // Close or CloseWhenIdle was called: no more starts
	wakeErr error     // writing to the pipe failed
}

// EventKind says what happened to a server.
type EventKind int

const (
	Started EventKind = iota + 1 // a server was started
	Exited                       // a server exited; Err is its wait error, nil for exit 0
)

// Event is one start or exit of a server.
type Event struct {
	Kind EventKind
	Pid  int
	Err  error // Exited: *exec.ExitError for a non-zero status
}

// maxEvents is how many events wait unread before the supervisor blocks.
const maxEvents = 1024

// Supervise listens on network and addr ("tcp", "127.0.0.1:0"; "unix",
// path) and supervises the servers newCmd builds. newCmd's command gets the
// socket in ExtraFiles and LISTEN_FDS, LISTEN_FDNAMES ("server") and
// LISTEN_PID in its environment (added to cmd.Env, or to the supervisor's
// environment when cmd.Env is nil). It must not set ExtraFiles itself.
func Supervise(network, addr string, newCmd func() *exec.Cmd) (*Supervisor, error) {
	return SuperviseSockets([]Socket{{Network: network, Address: addr}}, newCmd)
}

// Socket is one socket a Supervisor listens on.
type Socket struct {
	Network, Address string // as for net.Listen
	Name             string // its LISTEN_FDNAMES entry; "server" if empty
}

// SuperviseSockets is Supervise for several sockets, as a unit with two
// ListenStream= lines (IPv4 and IPv6, say) has: they are passed in the
// order given, and a connection waiting on any of them starts a server.
func SuperviseSockets(sockets []Socket, newCmd func() *exec.Cmd) (*Supervisor, error) {
	if len(sockets) == 0 {
		return nil, errors.New("supervisor: no socket")
	}
	names := make([]string, len(sockets))
	for i, so := range sockets {
		names[i] = cmp.Or(so.Name, "server")
		if err := checkName(names[i]); err != nil {
			return nil, err
		}
	}
	s := &Supervisor{newCmd: newCmd, events: make(chan Event, maxEvents), done: make(chan struct{})}
	for _, so := range sockets {
		sock, addr, err := listenFile(so.Network, so.Address)
		if err != nil {
			return nil, errors.Join(err, s.closeSockets())
		}
		s.socks, s.fds, s.Addrs = append(s.socks, sock), append(s.fds, int(sock.Fd())), append(s.Addrs, addr)
	}
	s.Addr, s.names = s.Addrs[0], strings.Join(names, ":")
	if err := unix.Pipe(s.wake[:]); err != nil {
		return nil, errors.Join(fmt.Errorf("supervisor: pipe: %w", err), s.closeSockets())
	}
	go s.loop()
	return s, nil
}

// checkName refuses a name LISTEN_FDNAMES cannot carry, as systemd's
// FileDescriptorName= does: at most 255 characters, printable ASCII, no
// colon (the separator).
func checkName(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("supervisor: socket name %.20q...: longer than 255 characters", name)
	}
	for _, r := range name {
		if r < ' ' || r > '~' || r == ':' {
			return fmt.Errorf("supervisor: socket name %q: only printable ASCII, and no colon", name)
		}
	}
	return nil
}

// listenFile listens on network and addr, and returns the socket as a file.
func listenFile(network, addr string) (*os.File, net.Addr, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("supervisor: %w", err)
	}
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, nil, errors.Join(fmt.Errorf("supervisor: a %T has no file", ln), ln.Close())
	}
	sock, err := fl.File() // a duplicate: the socket stays open after ln.Close
	if ul, ok := ln.(*net.UnixListener); ok && err == nil {
		ul.SetUnlinkOnClose(false) // the socket lives on in the file
	}
	if cerr := ln.Close(); err == nil && cerr != nil {
		err = errors.Join(cerr, sock.Close(), removeSocketFile(ln.Addr()))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("supervisor: %w", err)
	}
	return sock, ln.Addr(), nil
}

// closeSockets closes the sockets held, and removes the files of those that
// are Unix sockets (as a net.UnixListener's Close does).
func (s *Supervisor) closeSockets() error {
	var errs []error
	for i, sock := range s.socks {
		errs = append(errs, sock.Close(), removeSocketFile(s.Addrs[i]))
	}
	return errors.Join(errs...)
}

// removeSocketFile removes a Unix socket's file, if addr is one's.
func removeSocketFile(addr net.Addr) error {
	if addr.Network() != "unix" {
		return nil
	}
	if err := os.Remove(addr.String()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("supervisor: %w", err)
	}
	return nil
}

// Events delivers each start and exit, in order. The supervisor waits while
// maxEvents are unread.
func (s *Supervisor) Events() <-chan Event { return s.events }

// loop starts a server each time one is needed, until Close.
func (s *Supervisor) loop() {
	defer close(s.done)
	defer close(s.events)
	for {
		if !s.waitReadable() {
			return
		}
		cmd, err := s.start()
		if errors.Is(err, errClosed) {
			return
		}
		if err != nil {
			s.events <- Event{Kind: Exited, Err: err}
			return
		}
		s.events <- Event{Kind: Started, Pid: cmd.Process.Pid}
		err = cmd.Wait()
		s.mu.Lock()
		s.cmd = nil
		s.mu.Unlock()
		s.events <- Event{Kind: Exited, Pid: cmd.Process.Pid, Err: err}
	}
}

// waitReadable waits until a connection waits on a socket (true) or Close
// was called (false).
func (s *Supervisor) waitReadable() bool {
	fds := []unix.PollFd{{Fd: int32(s.wake[0]), Events: unix.POLLIN}}
	for _, fd := range s.fds {
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		_, err := unix.Poll(fds, -1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil, fds[0].Revents != 0:
			return false
		}
		for _, fd := range fds[1:] {
			if fd.Revents != 0 {
				return true
			}
		}
	}
}

var errClosed = errors.New("supervisor closed")

// start runs a server with the sockets as its fds 3, 4, .... LISTEN_PID must be the
// server's own pid, which is known only once it runs: as systemd does
// between fork and exec, a shell sets it to its own pid ($$) and execs the
// server, which keeps that pid.
func (s *Supervisor) start() (*exec.Cmd, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	server := s.newCmd()
	env := server.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, server.Path}, server.Args[1:]...)...)
	cmd.Env = append(env, "LISTEN_FDS="+strconv.Itoa(len(s.socks)), "LISTEN_FDNAMES="+s.names)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = server.Dir, server.Stdin, server.Stdout, server.Stderr
	cmd.ExtraFiles = s.socks
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("supervisor: start %s: %w", server.Path, err)
	}
	s.cmd = cmd
	return cmd, nil
}

// Signal sends sig to the running server, if any, and reports whether one
// ran.
func (s *Supervisor) Signal(sig os.Signal) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false, nil
	}
	return true, s.cmd.Process.Signal(sig)
}

// Close stops starting servers, kills the running one, waits for the
// supervisor to finish (reading its remaining events is not needed), and
// closes the sockets, removing Unix sockets' files: clients still queued
// are then refused. Calls after the first, and after CloseWhenIdle, return
// nil.
func (s *Supervisor) Close() error {
	if !s.stop(true) {
		return nil
	}
	go func() { // drain, so the loop never blocks on a full channel
		for range s.events {
		}
	}()
	<-s.done
	return s.release()
}

// CloseWhenIdle stops starting servers, waits for the running one, if any,
// to exit by itself (it is killed if ctx ends first), and closes the sockets.
// Events keep coming until the channel is closed, which it is once the last
// server's exit has been delivered: read them, as CloseWhenIdle waits for
// that.
func (s *Supervisor) CloseWhenIdle(ctx context.Context) error {
	if !s.stop(false) {
		return nil
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		s.mu.Lock()
		if s.cmd != nil {
			_ = s.cmd.Process.Kill() // it may have exited
		}
		s.mu.Unlock()
		<-s.done
	}
	return s.release()
}

// stop ends the loop's starting of servers, and kills the running one if
// asked. It reports whether this was the first call.
func (s *Supervisor) stop(kill bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	if kill && s.cmd != nil {
		_ = s.cmd.Process.Kill() // it may have exited
	}
	// The poll ends on this byte, which stays unread: every later poll
	// ends at once too.
	if _, err := unix.Write(s.wake[1], []byte{0}); err != nil {
		s.wakeErr = err
	}
	return true
}

// release closes the sockets and the pipe once the loop has ended.
func (s *Supervisor) release() error {
	return errors.Join(s.wakeErr, unix.Close(s.wake[0]), unix.Close(s.wake[1]), s.closeSockets())
}
