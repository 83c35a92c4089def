package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// svgLog is a lifecycle directory whose log has a day and a half of
// transitions, the second day rotated, and a clock that stepped back across
// midnight (seq 6, in the first day's file).
func svgLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	logs := filepath.Join(dir, lifecycle.DefaultLogDir)
	require.NoError(t, os.Mkdir(logs, 0o700))
	tr := func(ts, from, to, trigger string, seq int) string {
		return `{"ts":"` + ts + `","event":"state_transition","from":"` + from + `","to":"` + to +
			`","trigger":"` + trigger + `","seq":` + strconv.Itoa(seq) + "}\n"
	}
	day1 := tr("2026-11-25T08:00:00+00:00", "WAKE", "DROWSY", "idle_5min", 1) +
		`{"ts":"2026-11-25T08:01:00+00:00","event":"wrapper_event","kind":"heartbeat_refresh"}` + "\n" +
		tr("2026-11-25T08:30:00+00:00", "DROWSY", "SLEEP", "idle_30min", 2) +
		tr("2026-11-25T09:00:00.5+00:00", "SLEEP", "HIBERNATION", "sleep_cycle_done", 3) +
		tr("2026-11-25T23:59:00+00:00", "WAKE", "DROWSY", "idle_5min", 6)
	day2 := tr("2026-11-26T06:00:00+00:00", "HIBERNATION", "WAKE", "wake_signal", 4) +
		tr("2026-11-26T23:59:30+00:00", "WAKE", `<odd & \"state\">`, "x", 5)
	require.NoError(t, os.WriteFile(filepath.Join(logs, "lifecycle-events-2026-11-25.jsonl"), []byte(day1), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "lifecycle-events-2026-11-26.jsonl"), []byte(day2), 0o600))
	return dir
}

// svgLastLine is the time of svgLog's last line.
var svgLastLine = time.Date(2026, 11, 26, 23, 59, 30, 0, time.UTC)

// svgBar is a bar of the timeline as the SVG has it.
type svgBar struct {
	state          lifecycle.State
	beforeLog      bool
	afterLog       bool
	start, end     time.Time
	x, width, secs float64
	y              int
}

// parseSVG checks that doc is well-formed XML whose root is an svg element
// in the SVG namespace, and returns its bars.
func parseSVG(t *testing.T, doc []byte) []svgBar {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var bars []svgBar
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "not well-formed XML")
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Space + " " + se.Name.Local
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		for _, a := range se.Attr {
			// Self-contained: no link leaves the document.
			require.False(t, strings.HasPrefix(a.Value, "http") && a.Name.Local != "xmlns", "%s=%q", a.Name.Local, a.Value)
		}
		if se.Name.Local != "rect" || attr["class"] != "span" {
			continue
		}
		f := func(k string) float64 {
			v, err := strconv.ParseFloat(attr[k], 64)
			require.NoError(t, err, k)
			return v
		}
		ts := func(k string) time.Time {
			v, err := lifecycle.ParseTimestamp(attr[k])
			require.NoError(t, err, k)
			return v
		}
		y, err := strconv.Atoi(attr["y"])
		require.NoError(t, err)
		bars = append(bars, svgBar{lifecycle.State(attr["data-state"]), attr["data-before-log"] == "true",
			attr["data-after-log"] == "true", ts("data-start"), ts("data-end"), f("x"), f("width"), f("data-seconds"), y})
	}
	require.Equal(t, "http://www.w3.org/2000/svg svg", root)
	return bars
}

// The SVG is well-formed and self-contained, and each bar is as wide as
// the time it stands for, and never narrower than svgMinW, so that every
// stretch in a state shows; time after the log's last line is drawn as
// unknown; per day and state, the bars add up to the time History.Days
// gives.
func TestHistorySVG(t *testing.T) {
	dir := svgLog(t)
	tests := []struct {
		name, since, until string
		days               int
	}{
		{"whole days", "2026-11-25", "2026-11-27", 2},
		{"part days", "2026-11-25T08:15:00Z", "2026-11-26T12:00:00Z", 2},
		{"one hour", "2026-11-25T08:20:00Z", "2026-11-25T09:20:00Z", 1},
		{"before the log", "2026-11-24T20:00:00Z", "2026-11-25T09:00:00Z", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"--dir", dir, "history", "--svg", "--since", tt.since, "--until", tt.until}, &stdout, &stderr)
			require.Equal(t, exitOK, code, stderr.String())
			require.Empty(t, stderr.String())
			bars := parseSVG(t, stdout.Bytes())
			require.NotEmpty(t, bars)

			since, err := parseTimeArg(tt.since, time.Now())
			require.NoError(t, err)
			until, err := parseTimeArg(tt.until, time.Now())
			require.NoError(t, err)
			got := map[time.Time]map[lifecycle.State]float64{}
			rows := map[int]bool{}
			for _, b := range bars {
				require.InDelta(t, b.end.Sub(b.start).Seconds(), b.secs, 1e-6, "data-seconds of %+v", b)
				require.InDelta(t, max(b.secs*svgPerSec, svgMinW), b.width, 0.001, "width of %+v", b)
				require.GreaterOrEqual(t, b.width, svgMinW, "a bar one can see: %+v", b)
				// The log's last line is seq 5's, at 2026-11-26T23:59:30Z.
				require.Equal(t, !b.start.Before(svgLastLine), b.afterLog, "after the log's last line: %+v", b)
				day := b.start.Truncate(24 * time.Hour)
				require.InDelta(t, svgLabelW+b.start.Sub(day).Seconds()*svgPerSec, b.x, 0.001, "x of %+v", b)
				require.False(t, b.end.After(day.AddDate(0, 0, 1)), "a bar stays in its day: %+v", b)
				require.False(t, b.start.Before(since) || b.end.After(until), "a bar stays in the period: %+v", b)
				rows[b.y] = true
				if got[day] == nil {
					got[day] = map[lifecycle.State]float64{}
				}
				state := b.state
				if b.beforeLog {
					state = "before log"
				}
				got[day][state] += b.secs
			}
			require.Len(t, rows, tt.days)

			want := map[time.Time]map[lifecycle.State]float64{}
			_, err = lifecycle.History{Dir: filepath.Join(dir, "logs")}.Days(since, until, func(d lifecycle.DaySummary) error {
				w := map[lifecycle.State]float64{}
				for s, v := range d.InState {
					if v > 0 {
						w[s] = v.Seconds()
					}
				}
				if d.BeforeLog > 0 {
					w["before log"] = d.BeforeLog.Seconds()
				}
				want[d.Day] = w
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			for day, w := range want {
				require.Len(t, got[day], len(w), "day %s: %v", day, got[day])
				for s, v := range w {
					require.InDelta(t, v, got[day][s], 1e-6, "day %s, %s", day, s)
				}
			}
		})
	}
}
