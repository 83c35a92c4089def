package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Listen returns the listening socket the service manager passed
// (LISTEN_FDS and LISTEN_PID, as systemd socket activation sets them), with
// passed true, or, when none was passed, a new one listening on addr:
// "unix:PATH" for a Unix socket, otherwise a TCP "host:port". The LISTEN_
// variables are removed from the environment, so that programs the daemon
// runs do not take the socket for theirs.
//
// Closing the returned listener stops this process from accepting. A socket
// the manager passed stays open in the manager, which queues the
// connections that arrive meanwhile and hands the socket to the next
// instance; a socket Listen opened itself is closed, and clients are
// refused until the next start.
func Listen(addr string) (ln net.Listener, passed bool, err error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	files := activation.Files(true)
	switch len(files) {
	case 0:
		if addr == "" && fds != "" {
			// Set, but not for this process, or malformed: say which.
			return nil, false, fmt.Errorf("listen: LISTEN_FDS=%q with LISTEN_PID=%q passes no socket to this process (pid %d), and there is no address to listen on", fds, pid, os.Getpid())
		}
		if addr == "" {
			return nil, false, errors.New("listen: no socket from the service manager (LISTEN_FDS) and no address to listen on")
		}
		if path, ok := strings.CutPrefix(addr, "unix:"); ok {
			ln, err = net.Listen("unix", path)
		} else {
			ln, err = net.Listen("tcp", addr)
		}
		return ln, false, err
	case 1:
	default:
		for _, f := range files {
			_ = f.Close() // not ours to use: the error says so
		}
		return nil, false, fmt.Errorf("listen: the service manager passed %d sockets; this daemon takes one", len(files))
	}
	f := files[0]
	if err := checkListening(f); err != nil {
		return nil, true, errors.Join(err, f.Close())
	}
	ln, err = net.FileListener(f)
	// FileListener works on a duplicate: the original is closed either way.
	if cerr := f.Close(); cerr != nil && err == nil {
		err = errors.Join(cerr, ln.Close())
	}
	if err != nil {
		return nil, true, fmt.Errorf("listen: the socket the service manager passed (fd 3, %s): %w", f.Name(), err)
	}
	return ln, true, nil
}

// checkListening fails unless f is a socket in the listening state:
// net.FileListener takes a datagram socket too, whose Accept fails.
func checkListening(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("listen: the file the service manager passed (fd 3, %s): %w", f.Name(), err)
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
		return fmt.Errorf("listen: the file the service manager passed (fd 3, %s) is not a socket: %w", f.Name(), serr)
	case listening == 0:
		return fmt.Errorf("listen: the socket the service manager passed (fd 3, %s) is not listening (a datagram socket, or a connection)", f.Name())
	}
	return nil
}
