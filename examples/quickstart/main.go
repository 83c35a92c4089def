// Command quickstart drives a lifecycle Machine through the whole cycle,
// WAKE → DROWSY → SLEEP → HIBERNATION → WAKE, in a temporary directory, and
// prints the state file and the event log it leaves behind.
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iai-mcp/lifecycle"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "lifecycle-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	defer m.Close()

	steps := []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.HeartbeatRefresh, lifecycle.Guards{}},
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
		{lifecycle.SleepCycleDone, lifecycle.Guards{StillIdle: true}},
		{lifecycle.WakeSignal, lifecycle.Guards{}},
	}
	from := lifecycle.Wake
	for _, s := range steps {
		to, err := m.Dispatch(s.ev, s.g)
		if err != nil {
			return err
		}
		if to == from {
			fmt.Printf("%-18s %s (no transition)\n", s.ev, to)
		} else {
			fmt.Printf("%-18s %s -> %s\n", s.ev, from, to)
		}
		from = to
	}

	state, err := os.ReadFile(m.StatePath())
	if err != nil {
		return err
	}
	fmt.Printf("\n%s:\n%s\n", filepath.Base(m.StatePath()), state)

	fmt.Printf("\n%s:\n", filepath.Base(m.LogDir()))
	_, err = lifecycle.ReadLog(m.LogDir(), lifecycle.LogQuery{}, func(e lifecycle.LogEntry) error {
		fmt.Println(string(e.Raw))
		return nil
	})
	return err
}
