package lifecycle

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		after, upTo int64
		have        []int64
		want        string
	}{
		{0, 4, nil, "seq 1 to 4"},
		{2, 3, nil, "seq 3"},
		{1, 6, []int64{2}, "seq 3 to 6"},
		{0, 10, []int64{2, 5, 6, 9}, "seq 1, 3 to 4, 7 to 8, 10"},
		{0, 20, []int64{2, 4, 6, 8, 10, 12}, "seq 1, 3, 5, 7 and 3 more runs"},
		{0, 1_000_000_000_000, nil, "seq 1 to 1000000000000"},
	} {
		require.Equal(t, tc.want, gaps(tc.after, tc.upTo, tc.have), "%+v", tc)
	}
}

func TestReadTransitions(t *testing.T) {
	day1 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, LogFileName(day1)), lines(
		record(day1, "state_transition", `,"from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1`),
		record(day1.Add(time.Second), "state_transition", `,"from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh"`), // Python: no seq
		record(day1.Add(2*time.Second), "wrapper_event", `,"seq":2`),
		record(day1.Add(3*time.Second), "state_transition", `,"from":"DROWSY","to":"WAKE","trigger":"heartbeat_refresh","seq":2`),
	))
	writeFile(t, filepath.Join(dir, LogFileName(day2)), lines(
		record(day2, "state_transition", `,"from":"WAKE","trigger":"idle_5min","seq":3`),                 // no "to": not a transition
		record(day2, "state_transition", `,"from":"WAKE","to":"NAP","trigger":"drowsy_on_idle","seq":3`), // another table's state, a reason
		record(day2.Add(time.Second), "state_transition", `,"from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":3`),
		[]byte(`{"ts":"garbage`),
		record(day2.Add(2*time.Second), "state_transition", `,"from":"DROWSY","to":"WAKE","trigger":"request_arrived","seq":4`),
		record(day2.Add(3*time.Second), "state_transition", `,"from":"DROWSY","to":"SLEEP","trigger":"idle_30min","seq":4`), // the first line read wins, as in History
	))
	t1 := Transition{Wake, Drowsy, Idle5Min, "idle_5min", 1, day1}
	t2 := Transition{Drowsy, Wake, HeartbeatRefresh, "heartbeat_refresh", 2, day1.Add(3 * time.Second)}
	t3 := Transition{Wake, "NAP", "drowsy_on_idle", "drowsy_on_idle", 3, day2}
	t4 := Transition{Drowsy, Wake, RequestArrived, "request_arrived", 4, day2.Add(2 * time.Second)}
	for _, tc := range []struct {
		name        string
		after, upTo int64
		since       time.Time
		want        []Transition
		wantErr     string
	}{
		{"all", 0, 4, time.Time{}, []Transition{t1, t2, t3, t4}, ""},
		{"a window", 1, 3, time.Time{}, []Transition{t2, t3}, ""},
		{"one", 3, 4, time.Time{}, []Transition{t4}, ""},
		{"past the log", 0, 6, time.Time{}, []Transition{t1, t2, t3, t4}, "2 transitions have no state_transition line in the log: seq 5 to 6"},
		{"since day two", 0, 4, day2, []Transition{t3, t4}, "seq 1 to 2"},
		{"nothing wanted", 4, 4, time.Time{}, []Transition{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readTransitions(context.Background(), dir, tc.after, tc.upTo, tc.since)
			require.Equal(t, tc.want, got)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, dir, pe.Path)
		})
	}
	t.Run("no log", func(t *testing.T) {
		missing := filepath.Join(dir, "missing")
		got, err := readTransitions(context.Background(), missing, 0, 2, time.Time{})
		require.Empty(t, got)
		require.ErrorContains(t, err, "seq 1 to 2")
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, missing, pe.Path)
	})
	t.Run("log dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "logs")
		writeFile(t, file, nil)
		got, err := readTransitions(context.Background(), file, 0, 2, time.Time{})
		require.Empty(t, got)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, file, pe.Path)
		require.NotContains(t, err.Error(), "seq 1 to 2", "the read failed; nothing is known missing")
	})
}
