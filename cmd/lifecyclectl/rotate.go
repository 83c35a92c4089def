package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const rotateDetails = `Replaces each plain log file whose day ended more than N days ago by its
.jsonl.gz, written and synced before the plain file is removed, as the
daemon's Machine does once a day. Safe to run while the daemon runs.
--retention-days 0 compresses every day that has ended (all but today's
file). The directory must exist (exit 1 otherwise).

With --json, one object: {"log_dir":...,"retention_days":N,
"rotated":[{"file":...,"gz":...},...]}; a file that could not be
compressed is then also an error on standard error (exit 1).
`

// maxRetentionDays keeps the retention within a time.Duration.
const maxRetentionDays = 100 * 365

type rotateCmd struct {
	days int
	json bool
}

func (c *rotateCmd) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.days, "retention-days", int(lifecycle.DefaultRetention/(24*time.Hour)),
		"compress files whose day ended more than `N` days ago")
	fs.BoolVar(&c.json, "json", false, "print the files rotated as one JSON object")
}

// rotated is one file rotate replaced, as --json prints it.
type rotated struct {
	File string `json:"file"`
	Gz   string `json:"gz"`
}

func (c *rotateCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("rotate", "unexpected argument %q", args[0])
	}
	if c.days < 0 || c.days > maxRetentionDays {
		return usagef("rotate", "--retention-days %d: want 0 to %d", c.days, maxRetentionDays)
	}
	dir, err := e.lifecycleDir("rotate")
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, lifecycle.DefaultLogDir)
	// RotateLogs does nothing for a retention of 0; a nanosecond takes
	// every day that has ended.
	retention := max(time.Duration(c.days)*24*time.Hour, time.Nanosecond)
	paths, err := lifecycle.RotateLogs(logDir, retention, e.now())
	if c.json {
		out := struct {
			LogDir        string    `json:"log_dir"`
			RetentionDays int       `json:"retention_days"`
			Rotated       []rotated `json:"rotated"`
		}{logDir, c.days, []rotated{}}
		for _, p := range paths {
			out.Rotated = append(out.Rotated, rotated{p, p + ".gz"})
		}
		return errors.Join(json.NewEncoder(e.out).Encode(out), err)
	}
	for _, p := range paths {
		fmt.Fprintf(e.out, "rotated %s -> %s.gz\n", p, filepath.Base(p))
	}
	if err == nil && len(paths) == 0 {
		fmt.Fprintf(e.out, "nothing to rotate: no plain log file in %s ended more than %d days ago\n", logDir, c.days)
	}
	return err
}
