package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/iai-mcp/lifecycle"
)

func ExampleAcquireDaemon() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	lock, err := lifecycle.AcquireDaemon(dir)
	if err != nil {
		log.Fatal(err) // errors.Is(err, lifecycle.ErrDaemonRunning): another daemon runs; its pid is in the message
	}
	// Held until Release or the end of the process, however it ends.
	defer func() {
		if err := lock.Release(); err != nil {
			log.Print(err)
		}
	}()

	_, err = lifecycle.AcquireDaemon(dir) // a second daemon on the same directory
	fmt.Println(errors.Is(err, lifecycle.ErrDaemonRunning))
	// Output: true
}

func ExampleWatch() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m, err := lifecycle.New(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := lifecycle.Watch(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events { // closed once ctx ends
		switch ev.Kind {
		case lifecycle.WatchTransition:
			t := ev.Transition
			fmt.Println(t.Seq, t.From, "->", t.To, "on", t.Event)
		case lifecycle.WatchRecord:
			fmt.Println("state", ev.Record.CurrentState, "seq", ev.Record.TransitionSeq)
			if ev.Record.TransitionSeq == 0 {
				// The first record is the current one; now change it.
				if _, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}); err != nil {
					log.Fatal(err)
				}
			} else {
				cancel()
			}
		case lifecycle.WatchError:
			fmt.Println("error:", ev.Err) // the watch goes on
		}
	}
	// Output:
	// state WAKE seq 0
	// 1 WAKE -> DROWSY on idle_5min
	// state DROWSY seq 1
}
