//go:build unix

package daemontest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// NotifySocket is the service manager's end of sd_notify: a unixgram socket
// that a daemon started with NOTIFY_SOCKET=Path sends its messages to.
type NotifySocket struct {
	Path string
	conn *net.UnixConn
}

// ListenNotify creates the socket dir/notify.sock. A Unix socket's path is
// limited to about 100 bytes: keep dir short.
func ListenNotify(dir string) (*NotifySocket, error) {
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &NotifySocket{Path: path, conn: conn}, nil
}

// Env is the environment entry that points a child at the socket.
func (s *NotifySocket) Env() string { return "NOTIFY_SOCKET=" + s.Path }

// Read returns the next message, waiting until one comes or ctx ends.
func (s *NotifySocket) Read(ctx context.Context) (string, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	if err := s.conn.SetReadDeadline(time.Time{}); err != nil {
		return "", fmt.Errorf("notify socket %s: %w", s.Path, err)
	}
	if ctx.Err() != nil {
		return "", context.Cause(ctx)
	}
	buf := make([]byte, 4096)
	n, _, err := s.conn.ReadFromUnix(buf)
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("notify socket %s: %w", s.Path, err)
	}
	return string(buf[:n]), nil
}

// Pending returns the messages already queued, without waiting for more.
// Once the daemon has exited, they are all it sent that Read has not
// returned. Call it when no Read is in progress.
//
// It reads with MSG_DONTWAIT rather than through a read deadline: a
// deadline already past fails a read before it looks at the queue, and the
// messages queued would be left there.
func (s *NotifySocket) Pending() ([]string, error) {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", s.Path, err)
	}
	var msgs []string
	buf := make([]byte, 4096)
	for {
		var n int
		var rerr error
		if err := rc.Control(func(fd uintptr) {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		}); err != nil {
			return msgs, fmt.Errorf("notify socket %s: %w", s.Path, err)
		}
		switch {
		case errors.Is(rerr, unix.EAGAIN):
			return msgs, nil
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil:
			return msgs, fmt.Errorf("notify socket %s: %w", s.Path, os.NewSyscallError("recvfrom", rerr))
		}
		msgs = append(msgs, string(buf[:n]))
	}
}

// Close closes the socket and removes its file.
func (s *NotifySocket) Close() error {
	err := s.conn.Close()
	if rerr := os.Remove(s.Path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
