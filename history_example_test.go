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

// historyExampleLog writes a log in which the daemon slept from 23:00 to
// 06:00, and returns its directory.
func historyExampleLog() string {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	logs := filepath.Join(dir, lifecycle.DefaultLogDir)
	files := map[string]string{
		"lifecycle-events-2026-11-25.jsonl": `{"ts":"2026-11-25T22:30:00+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}
{"ts":"2026-11-25T23:00:00+00:00","event":"state_transition","from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":2}
`,
		"lifecycle-events-2026-11-26.jsonl": `{"ts":"2026-11-26T06:00:00+00:00","event":"state_transition","from":"SLEEP","to":"WAKE","trigger":"request_arrived","seq":3}
`,
	}
	if err := os.Mkdir(logs, 0o700); err != nil {
		log.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(data), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	return logs
}

func ExampleStateAt() {
	logs := historyExampleLog()
	defer os.RemoveAll(filepath.Dir(logs))

	m, err := lifecycle.StateAt(logs, time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err) // no transition in the log: errors.Is(err, lifecycle.ErrNoHistory)
	}
	fmt.Println(m.State, "since", m.Start.Format(time.Kitchen), "after", m.Entered.From, "->", m.Entered.To)
	fmt.Println("until", m.End.Format(time.Kitchen), "by", m.Left.Event)
	// Output:
	// SLEEP since 11:00PM after DROWSY -> SLEEP
	// until 6:00AM by request_arrived
}

func ExampleHistory_Days() {
	logs := historyExampleLog()
	defer os.RemoveAll(filepath.Dir(logs))

	h := lifecycle.History{Dir: logs}
	since := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	_, err := h.Days(since, since.AddDate(0, 0, 2), func(d lifecycle.DaySummary) error {
		fmt.Println(d.Day.Format(time.DateOnly), "before the log", d.BeforeLog, "drowsy", d.InState[lifecycle.Drowsy],
			"asleep", d.InState[lifecycle.Sleep], "awake", d.InState[lifecycle.Wake])
		if s := d.LongestSleep; s != nil {
			fmt.Println("  longest sleep", s.Duration(), "from", s.Start.Format(time.Kitchen))
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 2026-11-25 before the log 22h30m0s drowsy 30m0s asleep 1h0m0s awake 0s
	//   longest sleep 7h0m0s from 11:00PM
	// 2026-11-26 before the log 0s drowsy 0s asleep 6h0m0s awake 18h0m0s
}
