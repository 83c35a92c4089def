package systemdtest

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dial connects to addr in the manager's network namespace: the sockets
// of its units listen there, on its own loopback. The connection is an
// ordinary one once made.
func (m *Manager) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type dialed struct {
		c   net.Conn
		err error
	}
	done := make(chan dialed, 1)
	// A socket belongs to the network namespace of the thread that makes
	// it: the dial runs on a thread of its own, moved into the manager's
	// namespace and back. A thread that cannot be moved back is not
	// reused: its goroutine ends locked to it, and the runtime ends it.
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(m.netns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- dialed{nil, fmt.Errorf("entering the manager's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if unix.Setns(int(m.hostNet.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- dialed{c, err}
	}()
	r := <-done
	return r.c, r.err
}
