package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks the sd_notify protocol to the service manager named by
// NOTIFY_SOCKET; with the variable unset, it sends nothing. A message that
// cannot be sent is reported once through the logger and otherwise ignored:
// the daemon's work does not depend on its manager hearing about it.
type notifier struct {
	log    *slog.Logger
	mu     sync.Mutex
	warned bool
}

// send sends one datagram of newline-separated assignments. The variables
// are left in the environment: the kit sends more than one message.
func (n *notifier) send(msg string) {
	_, err := sd.SdNotify(false, msg)
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
