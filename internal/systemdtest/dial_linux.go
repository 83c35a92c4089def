package systemdtest

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on a thread in the manager's network namespace: a socket
// belongs to the network namespace of the thread that makes it, so a
// connection fn makes reaches the manager's sockets, on its own loopback,
// and stays an ordinary connection afterwards. fn must not start
// goroutines that make sockets. A thread that cannot be moved back is not
// reused: its goroutine ends locked to it, and the runtime ends it.
func (m *Manager) InNetns(fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(m.netns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering the manager's network namespace: %w", err)
			return
		}
		fn()
		if unix.Setns(int(m.hostNet.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- nil
	}()
	return <-errc
}

// Dial connects to addr in the manager's network namespace (InNetns).
func (m *Manager) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var (
		c    net.Conn
		derr error
	)
	if err := m.InNetns(func() {
		var d net.Dialer
		c, derr = d.DialContext(ctx, network, addr)
	}); err != nil {
		return nil, err
	}
	return c, derr
}
