package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// watchPrinter writes the events of a watch, for status --watch. It keeps
// what it last printed, so that a record shows only what the operator has
// not been told.
//
// Human output is one line per event worth one, each led by a UTC time:
//
//	TIME  FROM -> TO (EVENT) seq N          a transition; TIME is when it happened
//	TIME  STATE since T (AGO); ...          the whole record: the first, and the first after an error
//	TIME  STATE  CHANGE; CHANGE             a record that changed in ways the transitions
//	                                        printed before it do not explain
//
// A record's TIME is when the watch saw it. Errors go to errw, as
// "TIME  error: MESSAGE (still watching)".
//
// With json, every event is one line: {"kind":"record","record":{...}}
// (the state file's keys), {"kind":"transition","transition":{"ts",
// "from","to","trigger","seq"}} (the log line's keys) or
// {"kind":"error","error":"..."}; errors are written to errw as well.
type watchPrinter struct {
	out, errw io.Writer
	json      bool
	now       func() time.Time
	missing   bool // the state file did not exist when the watch began

	prev *lifecycle.Record     // the record last printed about; nil at first and after an error
	last *lifecycle.Transition // the last transition printed since prev, if any
}

// print writes ev and returns how many lines it wrote to out. Only a
// failed write to out is an error.
func (p *watchPrinter) print(ev lifecycle.WatchEvent) (int, error) {
	if ev.Kind == lifecycle.WatchError {
		msg := "<nil>"
		if ev.Err != nil {
			msg = ev.Err.Error()
		}
		fmt.Fprintf(p.errw, "%s  error: %s (still watching)\n", humanTime(p.now()), strings.ReplaceAll(msg, "\n", "; "))
		p.prev, p.last = nil, nil
		if p.json {
			return p.writeJSON(watchJSON{Kind: ev.Kind.String(), Error: msg})
		}
		return 0, nil
	}
	if p.json {
		return p.printJSON(ev)
	}
	var line string
	switch ev.Kind {
	case lifecycle.WatchTransition:
		t := ev.Transition
		p.last = &t
		line = fmt.Sprintf("%s  %s -> %s (%s) seq %d", humanTime(t.Time), t.From, t.To, t.Event, t.Seq)
	case lifecycle.WatchRecord:
		r := ev.Record
		switch {
		case p.prev == nil:
			line = humanTime(p.now()) + "  " + p.summary(r)
		default:
			if changes := recordChanges(*p.prev, r, p.last); len(changes) > 0 {
				line = fmt.Sprintf("%s  %s  %s", humanTime(p.now()), r.CurrentState, strings.Join(changes, "; "))
			}
		}
		p.prev, p.last, p.missing = &r, nil, false
	}
	if line == "" {
		return 0, nil
	}
	if _, err := io.WriteString(p.out, line+"\n"); err != nil {
		return 0, err
	}
	return 1, nil
}

// summary is the whole record on one line: the state, since when, the last
// activity, the sequences, then whatever is not at rest.
func (p *watchPrinter) summary(r lifecycle.Record) string {
	now := p.now()
	parts := []string{
		fmt.Sprintf("%s since %s (%s)", r.CurrentState, humanTime(r.SinceTS), ago(r.SinceTS, now)),
		fmt.Sprintf("last activity %s (%s)", humanTime(r.LastActivityTS), ago(r.LastActivityTS, now)),
		fmt.Sprintf("seq %d", r.TransitionSeq),
		fmt.Sprintf("wrapper event %d", r.WrapperEventSeq),
	}
	if s := sleepCycleText(r); s != "" {
		parts = append(parts, "sleep cycle "+s)
	}
	if r.Quarantine != nil {
		parts = append(parts, "quarantine "+quarantineText(r))
	}
	if r.ShadowRun {
		parts = append(parts, "shadow run on")
	}
	if r.CrisisMode {
		parts = append(parts, "crisis mode "+crisisText(r))
	}
	if r.EssentialVariableConsecutiveBreaches != 0 || r.EssentialVariableConsecutiveClears != 0 {
		parts = append(parts, "essential var "+essentialText(r))
	}
	line := strings.Join(parts, "; ")
	if p.missing {
		line += " (no state file: a new machine's record)"
	}
	return line
}

// recordChanges says what differs from prev in cur, in the file's key
// order, leaving out what the transitions printed since prev explain: with
// last the newest of them (nil: none), the activity that comes with an
// event, and, when cur is where last left the machine, the state, since_ts
// and the sequence.
func recordChanges(prev, cur lifecycle.Record, last *lifecycle.Transition) []string {
	moved := last != nil
	arrived := moved && last.To == cur.CurrentState && last.Seq == cur.TransitionSeq
	var out []string
	add := func(changed bool, format string, a ...any) {
		if changed {
			out = append(out, fmt.Sprintf(format, a...))
		}
	}
	add(!arrived && prev.CurrentState != cur.CurrentState, "state was %s", prev.CurrentState)
	add(!arrived && !prev.SinceTS.Equal(cur.SinceTS), "since %s", humanTime(cur.SinceTS))
	add(!moved && !prev.LastActivityTS.Equal(cur.LastActivityTS), "last activity %s", humanTime(cur.LastActivityTS))
	add(!moved && prev.WrapperEventSeq != cur.WrapperEventSeq, "wrapper event %d", cur.WrapperEventSeq)
	if s := sleepCycleChange(prev, cur); s != "" {
		out = append(out, s)
	}
	add(quarantineText(prev) != quarantineText(cur), "quarantine %s", quarantineText(cur))
	add(prev.ShadowRun != cur.ShadowRun, "shadow run %s", onOff(cur.ShadowRun))
	add(crisisText(prev) != crisisText(cur), "crisis mode %s", crisisText(cur))
	add(essentialText(prev) != essentialText(cur), "essential var %s", essentialText(cur))
	add(!arrived && prev.TransitionSeq != cur.TransitionSeq, "seq %d", cur.TransitionSeq)
	if keys := changedKeys(prev.Extra, cur.Extra); len(keys) > 0 {
		add(true, "other keys changed: %s", strings.Join(keys, ", "))
	}
	return out
}

// sleepCycleText is the progress as compact JSON, or "" when there is none.
func sleepCycleText(r lifecycle.Record) string {
	raw := bytes.TrimSpace(r.SleepCycleProgress)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// sleepCycleChange says how the progress changed: "" not at all; cleared;
// the whole object when progress appears; else, the sleep cycle going on,
// only the keys that changed, as key=value in the log's style.
func sleepCycleChange(prev, cur lifecycle.Record) string {
	a, b := sleepCycleText(prev), sleepCycleText(cur)
	switch {
	case a == b:
		return ""
	case b == "":
		return "sleep cycle cleared"
	}
	before, aerr := objectFields([]byte(a))
	after, berr := objectFields([]byte(b))
	if a == "" || aerr != nil || berr != nil {
		return "sleep cycle " + b
	}
	// Both are compact, so equal values are equal bytes.
	var parts []string
	for _, f := range after {
		if v, ok := lookupField(before, f.key); !ok || !bytes.Equal(v, f.value) {
			parts = append(parts, bareOrQuoted(f.key)+"="+formatValue(f.value))
		}
	}
	for _, f := range before {
		if _, ok := lookupField(after, f.key); !ok {
			parts = append(parts, bareOrQuoted(f.key)+" removed")
		}
	}
	if len(parts) == 0 { // the same members in another order
		return "sleep cycle " + b
	}
	return "sleep cycle " + strings.Join(parts, " ")
}

func lookupField(fs []field, key string) (json.RawMessage, bool) {
	for _, f := range fs {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

func quarantineText(r lifecycle.Record) string {
	q := r.Quarantine
	if q == nil {
		return "none"
	}
	return fmt.Sprintf("until %s (since %s): %s", q.UntilTS, q.SinceTS, q.Reason)
}

func crisisText(r lifecycle.Record) string {
	switch {
	case !r.CrisisMode:
		return "off"
	case r.CrisisModeSinceTS != nil:
		return "on since " + *r.CrisisModeSinceTS
	}
	return "on"
}

func essentialText(r lifecycle.Record) string {
	return fmt.Sprintf("%d breaches, %d clears", r.EssentialVariableConsecutiveBreaches, r.EssentialVariableConsecutiveClears)
}

// changedKeys are the keys of the other programs whose value differs
// between a and b, or that only one of them has: b's order, then a's.
func changedKeys(a, b []lifecycle.Field) []string {
	value := func(fs []lifecycle.Field, key string) (json.RawMessage, bool) {
		for _, f := range fs {
			if f.Key == key {
				return f.Value, true
			}
		}
		return nil, false
	}
	var keys []string
	for _, f := range b {
		if v, ok := value(a, f.Key); !ok || !bytes.Equal(v, f.Value) {
			keys = append(keys, f.Key)
		}
	}
	for _, f := range a {
		if _, ok := value(b, f.Key); !ok && !slices.Contains(keys, f.Key) {
			keys = append(keys, f.Key)
		}
	}
	return keys
}

// watchJSON is one line of status --watch --json.
type watchJSON struct {
	Kind       string            `json:"kind"`
	Record     *lifecycle.Record `json:"record,omitempty"`
	Transition *transitionJSON   `json:"transition,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// transitionJSON has the keys of the log's state_transition line.
type transitionJSON struct {
	TS      string          `json:"ts"`
	From    lifecycle.State `json:"from"`
	To      lifecycle.State `json:"to"`
	Trigger lifecycle.Event `json:"trigger"`
	Seq     int64           `json:"seq"`
}

func (p *watchPrinter) printJSON(ev lifecycle.WatchEvent) (int, error) {
	switch ev.Kind {
	case lifecycle.WatchRecord:
		r := ev.Record
		return p.writeJSON(watchJSON{Kind: ev.Kind.String(), Record: &r})
	case lifecycle.WatchTransition:
		t := ev.Transition
		return p.writeJSON(watchJSON{Kind: ev.Kind.String(), Transition: &transitionJSON{
			TS: lifecycle.FormatTimestamp(t.Time), From: t.From, To: t.To, Trigger: t.Event, Seq: t.Seq}})
	}
	return 0, nil
}

func (p *watchPrinter) writeJSON(v watchJSON) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if _, err := p.out.Write(append(b, '\n')); err != nil {
		return 0, err
	}
	return 1, nil
}
