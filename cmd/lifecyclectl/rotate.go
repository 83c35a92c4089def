package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const rotateDetails = `Replaces each plain log file whose day ended more than N days ago by its
.jsonl.gz, written and synced before the plain file is removed, as the
daemon's Machine does once a day. Safe to run while the daemon runs.
`

// maxRetentionDays keeps the retention within a time.Duration.
const maxRetentionDays = 100 * 365

type rotateCmd struct{ days int }

func (c *rotateCmd) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.days, "retention-days", int(lifecycle.DefaultRetention/(24*time.Hour)),
		"compress files whose day ended more than `N` days ago")
}

func (c *rotateCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("rotate", "unexpected argument %q", args[0])
	}
	if c.days < 1 || c.days > maxRetentionDays {
		return usagef("rotate", "--retention-days %d: want 1 to %d", c.days, maxRetentionDays)
	}
	dir, err := e.storeDir()
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, lifecycle.DefaultLogDir)
	rotated, err := lifecycle.RotateLogs(logDir, time.Duration(c.days)*24*time.Hour, e.now())
	for _, p := range rotated {
		fmt.Fprintf(e.out, "rotated %s -> %s.gz\n", p, filepath.Base(p))
	}
	if err == nil && len(rotated) == 0 {
		fmt.Fprintf(e.out, "nothing to rotate: no plain log file in %s ended more than %d days ago\n", logDir, c.days)
	}
	return err
}
