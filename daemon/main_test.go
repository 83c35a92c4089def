package daemon_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/daemon"
)

// childEnv makes this test binary a daemon built on the kit (childMain),
// for the tests that need a process of its own: the environment variables
// of the service manager are per process.
const childEnv = "LIFECYCLE_KIT_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	if os.Getenv(listenChildEnv) == "1" {
		os.Exit(listenChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// childMain is the smallest daemon on the kit: it narrates on stdout and
// sleeps --step per sleep step. Exit 0 on Hibernated or Stopped, 1 on error.
func childMain(args []string) int {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	tick := fs.Duration("tick", time.Millisecond, "")
	drowsy := fs.Duration("drowsy-after", 5*time.Millisecond, "")
	sleep := fs.Duration("sleep-after", 10*time.Millisecond, "")
	steps := fs.Int("sleep-steps", 3, "")
	step := fs.Duration("sleep-step", time.Millisecond, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	d, err := daemon.Open(*dir,
		daemon.WithTick(*tick),
		daemon.WithIdlePolicy(lifecycle.IdlePolicy{Drowsy: *drowsy, Sleep: *sleep}),
		daemon.WithSleepCycle(daemon.SleepCycle{Steps: *steps, Step: func(ctx context.Context, _ int) error {
			t := time.NewTimer(*step)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}}),
		daemon.WithNarrator(func(line string) { fmt.Println(line) }),
		daemon.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o, err := d.Run(ctx)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("outcome:", o)
	return 0
}
