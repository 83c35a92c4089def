// Command jobrunner is a daemon of its own kind on the lifecycle library: a
// job runner with its own states (WAKE, RUNNING, PAUSED, DRAINING,
// STOPPED), events and fields (jobs_done, current_job). Its table, in
// table.json, asks for the core record, so its state file holds nothing of
// another daemon's. It keeps its files in $JOBRUNNER_DIR, else
// ~/.jobrunner, and runs the jobs named on its command line:
//
//	go run ./examples/jobrunner build test deploy
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/iai-mcp/lifecycle"
)

//go:embed table.json
var tableJSON []byte

// job is the daemon's own current_job field.
type job struct {
	Name string `json:"name"`
}

// Table is the job runner's transition table, with the core record.
func Table() (*lifecycle.Table, error) {
	var t lifecycle.Table
	if err := json.Unmarshal(tableJSON, &t); err != nil {
		return nil, fmt.Errorf("table.json: %w", err)
	}
	return &t, nil
}

// dir is $JOBRUNNER_DIR, else ~/.jobrunner.
func dir() (string, error) {
	if d := os.Getenv("JOBRUNNER_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".jobrunner"), nil
}

// run runs jobs in the directory dir, then drains and stops.
func run(dir string, jobs []string, do func(string) error) error {
	t, err := Table()
	if err != nil {
		return err
	}
	m, err := lifecycle.New(dir, lifecycle.WithTable(t))
	if err != nil {
		return err
	}
	defer m.Close()
	if _, err := m.Dispatch("start", lifecycle.Guards{}); err != nil { // a stopped runner starts again
		return err
	}
	for _, name := range jobs {
		if _, err := m.Dispatch("job_started", lifecycle.Guards{}); err != nil {
			return err
		}
		if _, err := m.Update(func(r *lifecycle.Record) error { return r.SetField("current_job", job{name}) }); err != nil {
			return err
		}
		if err := do(name); err != nil {
			return err
		}
		if _, err := m.Update(func(r *lifecycle.Record) error {
			var done int
			if _, err := r.Field("jobs_done", &done); err != nil {
				return err
			}
			r.DeleteField("current_job")
			return r.SetField("jobs_done", done+1)
		}); err != nil {
			return err
		}
		if _, err := m.Dispatch("job_finished", lifecycle.Guards{}); err != nil {
			return err
		}
	}
	if _, err := m.Dispatch("drain", lifecycle.Guards{}); err != nil {
		return err
	}
	// still_idle: no job is in flight.
	if _, err := m.Dispatch("stop", lifecycle.Guards{StillIdle: true}); err != nil {
		return err
	}
	return m.Close()
}

func main() {
	d, err := dir()
	if err != nil {
		log.Fatal(err)
	}
	err = run(d, os.Args[1:], func(name string) error {
		fmt.Println("running", name)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
