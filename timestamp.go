//go:build unix

package lifecycle

import (
	"fmt"
	"time"
)

// FormatTimestamp writes t the way Python's datetime.isoformat() writes an
// aware UTC datetime: microseconds, omitted when zero, and "+00:00".
func FormatTimestamp(t time.Time) string {
	return string(appendTimestamp(make([]byte, 0, 32), t))
}

func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		b = t.AppendFormat(b, "2006-01-02T15:04:05")
	} else {
		b = t.AppendFormat(b, "2006-01-02T15:04:05.000000")
	}
	return append(b, "+00:00"...)
}

// ParseTimestamp reads an RFC 3339 timestamp: Python's isoformat() output,
// "Z", or any other offset. The result is in UTC, and must fall in years 1
// to 9999 there: the files hold UTC times in that range only (Python's
// datetime holds no others), and an offset can move a time in year 1 or
// 9999 out of it (0001-01-01T00:30:00+01:00 is in year 0 in UTC).
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: want RFC 3339, like 2026-11-25T22:45:32.123456+00:00", s)
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("bad timestamp %q: in year %d in UTC, want years 1 to 9999", s, y)
	}
	return t, nil
}

// truncate drops what the file format cannot hold, so that a record
// compares equal to itself after a save and a load.
func truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
