package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks the sd_notify protocol to the service manager named by
// NOTIFY_SOCKET; with the variable unset, it sends nothing. A message that
// cannot be sent is reported once through the logger and otherwise ignored:
// the daemon's work does not depend on its manager hearing about it.
type notifier struct {
	log    *slog.Logger
	stuck  atomic.Bool // a send waited notifyTimeout in vain, and none has got through since
	mu     sync.Mutex
	warned bool
}

// notifyTimeout bounds the wait for room in the manager's queue. Once a
// send has waited that long in vain, the next ones wait stuckTimeout (a
// deadline already passed would not even try) until one gets through, so
// that a manager that stopped reading costs the daemon about a second, not
// one per message.
const (
	notifyTimeout = time.Second
	stuckTimeout  = 10 * time.Millisecond
)

// send sends one datagram of newline-separated assignments. NOTIFY_SOCKET
// is left in the environment: the kit sends more than one message.
//
// It is sd.SdNotify with a write deadline: that one waits for as long as
// the manager's queue is full (a unixgram socket holds few datagrams), which
// would hang the daemon, its exit included, behind a manager that stopped
// reading.
func (n *notifier) send(msg string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	wait := notifyTimeout
	if n.stuck.Load() {
		wait = stuckTimeout
	}
	err := sendDatagram(path, msg, wait)
	n.stuck.Store(errors.Is(err, os.ErrDeadlineExceeded))
	if err == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.warned {
		n.warned = true
		n.log.Warn("daemon: cannot notify the service manager; carrying on without it", "message", msg, "err", err)
	}
}

func sendDatagram(path, msg string, wait time.Duration) error {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	if err := conn.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		return errors.Join(err, conn.Close())
	}
	_, err = conn.Write([]byte(msg))
	return errors.Join(err, conn.Close())
}

// watchdog sends WATCHDOG=1 at half the interval the manager asked for in
// WATCHDOG_USEC (and WATCHDOG_PID, if set, names this process), as sd_notify
// recommends, until ctx ends. Without a watchdog it returns at once.
func (n *notifier) watchdog(ctx context.Context) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("daemon: the watchdog settings are unreadable; no watchdog pings", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	t := time.NewTicker(max(interval/2, time.Microsecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.send(sd.SdNotifyWatchdog)
		}
	}
}
