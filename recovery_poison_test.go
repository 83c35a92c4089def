package lifecycle_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// eioOnceFS fails the first fsync of a log file with EIO, as a disk does;
// on Linux the next fsync of the same file then succeeds although the
// page's data never reached the disk (the "fsyncgate" behaviour).
type eioOnceFS struct {
	lifecycle.OSFS
	armed bool
}

func (f *eioOnceFS) Sync(file *os.File) error {
	if f.armed && strings.Contains(file.Name(), "lifecycle-events-") {
		f.armed = false
		return &os.PathError{Op: "sync", Path: file.Name(), Err: syscall.EIO}
	}
	return f.OSFS.Sync(file)
}

// A failed fsync while recovery makes another process's log line durable
// must poison the Machine, as any other failed fsync does: a retry's fsync
// reports success for data that is lost.
func TestRecoverySyncErrorPoisons(t *testing.T) {
	dir := t.TempDir()
	a, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer a.Close()
	_, err = a.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}) // seq 1
	require.NoError(t, err)

	// Another Machine (another process) renames seq 2 into place, writes
	// its line, and stops at its log fsync.
	b, err := lifecycle.New(dir)
	require.NoError(t, err)
	restore := lifecycle.SetAfterStep(func(s string) error {
		if s == "log fsync" {
			return errors.New("killed")
		}
		return nil
	})
	_, err = b.Dispatch(lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true})
	restore()
	require.Error(t, err)
	require.NoError(t, b.Close())

	fs := &eioOnceFS{armed: true}
	defer lifecycle.SetFileSystem(fs)()
	_, err = a.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
	require.ErrorIs(t, err, syscall.EIO, "recovery's fsync of the found line failed")

	// The next call must not build seq 3 on a line whose fsync failed.
	_, err = a.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrPoisoned, "a failed fsync did not poison the Machine; seq 3 was acknowledged after it")
}
