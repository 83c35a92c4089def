package systemdtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Lines is a log that grows, line by line: the manager's console, or a file
// a service writes.
type Lines struct {
	mu      sync.Mutex
	lines   []string
	partial string
	// pull, if set, reads what has been added since (FollowFile).
	pull func(*Lines)
}

// ansi matches the terminal escapes a manager may colour its console with.
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// add takes more text; a line ends at a newline, without it and a
// carriage return (a terminal's output ends its lines with CR LF).
func (l *Lines) add(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := l.partial + string(p)
	for {
		line, rest, found := strings.Cut(text, "\n")
		if !found {
			l.partial = text
			return
		}
		line = ansi.ReplaceAllString(strings.TrimRight(line, "\r"), "")
		l.lines = append(l.lines, line)
		text = rest
	}
}

// All returns the complete lines so far.
func (l *Lines) All() []string {
	if l.pull != nil {
		l.pull(l)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// String is the complete lines so far, one per line.
func (l *Lines) String() string { return strings.Join(l.All(), "\n") }

// Count is how many complete lines so far contain s.
func (l *Lines) Count(s string) int {
	n := 0
	for _, line := range l.All() {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// pollEvery is how often waits look again: often enough to act at a
// moment a service logs, rarely enough to cost little.
const pollEvery = 500 * time.Microsecond

// WaitCount waits until n lines contain s, and returns the line that made
// it n; ctx's end is an error naming s.
func (l *Lines) WaitCount(ctx context.Context, s string, n int) (string, error) {
	return l.WaitMatch(ctx, fmt.Sprintf("containing %q", s), n, func(line string) bool { return strings.Contains(line, s) })
}

// WaitMatch waits until n lines match, and returns the line that made it
// n; ctx's end is an error with what (what the lines are, for people).
func (l *Lines) WaitMatch(ctx context.Context, what string, n int, match func(string) bool) (string, error) {
	for {
		count := 0
		for _, line := range l.All() {
			if match(line) {
				if count++; count == n {
					return line, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for line %d %s (%d so far): %w", n, what, count, context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// FollowFile is the lines of the file at path as it grows, read as they are
// asked for: a log a service appends to (StandardOutput=append:PATH). A
// file not there yet has no lines.
func FollowFile(path string) *Lines {
	var (
		mu     sync.Mutex
		offset int64
	)
	return &Lines{pull: func(l *Lines) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.Open(path)
		if err != nil {
			return // not written yet
		}
		defer f.Close() // read only: nothing to lose
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
		data, err := io.ReadAll(f)
		offset += int64(len(data))
		l.add(data)
		_ = err // what was read is kept; the next pull reads on
	}}
}
