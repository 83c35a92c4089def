package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
)

// consolidate stands for a daemon's own sleep-time work.
func consolidate(ctx context.Context, step int) error { return ctx.Err() }

// What a daemon author writes: the server, and the kit around it. Under
// systemd (examples/lifecycle-server/systemd) the socket unit holds the socket and
// starts this program on the first connection; it exits 0 when it
// hibernates.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	d, err := daemon.Open(os.ExpandEnv("$HOME/.iai-mcp"),
		daemon.WithSleepCycle(daemon.SleepCycle{Steps: 3, Step: consolidate}))
	if errors.Is(err, lifecycle.ErrDaemonRunning) {
		log.Print(err) // names the running daemon's pid
		os.Exit(3)
	} else if err != nil {
		log.Fatal(err)
	}
	raw, _, err := daemon.Listen("127.0.0.1:7070") // systemd's socket, or its own
	if err != nil {
		log.Fatal(err)
	}
	ln, err := d.Listener(raw) // the kit decides when it accepts; open connections keep it awake
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state, _ := d.Request(r.Context()) // cheap in WAKE; wakes a drowsy or sleeping daemon
		fmt.Fprintln(w, state)
	}))
	outcome, err := d.Run(ctx) // READY=1, STATUS=<state>, WATCHDOG=1, STOPPING=1 under systemd
	// After HIBERNATION the next connection starts a new process.
	if err := errors.Join(err, ln.Close(), d.Close()); err != nil {
		log.Fatal(err)
	}
	log.Print(outcome) // "hibernated" or "stopped": exit 0 either way
}
