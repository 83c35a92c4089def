package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s ago"},
		{400 * time.Millisecond, "0s ago"},
		{600 * time.Millisecond, "1s ago"},
		{12 * time.Minute, "12m0s ago"},
		{25 * time.Hour, "1d1h0m0s ago"},
		{48 * time.Hour, "2d ago"},
		{3*24*time.Hour + 4*time.Hour + 5*time.Minute + 6*time.Second, "3d4h5m6s ago"},
		{-90 * time.Minute, "1h30m0s in the future: clock skew?"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, ago(now.Add(-tt.d), now))
		})
	}
}
