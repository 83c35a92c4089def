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

// parseTransitionLine reads the transition of a state_transition entry, and
// whether it has a seq: every reader of transitions (History, StateAt,
// Watch) reads them through it, so that they agree on every line. Like
// ReadLog it reads the line's members in place (ReadLog has checked that
// the line is a JSON object), keys matching exactly and a repeated key's
// last value counting, as Python reads them. The states and the trigger are
// any non-empty strings: a table may name other states, and a Python
// dispatch given a reason writes it as the trigger.
func parseTransitionLine(e LogEntry) (Transition, bool, error) {
	var from, to, trigger, seq []byte
	members(e.Raw, func(key, value []byte) {
		switch {
		case keyIs(key, "from"):
			from = value
		case keyIs(key, "to"):
			to = value
		case keyIs(key, "trigger"):
			trigger = value
		case keyIs(key, "seq"):
			seq = value
		}
	})
	if e.Time.IsZero() {
		// Span and Moment keep the zero time for "unknown".
		return Transition{}, false, errors.New(`state_transition line: "ts" is the zero time, 0001-01-01T00:00:00Z`)
	}
	tr := Transition{Time: e.Time}
	var ok [3]bool
	for i, f := range []struct {
		raw []byte
		out *string
	}{{from, (*string)(&tr.From)}, {to, (*string)(&tr.To)}, {trigger, (*string)(&tr.Event)}} {
		*f.out, ok[i] = transitionName(f.raw)
	}
	switch {
	case !ok[0] || !ok[1] || !ok[2]:
		return Transition{}, false, errors.New(`state_transition line: "from", "to" and "trigger" must be strings`)
	case tr.From == "":
		return Transition{}, false, errors.New(`state_transition line without a "from" state`)
	case tr.To == "":
		return Transition{}, false, errors.New(`state_transition line without a "to" state`)
	}
	n, has, err := seqValue(seq)
	if err != nil {
		return Transition{}, false, err
	}
	tr.Seq = n
	tr.Trigger = string(tr.Event)
	return tr, has, nil
}

// seqValue reads a raw "seq" value: absent or null is no seq; anything but
// a seq checkLineSeq accepts is an error.
func seqValue(raw []byte) (int64, bool, error) {
	if raw == nil || string(raw) == "null" {
		return 0, false, nil
	}
	if err := checkLineSeq(raw); err != nil {
		return 0, false, err
	}
	n, _ := strconv.ParseInt(string(raw), 10, 64) // checkLineSeq parsed it
	return n, true, nil
}

// lineSeq reads the seq of a state_transition line that ReadLog delivered
// (or parseLogLine accepted); ok is false when it has none (the Python
// tools write those) or one that is not a positive integer. Its key is
// "seq" exactly, as for every other reader.
func lineSeq(line []byte) (int64, bool) {
	var seq []byte
	members(line, func(key, value []byte) {
		if keyIs(key, "seq") {
			seq = value
		}
	})
	n, ok, err := seqValue(seq)
	return n, ok && err == nil
}

// transitionNames are the names a transition line holds on most lines,
// returned without allocating.
var transitionNames = func() []string {
	var names []string
	for _, s := range States() {
		names = append(names, string(s))
	}
	for _, ev := range Events() {
		names = append(names, string(ev))
	}
	return names
}()

// transitionName reads a raw JSON string value; a missing value or null is
// "", and ok; any other value is not ok.
func transitionName(raw []byte) (string, bool) {
	if raw == nil || string(raw) == "null" {
		return "", true
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		for _, n := range transitionNames {
			if string(raw[1:len(raw)-1]) == n {
				return n, true
			}
		}
	}
	return stringValue(raw)
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
