//go:build unix

package lifecycle

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// maxReasonLen bounds a dispatch's reason, in bytes: a reason names a
// cause, and every log line carries it.
const maxReasonLen = 256

// CheckReason reports, with an error wrapping ErrInvalidReason, a reason a
// dispatch refuses: one that would not read back as one short line of
// text: invalid UTF-8, a control, format or separator character other than
// the ASCII space (a newline, a tab, a bidirectional override, U+2028), or
// more than 256 bytes. The empty reason is valid: the event's name.
func CheckReason(reason string) error {
	switch {
	case reason == "":
		return nil
	case len(reason) > maxReasonLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidReason, len(reason), maxReasonLen)
	case !utf8.ValidString(reason):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidReason, reason)
	}
	for i, r := range reason {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %q holds %U at byte %d, which is not printable", ErrInvalidReason, reason, r, i)
		}
	}
	return nil
}

// PythonReason is the reason the Python project's daemon gives when its loop
// dispatches ev (drowsy_on_idle_5min for idle_5min, for example), or "" for
// an event it gives none for, whose trigger stays the event's name. Pass it
// to the daemon kit's WithReasons, or give it to Machine.DispatchReason, for
// a log that reads like the Python daemon's.
func PythonReason(ev Event) string {
	switch ev {
	case HeartbeatRefresh:
		return "heartbeat_refresh_active_wrapper"
	case Idle5Min:
		return "drowsy_on_idle_5min"
	case Idle30Min:
		return "sleep_on_idle_30min"
	case SleepCycleDone:
		return "hibernate_on_sleep_cycle_done"
	case WakeSignal:
		return "wake_on_signal_consumed"
	}
	return ""
}
