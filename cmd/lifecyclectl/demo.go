package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const demoDetails = `Runs a simulated daemon through its lifecycle in accelerated time: client
requests and heartbeats, idle timers, a sleep cycle whose progress is saved
with Machine.Update, hibernation (the daemon exits), and hours later a
restart that wakes it. Each dispatch is printed as it happens, with the
simulated time; then the state file and the event log it left.

The simulated clock starts at 2026-11-25 23:50 UTC, so the log spans two
daily files. The directory is a new temporary one, kept afterwards so that
the other commands can look at it, or D, which must be empty or missing.
Needs nothing but this program; takes about two seconds.
`

// demoStart is where the simulated clock starts: shortly before a UTC
// midnight, so that the log spans two daily files.
var demoStart = time.Date(2026, 11, 25, 23, 50, 0, 0, time.UTC)

type demoCmd struct {
	dir  string
	pace time.Duration
}

func (c *demoCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", "", "run in `D`, empty or missing, instead of a new temporary directory")
	durationVar(fs, &c.pace, "pace", 40*time.Millisecond, "the real `DURATION` each simulated minute takes; 0 runs flat out")
}

func (c *demoCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("demo", "unexpected argument %q", args[0])
	}
	if c.pace < 0 {
		return usagef("demo", "--pace %v: want 0 or more", c.pace)
	}
	// The global --dir counts only when given: the demo never runs in the
	// default directory, which may be a real daemon's.
	dir := c.dir
	if dir == "" {
		dir = e.dir
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "lifecycle-demo-"); err != nil {
			return err
		}
	} else if err := requireEmpty(dir); err != nil {
		return err
	}

	fmt.Fprintf(e.out, "A simulated daemon in %s.\n", dir)
	pace := fmt.Sprintf("one simulated minute takes %v", c.pace)
	if c.pace == 0 {
		pace = "running flat out"
	}
	fmt.Fprintf(e.out, "Simulated clock from %s, %s.\n", demoStart.Format("2006-01-02 15:04 MST"), pace)
	d := &simDaemon{e: e, dir: dir, clock: &simClock{t: demoStart}, pace: c.pace}
	if err := d.live(); err != nil {
		return err
	}
	if err := d.restart(); err != nil {
		return err
	}
	if err := showFiles(e, dir); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "\nThe files stay in %s. Look around with (in a checkout,\n%s is go run ./cmd/%s):\n", dir, progName, progName)
	fmt.Fprintf(e.out, "  %s --dir %s status\n", progName, dir)
	fmt.Fprintf(e.out, "  %s --dir %s log --json\n", progName, dir)
	fmt.Fprintf(e.out, "  %s --dir %s history --at 2026-11-26T00:30:00Z\n", progName, dir)
	fmt.Fprintf(e.out, "  %s --dir %s history --until 2026-11-27 --svg > history.svg\n", progName, dir)
	fmt.Fprintf(e.out, "  %s --dir %s dispatch idle_5min\n", progName, dir)
	return nil
}

// requireEmpty accepts a missing or empty directory.
func requireEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return &fs.PathError{Op: "demo", Path: dir, Err: errors.New("directory is not empty; the demo needs a fresh one")}
	}
	return nil
}

// showFiles prints the state file and the event log of dir.
func showFiles(e *env, dir string) error {
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	state, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "\n%s:\n%s\n", lifecycle.DefaultStateFile, state)
	file := ""
	_, err = lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{}, func(le lifecycle.LogEntry) error {
		if le.File != file {
			file = le.File
			rel, err := filepath.Rel(dir, file)
			if err != nil {
				rel = file
			}
			fmt.Fprintf(e.out, "\n%s:\n", rel)
		}
		_, err := e.out.WriteString(formatEntry(le))
		return err
	})
	return err
}
