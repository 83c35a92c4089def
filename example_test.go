package lifecycle_test

import (
	"fmt"
	"log"
	"os"

	"github.com/iai-mcp/lifecycle"
)

func ExampleComputeTransition() {
	to, changed := lifecycle.ComputeTransition(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
	fmt.Println(to, changed)
	to, changed = lifecycle.ComputeTransition(lifecycle.Drowsy, lifecycle.Idle30Min, lifecycle.Guards{})
	fmt.Println(to, changed)
	// Output:
	// SLEEP true
	// DROWSY false
}

func ExampleNew() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	m, err := lifecycle.New(dir, lifecycle.WithShadowRun(false))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	rec, err := m.Snapshot()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.CurrentState)
	// Output: WAKE
}

func ExampleMachine_Dispatch() {
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

	for _, step := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}},
	} {
		state, err := m.Dispatch(step.ev, step.g)
		if err != nil {
			log.Fatal(err) // errors.Is(err, lifecycle.ErrLocked): another process holds the lock
		}
		fmt.Println(step.ev, "->", state)
		if state == lifecycle.Hibernation {
			fmt.Println("daemon exits")
		}
	}
	// Output:
	// idle_5min -> DROWSY
	// idle_30min -> SLEEP
	// sleep_cycle_done -> HIBERNATION
	// daemon exits
}
