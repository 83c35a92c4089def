package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// The SVG timeline's layout, in pixels: a row per UTC day, 24 hours across.
const (
	svgLabelW = 116 // the day labels' column
	svgChartW = 960 // 24 hours: 40 px an hour
	svgRightW = 20  // margin on the right
	svgTop    = 56  // title and hour labels
	svgRowH   = 16  // a day's bar
	svgRowGap = 6   // between rows
	svgLegend = 44  // the legend below the rows
	svgWidth  = svgLabelW + svgChartW + svgRightW
	svgPerSec = float64(svgChartW) / (24 * 60 * 60) // px per second
	// svgMinW is the narrowest bar: a few minutes are under 2 px at 40 px
	// an hour, and every stretch in a state gets a mark one can see.
	svgMinW = 2.0
)

// svgColors are the seed's states' colours; other states take svgPalette's
// in the order of the table, and the time before the log is hatched grey.
var (
	svgColors = map[lifecycle.State]string{
		lifecycle.Wake:        "#f2b134",
		lifecycle.Drowsy:      "#8cc7d9",
		lifecycle.Sleep:       "#3c6ea8",
		lifecycle.Hibernation: "#1f2a44",
	}
	svgPalette = []string{"#b07aa1", "#59a14f", "#e15759", "#76b7b2", "#ff9da7", "#9c755f", "#edc948"}
)

// svgColor returns the colour of state s, given the table's states.
func svgColor(states []lifecycle.State, s lifecycle.State) string {
	if c, ok := svgColors[s]; ok {
		return c
	}
	n := 0
	for _, t := range states {
		if _, seed := svgColors[t]; seed {
			continue
		}
		if t == s {
			return svgPalette[n%len(svgPalette)]
		}
		n++
	}
	return "#999999" // a state the table does not have
}

// xmlText escapes s for XML text and attribute values.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// writeSVG writes the timeline of [since, until) as a self-contained SVG
// document: a row per UTC day, and in it a bar per stretch of time in a
// state, as wide as the time it lasted (svgPerSec pixels a second), with
// the state, times and seconds in data- attributes and a <title>. It
// streams: a bar is written as soon as History delivers its span.
func writeSVG(ctx context.Context, w io.Writer, h lifecycle.History, t *lifecycle.Table, since, until time.Time) (lifecycle.HistoryStats, error) {
	states := t.States()
	first := since.UTC().Truncate(24 * time.Hour)
	// Days are counted on the calendar: a time.Duration holds 292 years.
	dayIndex := func(day time.Time) int { return int((day.Unix() - first.Unix()) / (24 * 60 * 60)) }
	days := dayIndex(until.Add(-time.Nanosecond).UTC().Truncate(24*time.Hour)) + 1
	height := svgTop + days*(svgRowH+svgRowGap) + svgLegend
	rowY := func(day time.Time) int { return svgTop + dayIndex(day)*(svgRowH+svgRowGap) }
	x := func(day, at time.Time) float64 { return svgLabelW + at.Sub(day).Seconds()*svgPerSec }

	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p(`<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">
<title>lifecycle history of %s, %s to %s</title>
<defs><pattern id="before-log" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e4e4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b8b8b8" stroke-width="3"/></pattern><pattern id="after-log" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#d0d0d0" stroke-width="2"/></pattern></defs>
<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="%d" y="18" font-size="14" font-weight="bold">Lifecycle history, %s to %s (UTC)</text>
<text x="%d" y="34" fill="#555555">%s</text>
`, svgWidth, height, svgWidth, height,
		xmlText(h.Dir), humanTime(since), humanTime(until),
		svgLabelW, humanTime(since), humanTime(until), svgLabelW, xmlText(h.Dir))
	// Hour lines and labels, then a background per day for the part of it
	// inside the period.
	for hr := 0; hr <= 24; hr++ {
		hx := float64(svgLabelW) + float64(hr)*svgChartW/24
		p(`<line x1="%.3f" y1="%d" x2="%.3f" y2="%d" stroke="#e0e0e0"/>`+"\n", hx, svgTop-4, hx, height-svgLegend)
		if hr%3 == 0 {
			p(`<text x="%.3f" y="%d" text-anchor="middle" fill="#555555">%02d:00</text>`+"\n", hx, svgTop-8, hr)
		}
	}
	for d := range days {
		day := first.AddDate(0, 0, d)
		start, end := maxTime(day, since), minTime(day.AddDate(0, 0, 1), until)
		y := rowY(day)
		p(`<text x="%d" y="%d" fill="#333333">%s</text>`+"\n", 8, y+svgRowH-4, day.Format("2006-01-02 Mon"))
		p(`<rect x="%.3f" y="%d" width="%.3f" height="%d" fill="#f4f4f4"/>`+"\n", x(day, start), y, end.Sub(start).Seconds()*svgPerSec, svgRowH)
	}
	if err != nil {
		return lifecycle.HistoryStats{}, err
	}

	// After the log's last line nothing says the daemon ran: that time is
	// drawn as unknown, not as the last state.
	lastLine, lerr := lastLogTime(h.Dir)
	if lerr != nil {
		return lifecycle.HistoryStats{}, lerr
	}
	bar := func(s lifecycle.Span, from, to time.Time, afterLog bool) {
		day := from.UTC().Truncate(24 * time.Hour)
		fill, label := svgColor(states, s.State), string(s.State)
		switch {
		case afterLog:
			fill, label = "url(#after-log)", "unknown: no line in the log after "+humanTime(lastLine)+" (last state "+string(s.State)+")"
		case s.Entered == nil:
			fill, label = "url(#before-log)", string(s.State)+", before the log's first transition"
		}
		title := fmt.Sprintf("%s %s to %s (%s)", label, humanTime(from), humanTime(to), hms(to.Sub(from)))
		if s.Entered != nil && !afterLog {
			title += "; entered by " + transitionText(*s.Entered)
		}
		p(`<rect class="span" x="%.3f" y="%d" width="%.3f" height="%d" fill="%s" data-state="%s" data-before-log="%t" data-after-log="%t" data-start="%s" data-end="%s" data-seconds="%.6f"><title>%s</title></rect>`+"\n",
			x(day, from), rowY(day), max(to.Sub(from).Seconds()*svgPerSec, svgMinW), svgRowH, fill,
			xmlText(string(s.State)), s.Entered == nil, afterLog, lifecycle.FormatTimestamp(from), lifecycle.FormatTimestamp(to),
			to.Sub(from).Seconds(), xmlText(title))
	}
	st, herr := h.TimelineContext(ctx, since, until, func(s lifecycle.Span) error {
		for from := s.Start; from.Before(s.End); {
			day := from.UTC().Truncate(24 * time.Hour)
			to := minTime(day.AddDate(0, 0, 1), s.End)
			known := to
			if lastLine.Before(to) {
				known = maxTime(from, lastLine)
			}
			if known.After(from) {
				bar(s, from, known, false)
			}
			if known.Before(to) {
				bar(s, known, to, true)
			}
			from = to
		}
		return err
	})
	if herr != nil {
		return st, herr
	}

	// The legend: the table's states, then the time before the log.
	ly := height - svgLegend + 16
	lx := svgLabelW
	for _, s := range states {
		p(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, ly, svgColor(states, s), lx+16, ly+10, xmlText(string(s)))
		lx += 28 + 8*len(s)
	}
	p(`<rect x="%d" y="%d" width="12" height="12" fill="url(#before-log)"/><text x="%d" y="%d">before the log's first transition</text>`+"\n", lx, ly, lx+16, ly+10)
	lx += 16 + 6*len("before the log's first transition") + 12
	p(`<rect x="%d" y="%d" width="12" height="12" fill="url(#after-log)" stroke="#d0d0d0"/><text x="%d" y="%d">unknown: after the log's last line</text>`+"\n", lx, ly, lx+16, ly+10)
	p("</svg>\n")
	return st, err
}

// lastLogTime is the time of the log's last line, of any kind, or the zero
// time for an empty log. Each line goes to the file of its own time's UTC
// day, so the last line is in the newest day's files, whatever order the
// lines were written in.
func lastLogTime(logDir string) (time.Time, error) {
	files, err := lifecycle.LogFiles(logDir)
	if err != nil || len(files) == 0 {
		return time.Time{}, err
	}
	var last time.Time
	_, err = lifecycle.ReadLog(logDir, lifecycle.LogQuery{Since: files[len(files)-1].Day}, func(e lifecycle.LogEntry) error {
		last = maxTime(last, e.Time)
		return nil
	})
	return last, err
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
