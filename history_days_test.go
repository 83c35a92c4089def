//go:build unix

package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// TestDaysCenturiesAgo: a log line three centuries old (more than a
// time.Duration holds) gives a summary of every calendar day since, each
// whole, and Days returns.
func TestDaysCenturiesAgo(t *testing.T) {
	dir := histDir(t, map[string][]string{
		"1700-01-01": {histTr(t, "1700-01-01T12:00:00Z", "WAKE", "DROWSY", "idle_5min", 1)},
	})
	until := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	first := time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	wantDays := int((until.Unix() - first.Unix()) / (24 * 60 * 60))
	var days []lifecycle.DaySummary
	next := first
	st, err := lifecycle.History{Dir: dir}.Days(time.Time{}, until, func(d lifecycle.DaySummary) error {
		require.Equal(t, next, d.Day, "day %d", len(days))
		next = next.AddDate(0, 0, 1)
		if len(days) > 0 {
			require.Equal(t, map[lifecycle.State]time.Duration{lifecycle.Drowsy: 24 * time.Hour}, d.InState, "day %s", d.Day)
			require.Zero(t, d.Transitions)
		}
		if len(days) < 2 {
			days = append(days, d)
		} else {
			days[1] = d
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, st.Transitions)
	require.Equal(t, until, next, "days summarised up to the period's end")
	require.Greater(t, wantDays, 106_751, "more days than a time.Duration holds")
	require.Equal(t, 12*time.Hour, days[0].BeforeLog)
	require.Equal(t, 12*time.Hour, days[0].InState[lifecycle.Drowsy])
	require.Equal(t, 1, days[0].Transitions)
}

// TestHistoryContext: History's reads end with the context: before it reads
// a line once the context has ended, and between the days of a summary.
func TestHistoryContext(t *testing.T) {
	dir, _ := longHistory(t, 20_000)
	logDir := dir + "/logs"
	h := lifecycle.History{Dir: logDir}
	const limit = 500
	for _, tc := range []struct {
		name string
		read func(ctx context.Context) error
	}{
		{"StateAt", func(ctx context.Context) error {
			_, err := h.StateAtContext(ctx, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			return err
		}},
		{"Timeline", func(ctx context.Context) error {
			_, err := h.TimelineContext(ctx, time.Time{}, time.Time{}, func(lifecycle.Span) error { return nil })
			return err
		}},
		{"Days", func(ctx context.Context) error {
			_, err := h.DaysContext(ctx, time.Time{}, time.Time{}, func(lifecycle.DaySummary) error { return nil })
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx := &cancelAfterChecks{Context: inner, cancel: cancel, limit: limit}
			ctx.armed.Store(true)
			err := tc.read(ctx)
			require.ErrorIs(t, err, context.Canceled)
			checks := ctx.checks.Load()
			require.GreaterOrEqual(t, checks, int64(limit))
			require.Less(t, checks, int64(limit+8), "lines read after the context was cancelled")
		})
	}

	// Days between days: a period of centuries stops at the day the
	// context ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err := h.DaysContext(ctx, time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, func(lifecycle.DaySummary) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, 10, n)
}
