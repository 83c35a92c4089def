package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iai-mcp/lifecycle"
)

// The two extensions the Python project made after the seed, as a table of
// one's own rather than a fork: force_sleep walks WAKE -> DROWSY -> SLEEP
// without the guards, and a morning wake_signal brings SLEEP back to WAKE.
func ExampleNewTable() {
	const ForceSleep lifecycle.Event = "force_sleep"
	table, err := lifecycle.NewTable(
		lifecycle.States(),
		append(lifecycle.Events(), ForceSleep),
		append(lifecycle.Rows(),
			lifecycle.Row{From: lifecycle.Wake, Event: ForceSleep, To: lifecycle.Drowsy},
			lifecycle.Row{From: lifecycle.Drowsy, Event: ForceSleep, To: lifecycle.Sleep},
			lifecycle.Row{From: lifecycle.Sleep, Event: lifecycle.WakeSignal, To: lifecycle.Wake},
		))
	if err != nil {
		log.Fatal(err) // errors.Is(err, lifecycle.ErrInvalidTable), naming the rows at fault
	}

	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m, err := lifecycle.New(dir, lifecycle.WithTable(table))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	for _, ev := range []lifecycle.Event{ForceSleep, ForceSleep, ForceSleep, lifecycle.WakeSignal} {
		state, err := m.Dispatch(ev, lifecycle.Guards{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev, "->", state)
	}
	// Output:
	// force_sleep -> DROWSY
	// force_sleep -> SLEEP
	// force_sleep -> SLEEP
	// wake_signal -> WAKE
}

// An operator's table file: the JSON form of a Table.
func ExampleLoadTable() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "table.json")
	err = os.WriteFile(path, []byte(`{
  "states": ["WAKE", "NAP"],
  "events": ["nap", "tick", "request_arrived"],
  "rows": [
    {"from": "WAKE", "event": "nap", "to": "NAP"},
    {"from": "*", "event": "request_arrived", "guard": "", "to": "WAKE"}
  ]
}`), 0o600)
	if err != nil {
		log.Fatal(err)
	}

	table, err := lifecycle.LoadTable(path)
	if err != nil {
		log.Fatal(err) // an *fs.PathError naming the file
	}
	for _, r := range table.Rows() {
		fmt.Println(r)
	}
	b, err := json.Marshal(table)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output:
	// WAKE + nap -> NAP
	// * + request_arrived -> WAKE
	// {"states":["WAKE","NAP"],"events":["nap","tick","request_arrived"],"rows":[{"from":"WAKE","event":"nap","guard":"","to":"NAP"},{"from":"*","event":"request_arrived","guard":"","to":"WAKE"}]}
}

func ExampleWithObserver() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	m, err := lifecycle.New(dir, lifecycle.WithObserver(func(tr lifecycle.Transition) {
		// Called once the transition is durable, outside the Machine's locks.
		fmt.Printf("#%d %s --%s--> %s\n", tr.Seq, tr.From, tr.Event, tr.To)
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, ev := range []lifecycle.Event{lifecycle.Idle5Min, lifecycle.Tick, lifecycle.HeartbeatRefresh} {
		if _, err := m.Dispatch(ev, lifecycle.Guards{}); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// #1 WAKE --idle_5min--> DROWSY
	// #2 DROWSY --heartbeat_refresh--> WAKE
}
