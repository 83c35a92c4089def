//go:build unix

package lifecycle

import (
	"fmt"
	"strings"
)

// unknownNameError is the error of a state or event name that is not in
// known: it wraps sentinel, lists known, and names the one s meant when s
// differs from it only in case or surrounding space ("wake" for "WAKE"),
// the slip a person editing a file by hand makes.
func unknownNameError[T ~string](sentinel error, s string, known []T) error {
	trimmed := strings.TrimSpace(s)
	for _, k := range known {
		if strings.EqualFold(trimmed, string(k)) {
			return fmt.Errorf("%w %q (want one of %v; did you mean %q?)", sentinel, s, known, k)
		}
	}
	return fmt.Errorf("%w %q (want one of %v)", sentinel, s, known)
}
