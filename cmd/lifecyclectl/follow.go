package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// follower prints what a log directory holds, then what is appended to it,
// until its context ends or emit fails (errLimit included).
//
// History (every day before the newest plain file's) is read by
// lifecycle.ReadLog. The newest plain file is then tailed from its start:
// every poll reads what was appended, complete lines only, and lists the
// directory. When a later day's file appears (midnight), the current file
// is read once more, since lines written before the new file was created
// are then all in it, and the new file becomes the one tailed. The previous
// day's file is still read on each poll until the next switch, so that a
// line appended to it just after midnight (a writer whose clock is a little
// behind, say) is not lost.
type follower struct {
	dir   string
	q     lifecycle.LogQuery // Since, Kind and OnMalformed; no Until
	emit  func(lifecycle.LogEntry) error
	flush func() error
	ready string        // created once the history is out, if not ""
	poll  time.Duration // 0: pollInterval
}

func (f *follower) run(ctx context.Context) (err error) {
	files, err := lifecycle.LogFiles(f.dir)
	if err != nil {
		return err
	}
	hist := f.q
	var after time.Time // the day of the newest file read so far
	if newest, ok := newestPlain(files); ok {
		hist.Until, after = newest.Day, newest.Day.Add(-time.Nanosecond)
	} else if len(files) > 0 {
		after = files[len(files)-1].Day
	}
	if _, err := lifecycle.ReadLog(f.dir, hist, f.emit); err != nil {
		return err
	}

	var cur, prev *tail
	defer func() {
		for _, t := range []*tail{prev, cur} {
			if t != nil {
				err = errors.Join(err, t.close())
			}
		}
	}()
	poll := f.poll
	if poll == 0 {
		poll = pollInterval
	}
	timer := time.NewTimer(poll)
	defer timer.Stop()
	first := true
	for {
		// Read what was appended, then look for a newer day's file.
		for _, t := range []*tail{prev, cur} {
			if t != nil {
				if err := t.read(f.line); err != nil {
					return err
				}
			}
		}
		files, err := lifecycle.LogFiles(f.dir)
		if err != nil {
			return err
		}
		if next, ok := nextPlain(files, after); ok {
			t, err := openTail(next.Path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			}
			if err != nil {
				return err
			}
			if cur != nil {
				if err := cur.read(f.line); err != nil {
					return errors.Join(err, t.close())
				}
			}
			if prev != nil {
				prev.abandon(f.q.OnMalformed)
				err := prev.close()
				prev = nil
				if err != nil {
					return errors.Join(err, t.close())
				}
			}
			prev, cur, after = cur, t, next.Day
			continue
		}
		if err := f.flush(); err != nil {
			return err
		}
		if first && f.ready != "" {
			if err := os.WriteFile(f.ready, nil, 0o600); err != nil {
				return err
			}
		}
		first = false
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// line handles one complete line of a tailed file.
func (f *follower) line(path string, off int64, line []byte, long bool) error {
	if len(line) == 0 && !long {
		return nil
	}
	var e lifecycle.LogEntry
	err := fmt.Errorf("line longer than %d bytes", maxLine)
	if !long {
		e, err = lifecycle.ParseLogLine(line)
	}
	if err != nil {
		if f.q.OnMalformed != nil {
			f.q.OnMalformed(lifecycle.MalformedLine{File: path, Offset: off, Err: err})
		}
		return nil
	}
	if !f.q.Since.IsZero() && e.Time.Before(f.q.Since) || f.q.Kind != "" && e.Event != f.q.Kind {
		return nil
	}
	e.File, e.Offset = path, off
	return f.emit(e)
}

// newestPlain is the newest plain (not rotated) file of files.
func newestPlain(files []lifecycle.LogFile) (lifecycle.LogFile, bool) {
	for i := len(files) - 1; i >= 0; i-- {
		if !files[i].Gzip {
			return files[i], true
		}
	}
	return lifecycle.LogFile{}, false
}

// nextPlain is the oldest plain file of a day after after.
func nextPlain(files []lifecycle.LogFile, after time.Time) (lifecycle.LogFile, bool) {
	for _, f := range files {
		if !f.Gzip && f.Day.After(after) {
			return f, true
		}
	}
	return lifecycle.LogFile{}, false
}
