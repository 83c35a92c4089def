package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// ErrNoSocket is Listen's error when the service manager passed no socket
// and no address was given: a command line to fix, not a failure of the
// system.
var ErrNoSocket = errors.New("no socket from the service manager (LISTEN_FDS) and no address to listen on")

// listenFdsStart is the first descriptor the service manager passes.
const listenFdsStart = 3

// Listen returns the listening sockets the service manager passed
// (LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as systemd socket activation
// sets them), with passed true, or, when none was passed, a new one
// listening on addr: "unix:PATH" for a Unix socket, otherwise a TCP
// "host:port". The LISTEN_ variables are removed from the environment, so
// that programs the daemon runs do not take the sockets for theirs. With no
// socket passed and no address the error wraps ErrNoSocket.
//
// Every socket passed is served: a socket unit with several ListenStream=
// lines (one for IPv4 and one for IPv6, say) passes several, and the
// listener returned accepts from all of them. Its Addr is the first one's;
// it has a method Addrs() []net.Addr that lists them all. A passed file
// that is not a listening stream socket is an error naming its descriptor
// and its LISTEN_FDNAMES name.
//
// A Unix socket file at PATH that nothing listens on (connecting to it is
// refused: its server died without removing it) is removed and bound anew;
// one a process listens on, and a file that is not a socket, are an error.
//
// Closing the returned listener stops this process from accepting. A socket
// the manager passed stays open in the manager, which queues the
// connections that arrive meanwhile and hands the socket to the next
// instance; a socket Listen opened itself is closed, and clients are
// refused until the next start. With several sockets, a connection that
// was being accepted as Close came is returned by a later Accept, before
// the error that says the listener is closed: call Accept until it returns
// an error wrapping net.ErrClosed, as an accept loop does, so that no
// accepted connection goes unanswered.
func Listen(addr string) (ln net.Listener, passed bool, err error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	files := activation.Files(true)
	if len(files) == 0 {
		ln, err := listenOwn(addr, fds, pid)
		return ln, false, err
	}
	lns := make([]net.Listener, 0, len(files))
	for i, f := range files {
		ln, err := fileListener(f, listenFdsStart+i)
		if err != nil {
			for _, f := range files[i+1:] {
				_ = f.Close() // not used: the error says why
			}
			for _, ln := range lns {
				_ = ln.Close() // as above
			}
			return nil, true, err
		}
		lns = append(lns, ln)
	}
	if len(lns) == 1 {
		return lns[0], true, nil
	}
	return newListeners(lns), true, nil
}

// Activated reports whether the service manager passed this process
// sockets (LISTEN_PID is its pid, LISTEN_FDS at least 1), without taking
// them: Listen does. A daemon asks before Open, to tell a start on demand
// (OpenWait) from a start by hand.
func Activated() bool {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return false
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	return err == nil && n > 0
}

// listenOwn opens the daemon's own socket on addr.
func listenOwn(addr, fds, pid string) (net.Listener, error) {
	if addr == "" && fds != "" {
		// Set, but not for this process, or malformed: say which.
		return nil, fmt.Errorf("listen: LISTEN_FDS=%q with LISTEN_PID=%q passes no socket to this process (pid %d): %w", fds, pid, os.Getpid(), ErrNoSocket)
	}
	if addr == "" {
		return nil, fmt.Errorf("listen: %w", ErrNoSocket)
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(path)
	}
	return net.Listen("tcp", addr)
}

// fileListener makes a listener of the socket the manager passed as f,
// descriptor fd, and closes f.
func fileListener(f *os.File, fd int) (net.Listener, error) {
	if err := checkListening(f, fd); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	ln, err := net.FileListener(f)
	// FileListener works on a duplicate: the original is closed either way.
	if cerr := f.Close(); cerr != nil && err == nil {
		err = errors.Join(cerr, ln.Close())
	}
	if err != nil {
		return nil, fmt.Errorf("listen: the socket the service manager passed (fd %d, %s): %w", fd, f.Name(), err)
	}
	return ln, nil
}

// checkListening fails unless f is a socket in the listening state:
// net.FileListener takes a datagram socket too, whose Accept fails.
func checkListening(f *os.File, fd int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("listen: the file the service manager passed (fd %d, %s): %w", fd, f.Name(), err)
	}
	var listening int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		listening, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	}); err != nil {
		serr = err
	}
	switch {
	case serr != nil:
		return fmt.Errorf("listen: the file the service manager passed (fd %d, %s) is not a socket: %w", fd, f.Name(), serr)
	case listening == 0:
		return fmt.Errorf("listen: the socket the service manager passed (fd %d, %s) is not listening (a datagram socket, or a connection)", fd, f.Name())
	}
	return nil
}
