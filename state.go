//go:build unix

package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// MaxStateSize bounds the state file. A real record is well under a
// kilobyte; a larger file is refused without being read to the end, and a
// record whose file would be larger is refused before it is written (and,
// read from a smaller file, when it is loaded: see fileSize).
const MaxStateSize = 1 << 20

// maxCounter is the largest value of a counter in the state file: one
// less than int64's, so that the Machine can always count one more.
const maxCounter = math.MaxInt64 - 1

// Record is the content of the state file. Its JSON form (MarshalJSON) is the
// file's: the known keys in a fixed order, then any keys this library does
// not know, kept with their values. The nested objects keep what this
// library does not know of them too, byte for byte: sleep_cycle_progress
// is kept whole, quarantine keeps its unknown keys and key order (see
// Quarantine), and last_transition is written back as the file had it for
// as long as it describes LastTransition.
type Record struct {
	CurrentState State
	SinceTS      time.Time
	// LastActivityTS moves on heartbeat_refresh, request_arrived and wake_signal.
	LastActivityTS  time.Time
	WrapperEventSeq int64
	// SleepCycleProgress is a JSON object owned by the sleep cycle, or nil.
	SleepCycleProgress                   json.RawMessage
	Quarantine                           *Quarantine
	ShadowRun                            bool
	CrisisMode                           bool
	CrisisModeSinceTS                    *string
	EssentialVariableConsecutiveBreaches int64
	EssentialVariableConsecutiveClears   int64
	// TransitionSeq counts the transitions ever logged; the log's
	// state_transition lines carry the same number as "seq".
	TransitionSeq int64
	// LastTransition is the transition that set current_state, since_ts
	// and transition_seq, or nil when no Machine of this library has made
	// one. The state file carries it (as last_transition) so that the
	// state file alone says which log line it is owed: a Machine that finds
	// the line missing (its writer stopped between the two) appends it.
	// Only Dispatch changes it.
	LastTransition *Transition
	// Extra holds the keys this library does not know, in file order.
	Extra []Field

	// core is set on a record of a table with the core record (see
	// Table.CoreRecord): it is written with coreKeys only.
	core bool

	// lastTransitionFile is the file's last_transition object, when it is
	// not what LastTransition would be written as (keys this library does
	// not know, another key order, another spelling of the time); nil
	// otherwise. It is written back as it was for as long as LastTransition
	// is the transition it describes.
	lastTransitionFile *rawTransition
}

// rawTransition is a last_transition object as a file has it, and the
// transition it describes.
type rawTransition struct {
	t   Transition
	raw json.RawMessage // compact
}

// Quarantine is the sleep cycle's back-off after repeated failures.
//
// Its JSON object in the state file may hold keys this library does not
// know (another version of the Python project may add some); they are kept
// in Extra and written back, values byte for byte. A Quarantine read from a
// file also keeps the order of the file's keys, known ones included, and is
// written in that order; keys added to Extra since come last. A Quarantine
// built in Go is written with until_ts, reason and since_ts first, then
// Extra in order.
type Quarantine struct {
	UntilTS string `json:"until_ts"`
	Reason  string `json:"reason"`
	SinceTS string `json:"since_ts"`
	// Extra holds the keys of the quarantine object this library does not
	// know, with their values (valid JSON), in file order. Validate refuses
	// a key that is one of the three above or repeats another.
	Extra []Field `json:"-"`

	// order is the order of the keys of the file the Quarantine was read
	// from, when it differs from the one a Quarantine built in Go is
	// written in; nil otherwise, so that such a Quarantine equals one built
	// in Go field by field.
	order []string
}

// quarantineKeys are the keys of a quarantine object this library knows, in
// the order a Quarantine built in Go is written in.
var quarantineKeys = [...]string{"until_ts", "reason", "since_ts"}

// field returns the field of q that holds the known key k, or nil.
func (q *Quarantine) field(k string) *string {
	switch k {
	case "until_ts":
		return &q.UntilTS
	case "reason":
		return &q.Reason
	case "since_ts":
		return &q.SinceTS
	}
	return nil
}

// appendJSON writes q as a compact JSON object: in the file's key order if
// it was read from one, else the known keys first; then whatever keys of
// Extra that order did not place.
func (q *Quarantine) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	member := func(k string, v []byte) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	keys := q.order
	if keys == nil {
		keys = quarantineKeys[:]
	}
	placed := make([]bool, len(q.Extra))
	for _, k := range keys {
		if f := q.field(k); f != nil {
			member(k, appendJSONString(nil, *f))
			continue
		}
		for i, e := range q.Extra {
			if !placed[i] && e.Key == k {
				member(k, e.Value)
				placed[i] = true
				break
			}
		}
	}
	for i, e := range q.Extra {
		if !placed[i] {
			member(e.Key, e.Value)
		}
	}
	return append(b, '}')
}

// validate reports what keeps q's Extra from being written.
func (q *Quarantine) validate() error {
	seen := make(map[string]bool, len(q.Extra))
	for _, f := range q.Extra {
		if q.field(f.Key) != nil || seen[f.Key] {
			return fmt.Errorf("extra key %q duplicates a key of the quarantine", f.Key)
		}
		seen[f.Key] = true
		if !json.Valid(f.Value) {
			return fmt.Errorf("extra key %q holds invalid JSON", f.Key)
		}
	}
	return nil
}

// Field is a key of the state file this library does not know.
type Field struct {
	Key   string
	Value json.RawMessage
}

// DefaultRecord is the record of a machine that has never run: WAKE since now.
func DefaultRecord(now time.Time) Record {
	now = truncate(now)
	return Record{CurrentState: Wake, SinceTS: now, LastActivityTS: now}
}

// Equal reports whether r and o would be written as the same bytes.
func (r Record) Equal(o Record) bool {
	a, errA := r.MarshalJSON()
	b, errB := o.MarshalJSON()
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// Clone returns a deep copy, so a callback can change it freely.
func (r Record) Clone() Record {
	c := r
	c.SleepCycleProgress = bytes.Clone(r.SleepCycleProgress)
	if r.Quarantine != nil {
		q := *r.Quarantine
		q.Extra = cloneFields(q.Extra)
		c.Quarantine = &q // q.order is never changed in place: shared
	}
	if r.CrisisModeSinceTS != nil {
		s := *r.CrisisModeSinceTS
		c.CrisisModeSinceTS = &s
	}
	if r.LastTransition != nil {
		t := *r.LastTransition
		c.LastTransition = &t
	}
	c.Extra = cloneFields(r.Extra)
	return c
}

// cloneFields returns a deep copy of fs (nil for nil).
func cloneFields(fs []Field) []Field {
	if fs == nil {
		return nil
	}
	c := make([]Field, len(fs))
	for i, f := range fs {
		c[i] = Field{f.Key, bytes.Clone(f.Value)}
	}
	return c
}

// knownKeys are the file's keys in the order they are written.
var knownKeys = [...]string{
	"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq",
	"sleep_cycle_progress", "quarantine", "shadow_run", "crisis_mode",
	"crisis_mode_since_ts", "essential_variable_consecutive_breaches",
	"essential_variable_consecutive_clears", "transition_seq", lastTransitionKey,
}

// coreKeys are the keys of the core record (see Table.CoreRecord), in the
// order they are written: what every lifecycle has, nothing of the Python
// daemon's own.
var coreKeys = [...]string{
	"current_state", "since_ts", "last_activity_ts", "wrapper_event_seq",
	"transition_seq", lastTransitionKey,
}

func isKnownKey(k string) bool { return slices.Contains(knownKeys[:], k) }

// isKey reports whether k is a key the record's format writes itself: one
// of coreKeys for a core record, of knownKeys otherwise.
func (r *Record) isKey(k string) bool {
	if r.core {
		return slices.Contains(coreKeys[:], k)
	}
	return isKnownKey(k)
}

// Validate reports, wrapping ErrInvalidRecord, what keeps r from being
// saved. current_state must be a state of the seed table.
func (r Record) Validate() error { return r.validate(defaultTable) }

// validate is Validate with current_state checked against t.
func (r Record) validate(t *Table) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRecord, fmt.Sprintf(format, a...))
	}
	if _, err := t.ParseState(string(r.CurrentState)); err != nil {
		return bad("current_state: %v", err)
	}
	for _, ts := range [...]struct {
		key string
		t   time.Time
	}{{"since_ts", r.SinceTS}, {"last_activity_ts", r.LastActivityTS}} {
		// Python's datetime holds years 1 to 9999; outside them the file
		// could not be read back.
		if y := ts.t.UTC().Year(); ts.t.IsZero() || y < 1 || y > 9999 {
			return bad("%s is %v, want a time in years 1 to 9999", ts.key, ts.t)
		}
	}
	for _, c := range [...]struct {
		key string
		n   int64
	}{
		{"wrapper_event_seq", r.WrapperEventSeq},
		{"essential_variable_consecutive_breaches", r.EssentialVariableConsecutiveBreaches},
		{"essential_variable_consecutive_clears", r.EssentialVariableConsecutiveClears},
		{"transition_seq", r.TransitionSeq},
	} {
		if c.n < 0 || c.n > maxCounter {
			return bad("%s is %d, want an integer from 0 to %d", c.key, c.n, int64(maxCounter))
		}
	}
	if lt := r.LastTransition; lt != nil {
		if lt.From == "" || lt.To == "" || lt.trigger() == "" || lt.Seq < 1 || lt.Seq > maxCounter || lt.Time.IsZero() ||
			lt.Time.UTC().Year() < 1 || lt.Time.UTC().Year() > 9999 {
			return bad("last_transition needs from, to, event, a seq from 1 to %d and a time in years 1 to 9999", int64(maxCounter))
		}
	}
	if r.SleepCycleProgress != nil {
		if err := checkObjectOrNull(r.SleepCycleProgress); err != nil {
			return bad("sleep_cycle_progress: %v", err)
		}
	}
	if r.Quarantine != nil {
		if err := r.Quarantine.validate(); err != nil {
			return bad("quarantine: %v", err)
		}
	}
	if r.core = t.core; r.core {
		if err := r.checkCore(); err != nil {
			return bad("%v", err)
		}
	}
	seen := make(map[string]bool, len(r.Extra))
	for _, f := range r.Extra {
		if r.isKey(f.Key) || seen[f.Key] {
			return bad("extra key %q duplicates a key of the record", f.Key)
		}
		seen[f.Key] = true
		if !json.Valid(f.Value) {
			return bad("extra key %q holds invalid JSON", f.Key)
		}
	}
	return nil
}

// checkCore refuses a core record that holds a value of the Python
// daemon's fields, which its file has no key for: dropping the value
// silently would lose it. ShadowRun is not one of them: it is the
// Machine's setting (WithShadowRun), not the file's.
func (r Record) checkCore() error {
	var set []string
	if r.SleepCycleProgress != nil && !isNull(r.SleepCycleProgress) {
		set = append(set, "sleep_cycle_progress")
	}
	if r.Quarantine != nil {
		set = append(set, "quarantine")
	}
	if r.CrisisMode {
		set = append(set, "crisis_mode")
	}
	if r.CrisisModeSinceTS != nil {
		set = append(set, "crisis_mode_since_ts")
	}
	if r.EssentialVariableConsecutiveBreaches != 0 {
		set = append(set, "essential_variable_consecutive_breaches")
	}
	if r.EssentialVariableConsecutiveClears != 0 {
		set = append(set, "essential_variable_consecutive_clears")
	}
	if len(set) > 0 {
		return fmt.Errorf("%s set, but the core record has no such key (keep a daemon's own fields with SetField)",
			strings.Join(set, ", "))
	}
	return nil
}

// checkObjectOrNull refuses raw unless it is a JSON object or null, with
// no space around it but JSON's (a form feed, say, which the encoder would
// refuse to write).
func checkObjectOrNull(raw json.RawMessage) error {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if !json.Valid(raw) || len(t) == 0 || t[0] != '{' && !bytes.HasPrefix(t, []byte("null")) {
		return errors.New("want a JSON object or null")
	}
	return nil
}

// MarshalJSON writes r in the file's layout, compact. It does not validate.
func (r Record) MarshalJSON() ([]byte, error) {
	b, err := r.encode("", nil)
	if err != nil {
		return nil, err
	}
	return asciiJSON(b), nil
}

// UnmarshalJSON reads and validates the file's layout, keeping unknown keys.
func (r *Record) UnmarshalJSON(data []byte) error {
	rec, err := decodeRecord(data, defaultTable)
	if err != nil {
		return err
	}
	*r = rec
	return nil
}

// encode writes the record; indent "" is compact, otherwise each level is
// indented by indent as Python's json.dump(indent=2) does. With measure,
// the JSON values held as bytes are not written: the size they would take
// is added to *measure instead (see fileSize).
func (r Record) encode(indent string, measure *int) ([]byte, error) {
	b := make([]byte, 0, 512)
	nl, sep := "", ":"
	if indent != "" {
		nl, sep = "\n"+indent, ": "
	}
	key := func(k string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, nl...)
		b = appendJSONString(b, k)
		b = append(b, sep...)
	}
	// raw writes a JSON value held as bytes (validated when it was read or
	// by Validate), re-indented for its depth.
	raw := func(k string, v []byte) error {
		key(k)
		if v == nil {
			b = append(b, "null"...)
			return nil
		}
		if measure != nil {
			*measure += indentedSize(v, indent, indent)
			return nil
		}
		buf := bytes.NewBuffer(b)
		var err error
		if indent == "" {
			err = json.Compact(buf, v)
		} else {
			err = json.Indent(buf, v, indent, indent)
		}
		b = buf.Bytes()
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		return nil
	}

	b = append(b, '{')
	key("current_state")
	b = appendJSONString(b, string(r.CurrentState))
	key("since_ts")
	b = appendQuotedTimestamp(b, r.SinceTS)
	key("last_activity_ts")
	b = appendQuotedTimestamp(b, r.LastActivityTS)
	key("wrapper_event_seq")
	b = strconv.AppendInt(b, r.WrapperEventSeq, 10)
	if !r.core {
		if err := r.encodePython(key, raw, &b); err != nil {
			return nil, err
		}
	}
	key("transition_seq")
	b = strconv.AppendInt(b, r.TransitionSeq, 10)
	if lt := r.LastTransition; lt != nil {
		v := appendLastTransition(nil, lt)
		if f := r.lastTransitionFile; f != nil && sameTransition(&f.t, lt) {
			v = f.raw
		}
		if err := raw(lastTransitionKey, v); err != nil {
			return nil, err
		}
	}
	for _, f := range r.Extra {
		if err := raw(f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	if indent != "" {
		b = append(b, '\n')
	}
	return append(b, '}'), nil
}

// encodePython writes the keys of the Python daemon's record that the core
// record has not, between wrapper_event_seq and transition_seq; key and raw
// are encode's.
func (r Record) encodePython(key func(string), raw func(string, []byte) error, bp *[]byte) error {
	if err := raw("sleep_cycle_progress", r.SleepCycleProgress); err != nil {
		return err
	}
	var quarantine []byte
	if q := r.Quarantine; q != nil {
		quarantine = q.appendJSON(nil)
	}
	if err := raw("quarantine", quarantine); err != nil {
		return err
	}
	key("shadow_run")
	*bp = strconv.AppendBool(*bp, r.ShadowRun)
	key("crisis_mode")
	*bp = strconv.AppendBool(*bp, r.CrisisMode)
	key("crisis_mode_since_ts")
	if r.CrisisModeSinceTS == nil {
		*bp = append(*bp, "null"...)
	} else {
		*bp = appendJSONString(*bp, *r.CrisisModeSinceTS)
	}
	key("essential_variable_consecutive_breaches")
	*bp = strconv.AppendInt(*bp, r.EssentialVariableConsecutiveBreaches, 10)
	key("essential_variable_consecutive_clears")
	*bp = strconv.AppendInt(*bp, r.EssentialVariableConsecutiveClears, 10)
	return nil
}

func appendQuotedTimestamp(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = appendTimestamp(b, t)
	return append(b, '"')
}

// appendJSONString quotes s as Python's json.dumps does with its default
// ensure_ascii=True: every non-ASCII rune as a \u escape, so the bytes match
// what the Python tools write.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20 || r >= 0x7f:
			if r >= 0x10000 {
				r1, r2 := utf16Surrogates(r)
				b = append(b, '\\', 'u', hex[r1>>12], hex[r1>>8&15], hex[r1>>4&15], hex[r1&15])
				r = r2
			}
			b = append(b, '\\', 'u', hex[r>>12], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		default:
			b = append(b, byte(r))
		}
	}
	return append(b, '"')
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// asciiJSON rewrites the non-ASCII runes inside a JSON text as \u escapes.
// Outside strings JSON is ASCII already, so rewriting every rune is safe.
func asciiJSON(src []byte) []byte {
	if isASCII(src) {
		return src
	}
	out := make([]byte, 0, len(src)+16)
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r < utf8.RuneSelf {
			out = append(out, src[0])
		} else {
			q := appendJSONString(nil, string(r))
			out = append(out, q[1:len(q)-1]...)
		}
		src = src[n:]
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fileBytes is the state file's exact content.
func (r Record) fileBytes() ([]byte, error) {
	b, err := r.encode(fileIndent, nil)
	if err != nil {
		return nil, err
	}
	return asciiJSON(b), nil
}

// decodeRecord parses and validates a state file's content; current_state
// must be one of t's states.
func decodeRecord(data []byte, t *Table) (Record, error) {
	r, _, err := decodeRecordSeq(data, t)
	return r, err
}

// decodeRecordSeq is decodeRecord, also reporting whether the file has a
// transition_seq: a file without one (the Python tools make those) has
// lost count of the transitions in the log.
func decodeRecordSeq(data []byte, t *Table) (Record, bool, error) {
	r, raw, err := decodeRecordRaw(data, t)
	_, hasSeq := raw["transition_seq"]
	return r, hasSeq, err
}

func decodeRecordRaw(data []byte, t *Table) (Record, map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return Record{}, nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return Record{}, nil, fmt.Errorf("not JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Record{}, nil, fmt.Errorf("want a JSON object, found %v", tok)
	}
	var r Record
	r.core = t.core
	raw := make(map[string]json.RawMessage, len(knownKeys))
	var extra []Field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Record{}, nil, fmt.Errorf("not JSON: %v", jsonErr(err))
		}
		key := tok.(string) // inside an object the decoder only yields string keys
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return Record{}, nil, fmt.Errorf("not JSON: %v", jsonErr(err))
		}
		if r.isKey(key) {
			raw[key] = v
			continue
		}
		// A repeated key keeps its first place and its last value, as a
		// Python dict does.
		extra = setField(extra, key, v)
	}
	if _, err := dec.Token(); err != nil {
		return Record{}, nil, fmt.Errorf("not JSON: %v", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Record{}, nil, errors.New("not JSON: data after the object")
	}

	var errs []error
	fail := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }

	if s, err := requiredString(raw, "current_state"); err != nil {
		fail("current_state", err)
	} else if st, err := t.ParseState(s); err != nil {
		fail("current_state", err)
	} else {
		r.CurrentState = st
	}
	for _, f := range [...]struct {
		key string
		dst *time.Time
	}{{"since_ts", &r.SinceTS}, {"last_activity_ts", &r.LastActivityTS}} {
		if s, err := requiredString(raw, f.key); err != nil {
			fail(f.key, err)
		} else if t, err := parseRecordTime(s); err != nil {
			fail(f.key, err)
		} else {
			// The file format holds microseconds (Python's datetime holds
			// no more): a record read is the record that would be written.
			*f.dst = truncate(t)
		}
	}
	for _, f := range [...]struct {
		key string
		dst *int64
	}{
		{"wrapper_event_seq", &r.WrapperEventSeq},
		{"essential_variable_consecutive_breaches", &r.EssentialVariableConsecutiveBreaches},
		{"essential_variable_consecutive_clears", &r.EssentialVariableConsecutiveClears},
		{"transition_seq", &r.TransitionSeq},
	} {
		if err := counter(raw[f.key], f.dst); err != nil {
			fail(f.key, err)
		}
	}
	if v, ok := raw["sleep_cycle_progress"]; ok && !isNull(v) {
		if err := checkObjectOrNull(v); err != nil {
			fail("sleep_cycle_progress", err)
		} else {
			r.SleepCycleProgress = compact(v)
		}
	}
	if v, ok := raw["quarantine"]; ok && !isNull(v) {
		if q, err := quarantine(v); err != nil {
			fail("quarantine", err)
		} else {
			r.Quarantine = q
		}
	}
	if v, ok := raw["shadow_run"]; r.core {
		// The core record has no shadow_run: a Machine's WithShadowRun
		// holds it.
	} else if !ok {
		fail("shadow_run", errors.New("missing, want true or false"))
	} else if err := boolean(v, &r.ShadowRun); err != nil {
		fail("shadow_run", err)
	}
	if v, ok := raw["crisis_mode"]; ok {
		if err := boolean(v, &r.CrisisMode); err != nil {
			fail("crisis_mode", err)
		}
	}
	if v, ok := raw[lastTransitionKey]; ok && !isNull(v) {
		if lt, err := decodeLastTransition(v); err != nil {
			fail(lastTransitionKey, err)
		} else {
			r.LastTransition = lt
			if c := compact(v); !bytes.Equal(c, appendLastTransition(nil, lt)) {
				r.lastTransitionFile = &rawTransition{t: *lt, raw: c}
			}
		}
	}
	if v, ok := raw["crisis_mode_since_ts"]; ok && !isNull(v) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			fail("crisis_mode_since_ts", fmt.Errorf("want a string or null, found %s", abbrev(v)))
		} else {
			r.CrisisModeSinceTS = &s
		}
	}
	for i := range extra {
		extra[i].Value = compact(extra[i].Value)
	}
	r.Extra = extra
	if len(errs) == 0 {
		// What loads must save: a file within MaxStateSize can hold a
		// record whose file is larger (see statesize.go).
		if n := r.fileSize(); n > MaxStateSize {
			errs = append(errs, fmt.Errorf("its record, written back (indented, non-ASCII characters escaped), "+
				"would be %d bytes, more than the %d allowed", n, MaxStateSize))
		}
	}
	return r, raw, errors.Join(errs...)
}

func setField(fs []Field, key string, v json.RawMessage) []Field {
	for i, f := range fs {
		if f.Key == key {
			fs[i].Value = v
			return fs
		}
	}
	return append(fs, Field{key, v})
}

func jsonErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("unexpected end of input (truncated or empty file)")
	}
	return err
}

func isNull(v json.RawMessage) bool { return bytes.Equal(v, []byte("null")) }

func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return bytes.Clone(v) // already checked valid by the decoder
	}
	return b.Bytes()
}

// abbrev shows at most a line's worth of a bad value in an error.
func abbrev(v json.RawMessage) string {
	const max = 40
	if len(v) > max {
		return string(v[:max]) + "..."
	}
	return string(v)
}

func requiredString(raw map[string]json.RawMessage, key string) (string, error) {
	v, ok := raw[key]
	if !ok {
		return "", errors.New("missing")
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("want a string, found %s", abbrev(v))
	}
	if s == "" {
		return "", errors.New("empty")
	}
	return s, nil
}

// parseRecordTime reads a timestamp of the record: ParseTimestamp's, but
// not the first instant of year 1, Go's zero time, which a Record holds
// only for a time never set (and Validate refuses).
func parseRecordTime(s string) (time.Time, error) {
	t, err := ParseTimestamp(s)
	if err == nil && t.IsZero() {
		return time.Time{}, fmt.Errorf("%q is the zero time, which stands for a time never set", s)
	}
	return t, err
}

// counter reads a non-negative integer, at most maxCounter. Missing reads
// 0. Booleans, floats (even 1.0) and strings are refused: Python writes
// counters as ints.
func counter(v json.RawMessage, dst *int64) error {
	if v == nil {
		return nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 || n > maxCounter {
		return fmt.Errorf("want an integer from 0 to %d, found %s", int64(maxCounter), abbrev(v))
	}
	*dst = n
	return nil
}

func boolean(v json.RawMessage, dst *bool) error {
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fmt.Errorf("want true or false, found %s", abbrev(v))
	}
	return nil
}

// quarantine reads a quarantine object: its three known keys, strings, and
// any other keys into Extra, all in file order.
func quarantine(v json.RawMessage) (*Quarantine, error) {
	fields, ok := objectFields(v)
	if !ok {
		return nil, fmt.Errorf("want an object or null, found %s", abbrev(v))
	}
	var q Quarantine
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		keys = append(keys, f.Key)
		dst := q.field(f.Key)
		if dst == nil {
			q.Extra = append(q.Extra, Field{f.Key, compact(f.Value)})
			continue
		}
		if err := json.Unmarshal(f.Value, dst); err != nil || isNull(f.Value) {
			return nil, fmt.Errorf("%s: want a string, found %s", f.Key, abbrev(f.Value))
		}
	}
	for _, k := range quarantineKeys {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("%s: missing", k)
		}
	}
	if !slices.Equal(keys[:len(quarantineKeys)], quarantineKeys[:]) {
		q.order = keys
	}
	return &q, nil
}

// objectFields splits a JSON object into its members, in order. A repeated
// key keeps its first place and its last value, as a Python dict does. ok
// is false when v is not a JSON object.
func objectFields(v json.RawMessage) (fields []Field, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, false
		}
		fields = setField(fields, key, val)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	return fields, true
}

// LoadState reads the state file at path. A missing file reads as
// DefaultRecord(time.Now()) and nothing is written. A file that is not JSON,
// fails validation, is too large or is not a regular file gives an
// *fs.PathError naming it and wrapping ErrCorruptState; the file is left as
// it is. A system call that fails (permission denied, too many open files,
// an I/O error) gives that call's *fs.PathError, Op "open", "read",
// "fstat" or "close", and does not wrap ErrCorruptState: the file may be
// good.
//
// The state file must be a regular file. A symbolic link at path (dangling
// or not) is refused in the same way, with an error saying so, rather than
// read through: every write replaces the state file by rename, which would
// replace the link with a regular file and leave its target behind. The
// lock file is refused the same way; directories on the way to either are
// followed.
func LoadState(path string) (Record, error) {
	r, _, err := loadState(path, time.Now, defaultTable)
	return r, err
}

// LoadState is the package's LoadState with t's states: current_state must
// be one of them, as for a Machine given WithTable(t). It reads what such a
// Machine's Snapshot reads, without a Machine: no lock, nothing created or
// written. A nil or empty Table refuses with an error wrapping
// ErrInvalidTable.
func (t *Table) LoadState(path string) (Record, error) {
	if t == nil || len(t.states) == 0 {
		return Record{}, &fs.PathError{Op: "load state", Path: path,
			Err: fmt.Errorf("%w: an empty table knows no states; build one with NewTable, LoadTable or DefaultTable", ErrInvalidTable)}
	}
	r, _, err := loadState(path, time.Now, t)
	return r, err
}

// loadState also reports whether the file existed. current_state must be
// one of t's states.
func loadState(path string, now func() time.Time, t *Table) (Record, bool, error) {
	data, exists, err := readStateInto(path, nil, func([]byte) bool { return false })
	if err != nil {
		return Record{}, true, err
	}
	if !exists {
		return t.defaultRecord(now()), false, nil
	}
	r, err := decodeRecord(data, t)
	if err != nil {
		return Record{}, true, &fs.PathError{Op: "load state", Path: path, Err: fmt.Errorf("%w: %w", ErrCorruptState, err)}
	}
	return r, true, nil
}

// errStateSymlink is why a state path that is a symbolic link is refused.
var errStateSymlink = errors.New("is a symbolic link; refusing to follow it " +
	"(every write replaces the state file by rename, which would replace the link, not update its target)")

// readStateInto reads the state file at path into buf (reusing it when it
// is large enough): at most MaxStateSize bytes of a regular file, a
// symbolic link refused (O_NOFOLLOW), dangling or not; a missing file is
// (nil, false, nil). LoadState, Snapshot and Watch read through it too. It runs on every dispatch, so it uses
// the system calls directly: an *os.File would register the descriptor
// with the runtime's poller and add two system calls to the four it needs
// (open, fstat, read, close).
//
// known reports whether bytes read are ones the caller knows (read or
// written before, from a regular file): only other bytes cost an fstat, to
// make sure they come from a regular file (a FIFO or a device with bytes
// to read would pass the read otherwise).
//
// Errors name path. What the file is or holds (a symbolic link, not a
// regular file, too large) wraps ErrCorruptState; a system call that fails
// (permissions, descriptors, the disk) is reported as it is, by its name:
// the file may be good, and must not be taken for a corrupt one.
func readStateInto(path string, buf []byte, known func([]byte) bool) (data []byte, exists bool, err error) {
	var fd int
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == unix.ENOENT:
		return nil, false, nil
	case err == unix.ELOOP:
		return nil, true, corruptState(path, errStateSymlink)
	case err != nil:
		return nil, true, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	data, err = readFD(fd, MaxStateSize, buf)
	if err == nil && !known(data) {
		err = checkRegular(fd)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &sysError{"close", cerr}
	}
	var se *sysError
	switch {
	case errors.As(err, &se):
		return nil, true, &fs.PathError{Op: se.op, Path: path, Err: se.err}
	case err != nil:
		return nil, true, corruptState(path, err)
	}
	return data, true, nil
}

// corruptState is the error for a state file at path whose content is not a
// record, for the reason err.
func corruptState(path string, err error) error {
	return &fs.PathError{Op: "load state", Path: path, Err: fmt.Errorf("%w: %w", ErrCorruptState, err)}
}

// readFD is readRegular for a raw descriptor, in as few system calls as it
// can: a read that returns less than it asked for has reached the end of a
// regular file, so a state file smaller than buf takes one read. fstat
// runs only when something is off (an error, nothing read, too much), to
// say what the file is instead. A failed system call is a *sysError.
func readFD(fd int, max int64, buf []byte) ([]byte, error) {
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		asked := cap(buf) - len(buf)
		n, err := sysRead(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			buf = buf[:len(buf)+n]
		}
		switch {
		case err != nil, int64(len(buf)) > max:
			return nil, notRegular(fd, max, err)
		case n < asked && len(buf) == 0:
			// Empty, or a FIFO or a device with nothing to read.
			if err := notRegular(fd, max, nil); err != nil {
				return nil, err
			}
			return buf, nil
		case n < asked:
			return buf, nil
		}
	}
}

// sysRead is read(2). Tests replace it to fail reads as a disk does (EIO),
// which no file mode can make happen.
var sysRead = unix.Read

// checkRegular refuses anything but a regular file.
func checkRegular(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &sysError{"fstat", err}
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		return errNotRegular(modeType(uint32(st.Mode)))
	}
	return nil
}

// notRegular says what is wrong with the file fd reads: not a regular file,
// larger than max, or the read error err (a *sysError). nil means an empty
// regular file.
func notRegular(fd int, max int64, err error) error {
	var st unix.Stat_t
	if serr := unix.Fstat(fd, &st); serr != nil {
		if err != nil {
			return &sysError{"read", err}
		}
		return &sysError{"fstat", serr}
	}
	switch {
	case uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG:
		return errNotRegular(modeType(uint32(st.Mode)))
	case st.Size > max:
		return fmt.Errorf("file is %d bytes, more than the %d allowed", st.Size, max)
	case err != nil:
		return &sysError{"read", err}
	}
	if st.Size > 0 {
		return fmt.Errorf("file grew past the %d bytes allowed", max)
	}
	return nil
}

// modeType is the fs.FileMode type bits of a stat mode, for messages.
func modeType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// SaveState validates r and replaces the file at path with it, durably: a
// temporary file in the same directory is written, synced and renamed over
// path, and the directory is synced. A record that Validate refuses, or
// whose file would be larger than MaxStateSize, is refused with an
// *fs.PathError naming path and wrapping ErrInvalidRecord, and nothing is
// written. A path that is a symbolic link is
// refused, as LoadState refuses it: the rename would replace the link, not
// write to its target.
func SaveState(path string, r Record) error {
	if err := refuseSymlink("save state", path); err != nil {
		return err
	}
	return saveState(path, r, defaultTable)
}

// SaveState is the package's SaveState with t's states and record format:
// current_state must be one of t's states, and a table with the core
// record (CoreRecord) writes the core record. It writes what a Machine
// given WithTable(t) would, without a Machine: no lock is taken, so it is
// for a directory no Machine is using. A nil or empty Table refuses with an
// error wrapping ErrInvalidTable.
func (t *Table) SaveState(path string, r Record) error {
	if t == nil || len(t.states) == 0 {
		return &fs.PathError{Op: "save state", Path: path,
			Err: fmt.Errorf("%w: an empty table knows no states; build one with NewTable, LoadTable or DefaultTable", ErrInvalidTable)}
	}
	if err := refuseSymlink("save state", path); err != nil {
		return err
	}
	return saveState(path, r, t)
}

// refuseSymlink fails, with an *fs.PathError of op naming path, if path is a
// symbolic link.
func refuseSymlink(op, path string) error {
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return &fs.PathError{Op: op, Path: path, Err: errStateSymlink}
	}
	return nil
}

// saveState validates r (its current_state against t) and replaces path
// with it; see replaceFile.
func saveState(path string, r Record, t *Table) error {
	data, err := stateBytes(path, r, t)
	if err != nil {
		return err
	}
	return replaceFile(path, data)
}

// stateBytes validates r (its current_state against t) and returns the
// state file's bytes for it; errors name path.
func stateBytes(path string, r Record, t *Table) ([]byte, error) {
	invalid := func(err error) error {
		return &fs.PathError{Op: "save state", Path: path, Err: fmt.Errorf("%w: %w", ErrInvalidRecord, err)}
	}
	r.core = t.core // the table decides the file's format
	if err := r.validate(t); err != nil {
		return nil, &fs.PathError{Op: "save state", Path: path, Err: err}
	}
	// Before the bytes are made: a record small in memory can be huge
	// written (see statesize.go).
	if err := r.checkFileSize(); err != nil {
		return nil, invalid(err)
	}
	data, err := r.fileBytes()
	if err != nil {
		return nil, invalid(err)
	}
	if len(data) > MaxStateSize {
		return nil, invalid(fmt.Errorf("the state file would be %d bytes, more than the %d allowed", len(data), MaxStateSize))
	}
	return data, nil
}
