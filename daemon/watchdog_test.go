package daemon_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// heard is what a notify socket received, each message with the time it
// came.
type heard struct {
	mu   sync.Mutex
	msgs []string
	at   []time.Time
}

func (h *heard) add(m string) {
	h.mu.Lock()
	h.msgs, h.at = append(h.msgs, m), append(h.at, time.Now())
	h.mu.Unlock()
}

// count counts the messages equal to m that came after t.
func (h *heard) count(m string, after time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i, s := range h.msgs {
		if s == m && h.at[i].After(after) {
			n++
		}
	}
	return n
}

func (h *heard) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// listenNotify points this process's NOTIFY_SOCKET (and the watchdog
// variables, for a watchdog of interval wd) at a socket the test reads
// until it ends.
func listenNotify(t *testing.T, wd time.Duration) *heard {
	t.Helper()
	sock, err := daemontest.ListenNotify(shortTempDir(t))
	require.NoError(t, err)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	if wd > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(wd.Microseconds(), 10))
		t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	}
	h := &heard{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := sock.Read(ctx)
			if err != nil {
				return
			}
			h.add(m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		require.NoError(t, sock.Close())
	})
	return h
}

// The settings are read once, by Open, and removed from the environment:
// children do not inherit them, and a send elsewhere in the process that
// unsets NOTIFY_SOCKET does not silence the daemon.
func TestNotifySettingsReadOnce(t *testing.T) {
	h := listenNotify(t, time.Hour)
	r := startDaemon(t, t.TempDir(), daemon.WithTick(time.Hour))
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		_, set := os.LookupEnv(v)
		require.False(t, set, "%s still set after Open", v)
	}
	// What a library calling sd.SdNotify(true, ...) does.
	_, err := sd.SdNotify(true, "STATUS=elsewhere")
	require.NoError(t, err)
	<-r.d.Ready()
	r.stop(t)
	require.Eventually(t, func() bool { return len(h.all()) >= 2 }, overall, time.Millisecond)
	require.Equal(t, []string{"READY=1\nSTATUS=WAKE", "STOPPING=1"}, h.all())
}

// The watchdog is fed by the loop's own progress: a sleep step that hangs
// stops the pings within one interval, and one that reports its progress
// keeps them coming.
func TestWatchdogSeesAHang(t *testing.T) {
	const wd = 60 * time.Millisecond
	tests := []struct {
		name     string
		progress bool // the step calls daemon.Progress while it works
	}{
		{"hung step", false},
		{"step reporting progress", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := listenNotify(t, wd)
			dir := t.TempDir()
			dispatchAll(t, dir, lifecycle.Idle5Min, lifecycle.Idle30Min)
			entered := make(chan time.Time, 1)
			cycle := daemon.SleepCycle{Steps: 1, Step: func(ctx context.Context, _ int) error {
				entered <- time.Now()
				for {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(wd / 10):
						if tt.progress {
							daemon.Progress(ctx)
						}
					}
				}
			}}
			r := startDaemon(t, dir, daemon.WithTick(time.Millisecond), daemon.WithSleepCycle(cycle))
			since := (<-entered).Add(wd)
			time.Sleep(5 * wd)
			pings := h.count("WATCHDOG=1", since)
			r.stop(t)
			if tt.progress {
				require.GreaterOrEqual(t, pings, 2, "pings while the step reports progress")
			} else {
				require.Zero(t, pings, "pings more than one interval into a hung step")
			}
		})
	}
}
