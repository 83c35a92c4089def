package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// Timings of OpenWait.
const (
	// openWaitPoll is how often OpenWait tries the daemon lock again: the
	// delay, at most, between the other daemon's exit and this one's start.
	openWaitPoll = 200 * time.Millisecond
	// openWaitExtend is how often OpenWait asks the service manager for
	// more time to start; each request is for three times as long, so one
	// lost or late message does not time the start out.
	openWaitExtend = 10 * time.Second
)

// OpenWait is Open for a daemon the service manager started on demand
// (socket activation): while another daemon holds dir, it waits for that
// one to leave instead of failing. Failing would not help: the connection
// that started this daemon is still queued on the socket, so the manager
// would start it again at once, and again, until its start limit fails the
// socket and every later client is refused, even after the other daemon
// has gone, until an operator resets it.
//
// While it waits it tries the daemon lock every 200 ms, narrates one line
// (WithNarrator) and tells the service manager (NOTIFY_SOCKET) whom it
// waits for, with the holder's pid, and to extend its start timeout:
//
//	STATUS=waiting for another daemon to leave: acquire daemon lock DIR/.daemon.lock: a daemon already runs on this directory (pid 4242)
//	EXTEND_TIMEOUT_USEC=30000000
//
// repeating both every 10 s. Clients meanwhile wait in the socket's queue;
// the first is served by this daemon once it has the directory. It returns
// Open's result once the lock is free or Open fails otherwise, and an error
// with ctx's cause when ctx ends first (a stop while waiting).
func OpenWait(ctx context.Context, dir string, opts ...Option) (*Daemon, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	env := saveNotifyEnv()
	var said string
	var extended time.Time
	for {
		env.restore()
		d, err := Open(dir, opts...)
		if !errors.Is(err, lifecycle.ErrDaemonRunning) {
			return d, err
		}
		status := "waiting for another daemon to leave: " + err.Error()
		if status != said {
			cfg.narrate(status)
		}
		if status != said || time.Since(extended) >= openWaitExtend {
			msg := "STATUS=" + status + "\nEXTEND_TIMEOUT_USEC=" + strconv.FormatInt((3*openWaitExtend).Microseconds(), 10)
			if err := env.notify(msg); err != nil {
				cfg.logger.Warn("daemon: cannot notify the service manager while waiting", "err", err)
			}
			said, extended = status, time.Now()
		}
		t := time.NewTimer(openWaitPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("daemon: stopped while waiting for another daemon to leave %s: %w", dir, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// notifyEnv is the service manager's notify and watchdog settings, as they
// were when OpenWait began.
type notifyEnv struct{ vals map[string]string }

var notifyVars = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}

func saveNotifyEnv() notifyEnv {
	e := notifyEnv{vals: map[string]string{}}
	for _, k := range notifyVars {
		if v, ok := os.LookupEnv(k); ok {
			e.vals[k] = v
		}
	}
	return e
}

// restore puts back the settings a failed Open may have taken from the
// environment, so that the Open that succeeds finds them.
func (e notifyEnv) restore() {
	for k, v := range e.vals {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v) // fails only on a malformed name
		}
	}
}

// notify sends msg to the notify socket, if there is one.
func (e notifyEnv) notify(msg string) error {
	path := e.vals["NOTIFY_SOCKET"]
	if path == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	// A manager that does not read must not hold the wait up.
	_ = c.SetWriteDeadline(time.Now().Add(time.Second)) // fails only on a closed conn
	_, err = c.Write([]byte(msg))
	return errors.Join(err, c.Close())
}
