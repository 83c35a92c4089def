package lifecycle

import (
	"encoding/json"
	"time"
)

// LogEntry is one well-formed line of the event log.
type LogEntry struct {
	Time   time.Time       // the line's "ts"
	Event  string          // the line's "event": state_transition, wrapper_event, ...
	Raw    json.RawMessage // the whole line as written, without its newline
	File   string          // path of the file it was read from
	Offset int64           // byte offset of the line in the (uncompressed) file
}

// MalformedLine is a line a reader skipped.
type MalformedLine struct {
	File   string
	Offset int64
	Torn   bool  // the last line of a file with no newline: a crash mid-append
	Err    error // what is wrong with it
}

// LogQuery selects what ReadLog streams. Zero values select everything.
type LogQuery struct {
	Since, Until time.Time           // Since <= ts < Until; zero means unbounded
	Kind         string              // only entries whose "event" is Kind
	OnMalformed  func(MalformedLine) // told of each skipped line
}

// LogStats counts what ReadLog saw.
type LogStats struct {
	Files     int // files opened
	Entries   int // well-formed lines delivered to the callback
	Malformed int // lines skipped
	Torn      int // of those, torn last lines
}

// LogFileName is the base name of the log file for t's UTC day.
func LogFileName(t time.Time) string {
	return "lifecycle-events-" + t.UTC().Format("2006-01-02") + ".jsonl"
}

// ReadLog streams the entries of the log directory dir, oldest day first, in
// file order within a day, plain and gzip-compressed files alike, calling fn
// for each one that matches q. It never holds a whole file in memory. A line
// that is not a JSON object with a string "event" and a timestamp "ts" is
// skipped and counted. An error from fn stops the read and is returned.
func ReadLog(dir string, q LogQuery, fn func(LogEntry) error) (LogStats, error) {
	panic("unimplemented")
}

// RotateLogs replaces each plain log file in dir whose day ended more than
// retention before now by its .jsonl.gz, written and synced before the plain
// file is removed. It returns the paths of the files it compressed.
func RotateLogs(dir string, retention time.Duration, now time.Time) ([]string, error) {
	panic("unimplemented")
}

// eventLog appends to the daily files of one log directory.
type eventLog struct {
	dir string
}

// append writes each line (compact JSON, no newline) to the file for now's
// UTC day, one write per line, under an exclusive flock on that file, then
// syncs it. A torn last line left by a crash is ended first so that no record
// is glued onto it.
func (l *eventLog) append(now time.Time, lines ...[]byte) error {
	panic("unimplemented")
}
