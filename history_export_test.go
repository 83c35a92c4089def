//go:build unix

package lifecycle

// HistWindowSize is how many transitions History holds back to put them in
// order, for the test that overflows it.
const HistWindowSize = histWindowSize
