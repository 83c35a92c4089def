package daemon

import (
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func TestSleepAllowed(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return lifecycle.FormatTimestamp(now.Add(d)) }
	tests := []struct {
		name string
		edit func(*lifecycle.Record)
		want bool
	}{
		{"plain", func(*lifecycle.Record) {}, true},
		{"crisis", func(r *lifecycle.Record) { r.CrisisMode = true }, false},
		{"quarantined", func(r *lifecycle.Record) {
			r.Quarantine = &lifecycle.Quarantine{UntilTS: ts(time.Hour), Reason: "r", SinceTS: ts(-time.Hour)}
		}, false},
		{"quarantine ends now", func(r *lifecycle.Record) {
			r.Quarantine = &lifecycle.Quarantine{UntilTS: ts(0), Reason: "r", SinceTS: ts(-time.Hour)}
		}, true},
		{"quarantine over", func(r *lifecycle.Record) {
			r.Quarantine = &lifecycle.Quarantine{UntilTS: ts(-time.Minute), Reason: "r", SinceTS: ts(-time.Hour)}
		}, true},
		{"quarantine unreadable", func(r *lifecycle.Record) {
			r.Quarantine = &lifecycle.Quarantine{UntilTS: "tomorrow", Reason: "r", SinceTS: ts(-time.Hour)}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := lifecycle.DefaultRecord(now)
			tt.edit(&rec)
			require.Equal(t, tt.want, sleepAllowed(rec, now))
		})
	}
}
