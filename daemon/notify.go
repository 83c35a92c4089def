package daemon

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks the sd_notify protocol to the service manager. Its
// settings (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID) are read once, when
// the daemon opens, and then removed from the environment: a program the
// daemon runs must not take them for its own, and another library's
// sd.SdNotify(true, ...) must not silence the daemon by unsetting them. A
// message that cannot be sent is reported once through the logger and
// otherwise ignored: the daemon's work does not depend on its manager
// hearing about it.
type notifier struct {
	log      *slog.Logger
	path     string        // NOTIFY_SOCKET; empty: send nothing
	watchdog time.Duration // WATCHDOG_USEC for this process; 0: no watchdog
	epoch    time.Time     // the origin of lastPing
	lastPing atomic.Int64  // when WATCHDOG=1 was last sent, since epoch
	stuck    atomic.Bool   // a send waited notifyTimeout in vain, and none has got through since

	mu     sync.Mutex
	warned bool

	pingMu  sync.Mutex // held across a ping's send: STOPPING=1 waits for it
	pinging bool       // pings are sent: from READY=1 to STOPPING=1
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

// newNotifier reads the service manager's settings and removes them from
// the environment, as go-systemd does when asked to.
func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, path: os.Getenv("NOTIFY_SOCKET"), epoch: time.Now()}
	interval, err := sd.SdWatchdogEnabled(true)
	if err != nil {
		log.Warn("daemon: the watchdog settings are unreadable; no watchdog pings", "err", err)
	}
	if uerr := os.Unsetenv("NOTIFY_SOCKET"); uerr != nil {
		log.Warn("daemon: cannot remove NOTIFY_SOCKET from the environment", "err", uerr)
	}
	if n.path != "" && err == nil && interval > 0 {
		n.watchdog = interval
	}
	return n
}

// send sends one datagram of newline-separated assignments.
//
// It is sd.SdNotify with a write deadline: that one waits for as long as
// the manager's queue is full (a unixgram socket holds few datagrams), which
// would hang the daemon, its exit included, behind a manager that stopped
// reading.
func (n *notifier) send(msg string) {
	if n.path == "" {
		return
	}
	wait := notifyTimeout
	if n.stuck.Load() {
		wait = stuckTimeout
	}
	err := sendDatagram(n.path, msg, wait)
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

// ready sends READY=1 with msg's other assignments and starts the pings.
func (n *notifier) ready(msg string) {
	n.pingMu.Lock()
	n.pinging = true
	n.pingMu.Unlock()
	n.lastPing.Store(int64(time.Since(n.epoch)))
	n.send(msg)
}

// stopping ends the pings, then sends STOPPING=1: no ping follows it.
func (n *notifier) stopping() {
	n.pingMu.Lock()
	n.pinging = false
	n.pingMu.Unlock()
	n.send(sd.SdNotifyStopping)
}

// pingEvery is how often the watchdog wants a ping: half its interval, as
// sd_watchdog_enabled(3) recommends; 0 without a watchdog.
func (n *notifier) pingEvery() time.Duration { return n.watchdog / 2 }

// alive sends WATCHDOG=1 if half the watchdog interval has passed since
// the last one. It is called from the loop's progress only, never from a
// timer of its own: a loop that stops making progress stops the pings, and
// the service manager sees the hang. Safe from any goroutine.
func (n *notifier) alive() {
	every := n.pingEvery()
	if every <= 0 {
		return
	}
	now := int64(time.Since(n.epoch))
	last := n.lastPing.Load()
	if now-last < int64(every) || !n.lastPing.CompareAndSwap(last, now) {
		return // not due, or another goroutine is sending it
	}
	n.pingMu.Lock()
	defer n.pingMu.Unlock()
	if n.pinging {
		n.send(sd.SdNotifyWatchdog)
	}
}

// untilPing is how long until the next ping is due; 0 or less: due now.
func (n *notifier) untilPing() time.Duration {
	return time.Duration(n.lastPing.Load()) + n.pingEvery() - time.Since(n.epoch)
}
