package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/iai-mcp/lifecycle"
)

// runWatch is status --watch: it prints the events of lifecycle.Watch on
// dir, read with the table t, until interrupted or until --limit lines are
// out. Only a failure to start the watch, to write standard output or to
// create the --ready file ends it with an error; the watch's own errors are
// printed and it goes on.
func (c *statusCmd) runWatch(e *env, t *lifecycle.Table, dir string) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	_, serr := os.Stat(filepath.Join(dir, lifecycle.DefaultStateFile))
	events, err := lifecycle.Watch(ctx, dir, lifecycle.WatchTable(t))
	if err != nil {
		return err
	}
	p := &watchPrinter{out: e.out, errw: e.stderr, json: c.json, now: e.now, missing: errors.Is(serr, fs.ErrNotExist)}
	printed, first := 0, true
	for ev := range events {
		if ev.Kind == lifecycle.WatchError {
			ev.Err = c.table.hint(ev.Err)
		}
		n, err := p.print(ev)
		if err == nil {
			err = e.out.Flush()
		}
		if err != nil {
			return fmt.Errorf("write standard output: %w", err)
		}
		if first && c.ready != "" {
			if err := os.WriteFile(c.ready, nil, 0o600); err != nil {
				return err
			}
		}
		first = false
		if printed += n; c.limit > 0 && printed >= c.limit {
			return nil
		}
	}
	return nil // interrupted: the watch closed its channel
}
