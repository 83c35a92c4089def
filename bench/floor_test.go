package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// floor is the system calls of one durable transition and nothing else: no
// lock, no read of the state file, no encoding, no checks. It is what a
// durable Dispatch cannot get below on this disk. (Its few allocations are
// the syscall package turning paths into C strings.)
type floor struct {
	dir, logPath, tmpPath, statePath string
	line, state                      []byte // a transition line and a state file, of the library's sizes
}

// newFloor lays out dir like a Machine's directory: the state file (written
// by the library, so the floor rewrites a file of the real size) and logs/
// holding today's log file.
func newFloor(tb testing.TB, dir string) *floor {
	tb.Helper()
	now := time.Now()
	f := &floor{
		dir:       dir,
		logPath:   filepath.Join(dir, lifecycle.DefaultLogDir, logName(now)),
		tmpPath:   filepath.Join(dir, lifecycle.DefaultStateFile+".floor-tmp"),
		statePath: filepath.Join(dir, lifecycle.DefaultStateFile),
		line:      append(appendTransitionLine(nil, now, lifecycle.Wake, lifecycle.Drowsy, lifecycle.Idle5Min, 123456), '\n'),
	}
	rec := lifecycle.DefaultRecord(now)
	rec.TransitionSeq, rec.WrapperEventSeq = 123456, 123456
	rec.CurrentState = lifecycle.Drowsy
	rec.LastTransition = &lifecycle.Transition{From: lifecycle.Wake, To: lifecycle.Drowsy, Event: lifecycle.Idle5Min, Seq: 123456, Time: rec.SinceTS}
	if err := lifecycle.SaveState(f.statePath, rec); err != nil {
		tb.Fatal(err)
	}
	var err error
	if f.state, err = os.ReadFile(f.statePath); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(f.logPath), 0o700); err != nil {
		tb.Fatal(err)
	}
	return f
}

// transition is a durable transition in the library's order: the state
// file replaced through a synced temporary file, the directory synced (with
// syncDir: what makes the rename itself durable), then the line appended to
// the log and synced. The log line comes last so that the log never holds a
// transition the state file did not take.
func (f *floor) transition(syncDir bool) error {
	if err := writeSyncClose(f.tmpPath, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, f.state); err != nil {
		return err
	}
	if err := syscall.Rename(f.tmpPath, f.statePath); err != nil {
		return fmt.Errorf("rename %s: %w", f.tmpPath, err)
	}
	if syncDir {
		fd, err := syscall.Open(f.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", f.dir, err)
		}
		err = syscall.Fsync(fd)
		if cerr := syscall.Close(fd); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", f.dir, err)
		}
	}
	return writeSyncClose(f.logPath, syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT|syscall.O_CLOEXEC, f.line)
}

func writeSyncClose(path string, flags int, data []byte) error {
	fd, err := syscall.Open(path, flags, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	n, err := syscall.Write(fd, data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(data))
	}
	if err == nil {
		err = syscall.Fsync(fd)
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// TestFloorWritesWhatTheLibraryReads checks that the floor's files are the
// library's: the state file loads, the log line reads back.
func TestFloorWritesWhatTheLibraryReads(t *testing.T) {
	f := newFloor(t, t.TempDir())
	for range 2 {
		if err := f.transition(true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lifecycle.LoadState(f.statePath); err != nil {
		t.Fatal(err)
	}
	st, err := lifecycle.ReadLog(filepath.Dir(f.logPath), lifecycle.LogQuery{}, func(lifecycle.LogEntry) error { return nil })
	if err != nil || st.Entries != 2 || st.Malformed != 0 {
		t.Fatalf("ReadLog: %+v, %v; want 2 entries", st, err)
	}
	if n := len(f.line); n < 110 || n > 150 {
		t.Errorf("log line of %d bytes, want about 130", n)
	}
	if n := len(f.state); n < 550 || n > 650 {
		t.Errorf("state file of %d bytes, want about 600", n)
	}
}
