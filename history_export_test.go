//go:build unix

package lifecycle

import (
	"context"
	"time"
)

// HistWindowSize is how many transitions History holds back to put them in
// order, for the test that overflows it.
var HistWindowSize = histWindowSize

// SetHistWindowSize makes History hold back at most n transitions, until
// the returned function restores the size.
func SetHistWindowSize(n int) (restore func()) {
	old := histWindowSize
	histWindowSize = n
	return func() { histWindowSize = old }
}

// ReadTransitions is the reader Watch delivers transitions from: those of
// the log in dir with a seq in (after, upTo].
func ReadTransitions(dir string, after, upTo int64) ([]Transition, error) {
	return readTransitions(context.Background(), dir, after, upTo, time.Time{})
}
