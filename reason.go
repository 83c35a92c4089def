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

// checkReason refuses a reason that would not read back as one short line
// of text: invalid UTF-8, a control, format or separator character other
// than the ASCII space (a newline, a tab, a bidirectional override, U+2028),
// or more than maxReasonLen bytes. The empty reason is the event's name.
func checkReason(reason string) error {
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
