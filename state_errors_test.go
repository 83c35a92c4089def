package lifecycle_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/iai-mcp/lifecycle/internal/unprivtest"
	"github.com/stretchr/testify/require"
)

// A state file that cannot be read because of the system (permissions,
// descriptors, the disk) is not corrupt: the error is the system's, an
// *fs.PathError naming the file and the call that failed, and never wraps
// ErrCorruptState, whose remedy (setting the file aside) would lose a good
// record. Every way of reading the state file reports it so, New included.

// stateReaders are the public ways of reading a state file, each run on the
// lifecycle directory dir. m is a Machine made before the file became
// unreadable.
func stateReaders(dir string, m *lifecycle.Machine) map[string]func() error {
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	return map[string]func() error{
		"LoadState": func() error { _, err := lifecycle.LoadState(state); return err },
		"Table.LoadState": func() error {
			_, err := lifecycle.DefaultTable().LoadState(state)
			return err
		},
		"Snapshot": func() error { _, err := m.Snapshot(); return err },
		"Dispatch": func() error { _, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}); return err },
		"Dispatch(Tick)": func() error {
			_, err := m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
			return err
		},
		"Update": func() error {
			_, err := m.Update(func(r *lifecycle.Record) error { r.CrisisMode = true; return nil })
			return err
		},
		"New": func() error {
			m2, err := lifecycle.New(dir)
			if err == nil {
				return errors.Join(errors.New("New succeeded"), m2.Close())
			}
			return err
		},
		"Watch": func() error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := lifecycle.Watch(ctx, dir)
			if err != nil {
				return err
			}
			var first lifecycle.WatchEvent
			select {
			case first = <-ch:
			case <-time.After(10 * time.Second):
				return errors.New("no watch event in 10s")
			}
			cancel()
			for range ch {
			}
			if first.Kind != lifecycle.WatchError {
				return fmt.Errorf("first watch event is a %v, want an error", first.Kind)
			}
			return first.Err
		},
	}
}

// requireSystemError checks that err is the system error want from the call
// op on path, not a corrupt state file.
func requireSystemError(t *testing.T, err error, op, path string, want error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, want)
	require.NotErrorIs(t, err, lifecycle.ErrCorruptState)
	require.NotContains(t, err.Error(), "corrupt")
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, op, pe.Op, "%v", err)
	require.Equal(t, path, pe.Path, "%v", err)
}

// TestUnreadableStateFile: a state file its reader may not open (mode 0000,
// another user's) is a permission error from open, in every reader, and
// nothing is written; readable again, it loads as it was.
func TestUnreadableStateFile(t *testing.T) {
	if unprivtest.Run(t) {
		return
	}
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m := newMachine(t, dir)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, os.Chmod(state, 0))
	defer os.Chmod(state, 0o600)
	before := snapshotFiles(t, filepath.Join(dir, "logs"))

	for name, read := range stateReaders(dir, m) {
		t.Run(name, func(t *testing.T) {
			requireSystemError(t, read(), "open", state, fs.ErrPermission)
		})
	}
	require.Equal(t, before, snapshotFiles(t, filepath.Join(dir, "logs")))
	require.NoError(t, os.Chmod(state, 0o600))
	rec, err := lifecycle.LoadState(state)
	require.NoError(t, err)
	require.Equal(t, lifecycle.Drowsy, rec.CurrentState)
	require.False(t, rec.CrisisMode)
	got, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
}

// TestStateFileReadError: a read that fails on the disk (EIO) is reported
// as the read's error, in every reader, and nothing is written. The read is
// failed through the state reader's system-call seam, the one way to get an
// I/O error from a file system that works.
func TestStateFileReadError(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m := newMachine(t, dir)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	before := snapshotFiles(t, dir)

	restore := lifecycle.FailStateReads(syscall.EIO)
	for name, read := range stateReaders(dir, m) {
		t.Run(name, func(t *testing.T) {
			requireSystemError(t, read(), "read", state, syscall.EIO)
		})
	}
	restore()
	require.Equal(t, before, snapshotFiles(t, dir))
	got, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Wake, got)
}

func init() { childRoles["no-descriptors"] = childNoDescriptors }

// TestStateFileNoDescriptors: a process out of file descriptors (EMFILE)
// cannot open the state file; that is the error it gets, not a corrupt
// file. The child lowers its own limit, so the test's process keeps its
// descriptors.
func TestStateFileNoDescriptors(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	m := newMachine(t, dir)
	_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	before := snapshotFiles(t, dir)

	c := startChild(t, dir, "no-descriptors")
	var results []string
	for {
		line, err := c.stdout.ReadString('\n')
		if err != nil {
			break
		}
		results = append(results, strings.TrimSpace(line))
	}
	c.wait(t)
	require.ElementsMatch(t, []string{
		"LoadState: open " + state + ": too many open files (corrupt: false)",
		"Snapshot: open " + state + ": too many open files (corrupt: false)",
		"Dispatch: open " + state + ": too many open files (corrupt: false)",
	}, results)
	// The child's New wrote the log's last line again, as recovery does in
	// a process that did not write it (blanking it where it was): the
	// records are the same.
	require.Equal(t, logRecords(before), logRecords(snapshotFiles(t, dir)))
}

// logRecords is files with the empty lines of its log files dropped:
// readers skip them, and recovery leaves them where it moves a line.
func logRecords(files map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for name, data := range files {
		if strings.HasSuffix(name, ".jsonl") {
			var kept []string
			for _, line := range strings.Split(data, "\n") {
				if line != "" {
					kept = append(kept, line)
				}
			}
			data = strings.Join(kept, "\n")
		}
		out[name] = data
	}
	return out
}

// childNoDescriptors opens a Machine on dir, uses up its descriptors under a
// limit of 64, then prints, for each reader of the state file, the call and
// path of its *fs.PathError, the error, and whether it wraps
// ErrCorruptState. The error must wrap EMFILE.
func childNoDescriptors(dir string, _ []string) error {
	m, err := lifecycle.New(dir)
	if err != nil {
		return err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	var fill []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			return err
		}
		fill = append(fill, f)
	}
	out := bufio.NewWriter(os.Stdout) // its descriptor is open already
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	for _, r := range []struct {
		name string
		call func() error
	}{
		{"LoadState", func() error { _, err := lifecycle.LoadState(state); return err }},
		{"Snapshot", func() error { _, err := m.Snapshot(); return err }},
		{"Dispatch", func() error { _, err := m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}); return err }},
	} {
		err := r.call()
		var pe *fs.PathError
		if !errors.Is(err, syscall.EMFILE) || !errors.As(err, &pe) {
			return fmt.Errorf("%s: %v, want an *fs.PathError wrapping EMFILE", r.name, err)
		}
		fmt.Fprintf(out, "%s: %s %s: %v (corrupt: %t)\n", r.name, pe.Op, pe.Path, pe.Err, errors.Is(err, lifecycle.ErrCorruptState))
	}
	for _, f := range fill {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return m.Close()
}
