//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// parseLogLine checks that line is a log record, a JSON object with a
// string "event" and a string "ts" that ParseTimestamp reads, and returns
// those two. Keys match exactly, and a repeated key's last value counts, as
// Python's json reads them. It reads the object's members in place, without
// decoding the rest of the line: the reader's cost per line.
func parseLogLine(line []byte) (time.Time, string, error) {
	if !utf8.Valid(line) {
		return time.Time{}, "", errors.New("invalid UTF-8")
	}
	if t := bytes.TrimLeft(line, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return time.Time{}, "", errors.New("not a JSON object")
	}
	if !json.Valid(line) {
		return time.Time{}, "", errors.New("not JSON")
	}
	var ts, ev, seq []byte // raw values, quotes included
	members(line, func(key, value []byte) {
		switch {
		case keyIs(key, "ts"):
			ts = value
		case keyIs(key, "event"):
			ev = value
		case keyIs(key, "seq"):
			seq = value
		}
	})
	event, ok := stringValue(ev)
	if !ok || event == "" {
		return time.Time{}, "", errors.New(`no "event" string`)
	}
	if event == "state_transition" {
		if err := checkLineSeq(seq); err != nil {
			return time.Time{}, "", err
		}
	}
	stamp, ok := stringValue(ts)
	if !ok || stamp == "" {
		return time.Time{}, "", errors.New(`no "ts" string`)
	}
	t, err := ParseTimestamp(stamp)
	if err != nil {
		return time.Time{}, "", err
	}
	return t, event, nil
}

// Event kinds the reader meets on most lines, returned without allocating.
var commonKinds = [...]string{"state_transition", "wrapper_event", "shadow_run_warning"}

// stringValue reads a raw JSON value that must be a string.
func stringValue(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		var out string
		return out, json.Unmarshal(raw, &out) == nil
	}
	for _, k := range commonKinds {
		if string(s) == k {
			return k, true
		}
	}
	return string(s), true
}

// keyIs reports whether the raw JSON string key spells name.
func keyIs(key []byte, name string) bool {
	if s := key[1 : len(key)-1]; bytes.IndexByte(s, '\\') < 0 {
		return string(s) == name
	}
	s, _ := stringValue(key)
	return s == name
}

// members calls fn with the raw key and value of each member of the JSON
// object in b, which json.Valid has accepted: that is what lets it skip
// values by their delimiters alone.
func members(b []byte, fn func(key, value []byte)) {
	i := skipSpace(b, 0) + 1 // past '{'
	for {
		i = skipSpace(b, i)
		switch b[i] {
		case '}':
			return
		case ',':
			i = skipSpace(b, i+1)
		}
		kEnd := valueEnd(b, i)
		key := b[i:kEnd]
		i = skipSpace(b, skipSpace(b, kEnd)+1) // past ':'
		vEnd := valueEnd(b, i)
		fn(key, b[i:vEnd])
		i = vEnd
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// valueEnd returns the index just past the valid JSON value at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		for j := i + 1; ; j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = valueEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i // a number, true, false or null
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	return j
}

// checkLineSeq refuses the raw "seq" of a state_transition line unless it
// is a seq a transition can have: an integer from 1 to maxCounter, as the
// state file's transition_seq. A larger one would overflow when the next
// transition counts from it. A line without one (or with null), as the
// Python tools write, passes.
func checkLineSeq(seq []byte) error {
	if seq == nil || string(seq) == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(string(seq), 10, 64); err != nil || n < 1 || n > maxCounter {
		return fmt.Errorf(`state_transition line: "seq" %s is not an integer from 1 to %d`, abbrev(seq), int64(maxCounter))
	}
	return nil
}
