//go:build unix

package lifecycle

import (
	"context"
	"log/slog"
)

// checkEvent refuses an event the Machine's table does not know and notes,
// at Debug level, one that no row of the table has: a dispatch of it is a
// no-op in every state, which is seldom what was meant (sleep_eligible reads
// like the guard of that name). tick, a no-op by design, is not noted. The
// table decided which events have a row when it was built; this costs a map
// lookup.
func (m *Machine) checkEvent(ev Event) error {
	if _, err := m.cfg.table.ParseEvent(string(ev)); err != nil {
		return err
	}
	if ev != Tick && !m.cfg.table.hasRow[ev] && m.cfg.logger.Enabled(context.Background(), slog.LevelDebug) {
		m.cfg.logger.Debug("lifecycle event has no row in the table", "event", ev,
			"effect", "none: no row of the table has this event, from any state")
	}
	return nil
}
