package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// localLayouts are the times without an offset that parseTimeArg takes, as
// UTC: what a person types after reading a UTC log.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
}

// parseTimeArg reads the T of --since, --until and --at: "now", an RFC 3339
// timestamp, a date and time without an offset (UTC), a UTC date YYYY-MM-DD
// (its midnight), or a duration such as 2h or 90m, meaning that long before
// now. A space may stand for the T between date and time.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if strings.EqualFold(s, "now") {
		return now.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	withT := s
	if len(s) > len(time.DateOnly) && s[len(time.DateOnly)] == ' ' {
		withT = s[:len(time.DateOnly)] + "T" + s[len(time.DateOnly)+1:]
	}
	if t, err := lifecycle.ParseTimestamp(withT); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, withT, time.UTC); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago, so it may not be negative", s)
		}
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-25T22:45:32Z; a space may stand for the T, and a time without an offset is UTC), a date (2026-11-25), a duration ago (2h) or now", s)
}
