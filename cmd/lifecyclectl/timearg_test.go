package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTimeArg(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "2026-11-24", want: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{in: "2026-11-25T22:45:32.123456+00:00", want: time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC)},
		{in: "2026-11-25T22:45:32Z", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-25T23:45:32+01:00", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "0s", want: now},
		{in: "-2h", wantErr: "may not be negative"},
		{in: "yesterday", wantErr: "want an RFC 3339 time"},
		{in: "", wantErr: "want an RFC 3339 time"},
		{in: "2026-13-01", wantErr: "want an RFC 3339 time"},
		{in: "now", want: now},
		{in: "NOW", want: now},
		// A space may stand for the T; a time without an offset is UTC.
		{in: "2026-11-25 22:45:32", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-26 00:30", want: time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)},
		{in: "2026-11-26T00:30", want: time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)},
		{in: "2026-11-25T22:45:32.5", want: time.Date(2026, 11, 25, 22, 45, 32, 500000000, time.UTC)},
		{in: "2026-11-25 23:45:32+01:00", want: time.Date(2026, 11, 25, 22, 45, 32, 0, time.UTC)},
		{in: "2026-11-25 25:00", wantErr: "want an RFC 3339 time"},
		{in: "yesterday", wantErr: "a time without an offset is UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimeArg(tt.in, now)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.Equal(got), "got %v, want %v", got, tt.want)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}
