//go:build unix

package lifecycle_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// A daemon's lifecycle in a few calls: open its directory, dispatch what it
// observes, exit on HIBERNATION; then ask the log what happened.
func Example() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	m, err := lifecycle.New(dir) // lifecycle_state.json, .lifecycle.lock and logs/ in dir
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, step := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},                      // WAKE -> DROWSY
		{lifecycle.Idle30Min, lifecycle.Guards{}},                     // no transition: the guard is false
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},  // DROWSY -> SLEEP
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}}, // SLEEP -> HIBERNATION
	} {
		state, err := m.Dispatch(step.ev, step.g) // durable when it returns; ErrLocked if another process holds the lock
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(step.ev, "->", state)
		if state == lifecycle.Hibernation {
			break // a daemon exits here; its next start dispatches wake_signal
		}
	}

	at, err := lifecycle.StateAt(filepath.Join(dir, lifecycle.DefaultLogDir), time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the log says:", at.State, "after", at.Entered.Event, "seq", at.Entered.Seq)
	// Output:
	// idle_5min -> DROWSY
	// idle_30min -> DROWSY
	// idle_30min -> SLEEP
	// sleep_cycle_done -> HIBERNATION
	// the log says: HIBERNATION after sleep_cycle_done seq 3
}
