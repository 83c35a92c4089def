package daemon

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// staleDialTimeout bounds the check of a socket file: a live server
// answers a connect at once, even when it is busy (the kernel queues it).
const staleDialTimeout = time.Second

// listenUnix listens on the Unix socket path. A socket file there that
// nothing listens on is one its server left when it died (a Unix socket's
// file outlives its process): it is removed, and the bind tried again.
//
// Two processes that find the same stale file at once may both remove it
// and bind: the second one's socket replaces the first's. Keep one
// process per socket path (the daemon lock keeps one per directory).
func listenUnix(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !staleSocket(path) {
		return ln, err
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return nil, errors.Join(err, rerr)
	}
	return net.Listen("unix", path)
}

// staleSocket reports whether path is a Unix socket file that refuses
// connections: nothing listens on it.
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		return false
	}
	c, err := net.DialTimeout("unix", path, staleDialTimeout)
	if err == nil {
		_ = c.Close() // a live server: only the connect mattered
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
