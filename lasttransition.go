//go:build unix

package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Transition is one move of a Machine: what its observers get, what the
// state file keeps of the last one (Record.LastTransition), and what its
// state_transition log line says.
type Transition struct {
	From, To State
	// Event is the event dispatched. Read back from a log line or a state
	// file, which keep only the trigger, it holds the trigger.
	Event Event
	// Trigger is what the log line's "trigger" says: the dispatch's reason
	// (see Machine.DispatchReason), or the event's name when it gave none.
	// Empty is read as the event's name.
	Trigger string
	// Seq is the record's transition_seq after the move, the "seq" of its
	// state_transition log line.
	Seq int64
	// Time is the record's since_ts after the move (UTC, whole
	// microseconds), the "ts" of its log line.
	Time time.Time
}

// lastTransitionKey is the state file's key for Record.LastTransition. The
// Python tools do not know it and keep it, as they keep every key they do
// not know.
const lastTransitionKey = "last_transition"

// appendLastTransition writes t as the state file's last_transition object,
// compact; the record's encoder indents it.
func appendLastTransition(b []byte, t *Transition) []byte {
	b = append(b, `{"ts":"`...)
	b = appendTimestamp(b, t.Time)
	b = append(b, `",`...)
	return appendMove(b, t)
}

// appendMove writes the members a transition's log line and its
// last_transition share, after ts, and closes the object.
func appendMove(b []byte, t *Transition) []byte {
	b = append(b, `"from":`...)
	b = appendJSONString(b, string(t.From))
	b = append(b, `,"to":`...)
	b = appendJSONString(b, string(t.To))
	b = append(b, `,"trigger":`...)
	b = appendJSONString(b, t.trigger())
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, t.Seq, 10)
	return append(b, '}')
}

// trigger is the "trigger" t's log line and last_transition say.
func (t *Transition) trigger() string {
	if t.Trigger != "" {
		return t.Trigger
	}
	return string(t.Event)
}

// decodeLastTransition reads a last_transition object: ts, from, to,
// trigger and seq, all required, their keys matching exactly (as Python
// reads them; a repeated key's last value counts). The states and the event
// are not checked against a table: the record's current_state is, and a
// table may change.
func decodeLastTransition(v json.RawMessage) (*Transition, error) {
	fields, ok := objectFields(v)
	if !ok {
		return nil, fmt.Errorf("want an object with ts, from, to, trigger and seq, found %s", abbrev(v))
	}
	var strs [4]string
	var seq json.RawMessage
	keys := [...]string{"ts", "from", "to", "trigger"}
	for _, f := range fields {
		if f.Key == "seq" {
			seq = f.Value
			continue
		}
		for i, k := range keys {
			if f.Key == k {
				strs[i] = ""
				if json.Unmarshal(f.Value, &strs[i]) != nil {
					return nil, fmt.Errorf("%s: want a string, found %s", k, abbrev(f.Value))
				}
			}
		}
	}
	for i, k := range keys {
		if strs[i] == "" {
			return nil, fmt.Errorf("%s: missing or empty", k)
		}
	}
	ts, err := parseRecordTime(strs[0])
	if err != nil {
		return nil, fmt.Errorf("ts: %w", err)
	}
	t := &Transition{From: State(strs[1]), To: State(strs[2]), Event: Event(strs[3]), Trigger: strs[3], Time: ts}
	if seq == nil {
		return nil, errors.New("seq: missing")
	}
	if err := counter(seq, &t.Seq); err != nil || t.Seq == 0 {
		return nil, fmt.Errorf("seq: want an integer from 1 to %d, found %s", int64(maxCounter), abbrev(seq))
	}
	return t, nil
}

// transitionLine is t's state_transition line of the event log.
func transitionLine(t *Transition) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"ts":"`...)
	b = appendTimestamp(b, t.Time)
	b = append(b, `","event":"state_transition",`...)
	return appendMove(b, t)
}

// shadowWarningLine records that a daemon in shadow run stayed up where it
// would have exited, in the Python project's words, so that both write the
// same bytes.
func shadowWarningLine(now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"ts":"`...)
	b = appendTimestamp(b, now)
	b = append(b, `","event":"shadow_run_warning","would_action":"hibernate_kill_process",`+
		`"blocked_by":"shadow_run=True","note":"shadow_run=True is a test-only legacy guard `+
		`preserved for transition tests; production daemons run with shadow_run=False where `+
		`this branch never fires."}`...)
	return b
}

// transitionLines are the log lines of t: its state_transition line, and
// the shadow_run_warning when it enters HIBERNATION in shadow run.
func transitionLines(t *Transition, shadowRun bool) [][]byte {
	lines := [][]byte{transitionLine(t)}
	if t.To == Hibernation && shadowRun {
		lines = append(lines, shadowWarningLine(t.Time))
	}
	return lines
}
