package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/iai-mcp/lifecycle"
)

// eventWidth pads the event column: the longest kind the library or the
// Python tools write (shadow_run_warning, sleep_step_started) fits.
const eventWidth = 18

// humanTimeLayout is fixed-width, so that the columns line up.
const humanTimeLayout = "2006-01-02T15:04:05.000000Z"

// formatEntry is e as one human line: the time in UTC, the event, then the
// line's other fields as key=value in file order.
func formatEntry(e lifecycle.LogEntry) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format(humanTimeLayout))
	b.WriteString("  ")
	ev := bareOrQuoted(e.Event)
	b.WriteString(ev)
	fields, err := objectFields(e.Raw)
	if err != nil {
		// ReadLog only delivers JSON objects; keep the line whole anyway.
		fields = []field{{"raw", e.Raw}}
	}
	sep := strings.Repeat(" ", max(eventWidth-len(ev), 0)+2)
	for _, f := range fields {
		if f.key == "ts" || f.key == "event" {
			continue
		}
		b.WriteString(sep)
		sep = " "
		b.WriteString(bareOrQuoted(f.key))
		b.WriteByte('=')
		b.WriteString(formatValue(f.value))
	}
	b.WriteByte('\n')
	return b.String()
}

type field struct {
	key   string
	value json.RawMessage
}

// objectFields returns the members of the JSON object raw, in order.
func objectFields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not a JSON object")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		fields = append(fields, field{key, v})
	}
	return fields, nil
}

// formatValue writes a string bare when it is safe to (printable, no
// spaces, quotes or '='), quoted otherwise, and anything else as compact
// JSON.
func formatValue(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return bareOrQuoted(s)
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

func bareOrQuoted(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '"' || r == '=' || r == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}
