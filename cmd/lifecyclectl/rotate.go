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
daemon's Machine does once a day. Safe to run while the daemon and its
Python writers run: a file another process holds open (or, where that
cannot be known, one written to in the last hour) is left, and so is one
written to while it was compressed; each is named ("left FILE: why"), and
a later rotation takes it. No record is lost or read twice meanwhile.
--retention-days 0 compresses every day that has ended (all but today's
file). The directory must exist (exit 1 otherwise).

With --json, one object: {"log_dir":...,"retention_days":N,
"rotated":[{"file":...,"gz":...},...],"left":[{"file":...,"reason":...},...]};
a file that could not be compressed is then also an error on standard
error (exit 1).
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

// leftFile is one file rotate left in place, as --json prints it.
type leftFile struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
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
	// RotateLogsReport does nothing for a retention of 0; a nanosecond takes
	// every day that has ended.
	retention := max(time.Duration(c.days)*24*time.Hour, time.Nanosecond)
	r, err := lifecycle.RotateLogsReport(logDir, retention, e.now())
	if c.json {
		out := struct {
			LogDir        string     `json:"log_dir"`
			RetentionDays int        `json:"retention_days"`
			Rotated       []rotated  `json:"rotated"`
			Left          []leftFile `json:"left"`
		}{logDir, c.days, []rotated{}, []leftFile{}}
		for _, p := range r.Rotated {
			out.Rotated = append(out.Rotated, rotated{p, p + ".gz"})
		}
		for _, l := range r.Left {
			out.Left = append(out.Left, leftFile{l.Path, l.Reason})
		}
		return errors.Join(json.NewEncoder(e.out).Encode(out), err)
	}
	for _, p := range r.Rotated {
		fmt.Fprintf(e.out, "rotated %s -> %s.gz\n", p, filepath.Base(p))
	}
	for _, l := range r.Left {
		fmt.Fprintf(e.out, "left %s: %s; a later rotation takes it\n", l.Path, l.Reason)
	}
	if err == nil && len(r.Rotated) == 0 && len(r.Left) == 0 {
		fmt.Fprintf(e.out, "nothing to rotate: no plain log file in %s ended more than %d days ago\n", logDir, c.days)
	}
	return err
}
