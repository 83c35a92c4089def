package lifecycle

import (
	"time"
)

// SetAfterStep installs a failure-injection hook: fn runs after each step of
// a durable write, named as in durable.go, and an error it returns fails that
// step. The returned function removes it.
func SetAfterStep(fn func(step string) error) (restore func()) {
	afterStep = func(s step) error { return fn(string(s)) }
	return func() { afterStep = nil }
}

// FileSystem is the seam the library's changes to disk go through.
type FileSystem = fileSystem

// OSFS is the real file system, for a FileSystem that wraps it.
type OSFS = osFS

// SetFileSystem puts f in the seam; the returned function restores the
// previous one. Tests that use it must not run in parallel.
func SetFileSystem(f FileSystem) (restore func()) {
	old := fsys
	fsys = f
	return func() { fsys = old }
}

// CountWholeLogReads counts the times a Machine reads the whole log, until
// the returned function is called, which returns the count.
func CountWholeLogReads() (stop func() int) {
	n := 0
	onWholeLogRead = func() { n++ }
	return func() int { onWholeLogRead = nil; return n }
}

// RotateLogs is RotateLogsReport's list of the plain files it replaced.
func RotateLogs(dir string, retention time.Duration, now time.Time) ([]string, error) {
	r, err := RotateLogsReport(dir, retention, now)
	return r.Rotated, err
}
