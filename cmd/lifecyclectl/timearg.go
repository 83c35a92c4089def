package main

import (
	"fmt"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// parseTimeArg reads the T of --since and --until: an RFC 3339 timestamp,
// a UTC date YYYY-MM-DD (its midnight), or a duration such as 2h or 90m,
// meaning that long before now.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := lifecycle.ParseTimestamp(s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago, so it may not be negative", s)
		}
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-25T22:45:32Z), a date (2026-11-25) or a duration ago (2h)", s)
}
