package lifecycle

import (
	"encoding/json"
	"errors"
	"io/fs"
	"time"
)

// loggedTransition is a state_transition line of the log.
type loggedTransition struct {
	Time    time.Time
	From    State  `json:"from"`
	To      State  `json:"to"`
	Trigger Event  `json:"trigger"`
	Seq     *int64 `json:"seq"` // absent in lines the Python original wrote
}

// recover rolls rec forward when a dispatch crashed after syncing its log
// line and before replacing the state file. That dispatch read rec under the
// lock, so the record it meant to write is rec with the logged transition
// applied; the line's seq (one past rec's transition_seq) and from (rec's
// state) prove the line belongs to rec and not to an older record.
func (m *Machine) recover(rec Record) (Record, error) {
	last, ok, err := lastTransition(m.cfg.logDir)
	if err != nil || !ok || last.Seq == nil {
		return rec, err
	}
	if *last.Seq != rec.TransitionSeq+1 || last.From != rec.CurrentState {
		if *last.Seq > rec.TransitionSeq+1 {
			m.cfg.logger.Warn("lifecycle log is ahead of the state file by more than one transition; not rolling forward",
				"state", m.cfg.statePath, "state_seq", rec.TransitionSeq, "log_seq", *last.Seq)
		}
		return rec, nil
	}
	if err := m.checkRecovered(last); err != nil {
		return Record{}, err
	}
	next := apply(rec, last.Trigger, last.To, true, last.Time, rec.ShadowRun)
	if err := m.write(saveState(m.cfg.statePath, next, m.cfg.table)); err != nil {
		return Record{}, err
	}
	m.cfg.logger.Info("lifecycle state rolled forward from the log", "state", m.cfg.statePath,
		"from", last.From, "to", last.To, "seq", *last.Seq)
	return next, nil
}

// lastTransition finds the last state_transition line, reading only the
// newest day that has one.
func lastTransition(dir string) (loggedTransition, bool, error) {
	days, err := logDays(dir)
	if err != nil {
		return loggedTransition{}, false, err
	}
	for i := len(days) - 1; i >= 0; i-- {
		var last *LogEntry
		q := LogQuery{Since: days[i], Until: days[i].Add(24 * time.Hour), Kind: "state_transition"}
		if _, err := ReadLog(dir, q, func(e LogEntry) error {
			last = &e
			return nil
		}); err != nil {
			return loggedTransition{}, false, err
		}
		if last == nil {
			continue
		}
		var t loggedTransition
		if err := json.Unmarshal(last.Raw, &t); err != nil {
			// Not a line this library wrote; nothing to replay.
			return loggedTransition{}, false, nil
		}
		t.Time = last.Time
		return t, true, nil
	}
	return loggedTransition{}, false, nil
}

// logDays lists the UTC days that have a log file, oldest first.
func logDays(dir string) ([]time.Time, error) {
	files, err := listLogs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var days []time.Time
	for _, f := range files {
		if f.kind != tmpLog && (len(days) == 0 || !days[len(days)-1].Equal(f.day)) {
			days = append(days, f.day)
		}
	}
	return days, nil
}
