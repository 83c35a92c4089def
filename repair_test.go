package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// repairDir is a directory whose log holds two transitions, WAKE -> DROWSY
// -> SLEEP (seqs 1 and 2), with a heartbeat between, and whose state file
// is then replaced by bad.
func repairDir(t *testing.T, bad func(path string)) (dir string, clock *testClock) {
	t.Helper()
	dir = t.TempDir()
	clock = &testClock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
	m, err := lifecycle.New(dir, lifecycle.WithClock(clock.now))
	require.NoError(t, err)
	for _, step := range []struct {
		ev lifecycle.Event
		g  lifecycle.Guards
	}{
		{lifecycle.Idle5Min, lifecycle.Guards{}},
		{lifecycle.Idle30Min, lifecycle.Guards{SleepEligible: true}},
	} {
		clock.advance(time.Minute)
		_, err := m.Dispatch(step.ev, step.g)
		require.NoError(t, err)
	}
	require.NoError(t, m.Close())
	bad(filepath.Join(dir, lifecycle.DefaultStateFile))
	return dir, clock
}

// testClock is a clock a test moves by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// writeBad replaces the state file with data.
func writeBad(t *testing.T, data []byte) func(string) {
	return func(path string) { require.NoError(t, os.WriteFile(path, data, 0o600)) }
}

// The corrupt state files an operator meets: each is moved aside, never
// deleted, and the record is rebuilt from the log's last transition.
func TestRepairStateRebuildsFromTheLog(t *testing.T) {
	truncated := func(path string) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o600))
	}
	tests := []struct {
		name    string
		bad     func(path string)
		problem string
	}{
		{"truncated", truncated, "corrupt state file"},
		{"empty", writeBad(t, nil), "corrupt state file"},
		{"NUL-filled", writeBad(t, bytes.Repeat([]byte{0}, 4096)), "corrupt state file"},
		{"invalid UTF-8", writeBad(t, []byte("{\"current_state\": \"\xff\xfe\"}")), "corrupt state file"},
		{"a directory", func(path string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.Mkdir(path, 0o700))
		}, "corrupt state file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, clock := repairDir(t, tt.bad)
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			before := snapshotDir(t, dir)

			// A dry run says what it would do and changes nothing.
			clock.advance(time.Hour)
			plan, err := lifecycle.RepairState(dir, true, lifecycle.WithClock(clock.now))
			require.NoError(t, err)
			require.ErrorContains(t, plan.Problem, tt.problem)
			require.ErrorContains(t, plan.Problem, path)
			require.Empty(t, plan.MovedTo)
			require.Equal(t, before, snapshotDir(t, dir), "a dry run wrote")

			done, err := lifecycle.RepairState(dir, false, lifecycle.WithClock(clock.now))
			require.NoError(t, err)
			require.Equal(t, plan.Record, done.Record, "the dry run showed another record")
			require.Equal(t, plan.Defaults, done.Defaults)

			// The bad file is kept, byte for byte, beside the new one.
			require.True(t, strings.HasPrefix(done.MovedTo, path+".corrupt-"), done.MovedTo)
			require.Equal(t, before[filepath.Base(path)], snapshotPath(t, done.MovedTo))

			rec, err := lifecycle.LoadState(path)
			require.NoError(t, err)
			require.Equal(t, done.Record, rec)
			require.Equal(t, lifecycle.Sleep, rec.CurrentState)
			require.Equal(t, int64(2), rec.TransitionSeq)
			require.Equal(t, time.Date(2026, 11, 25, 22, 2, 0, 0, time.UTC), rec.SinceTS)
			require.NotNil(t, rec.LastTransition)
			require.Equal(t, lifecycle.Transition{From: lifecycle.Drowsy, To: lifecycle.Sleep,
				Event: lifecycle.Idle30Min, Trigger: "idle_30min", Seq: 2, Time: rec.SinceTS}, *rec.LastTransition)
			require.Equal(t, clock.now(), rec.LastActivityTS)
			require.Contains(t, done.Defaults, "last_activity_ts")
			require.Contains(t, done.Defaults, "wrapper_event_seq")
			require.NotContains(t, done.Defaults, "current_state")

			// The machine goes on from there: the next seq follows the log's.
			m, err := lifecycle.New(dir, lifecycle.WithClock(clock.now))
			require.NoError(t, err)
			s, err := m.Dispatch(lifecycle.RequestArrived, lifecycle.Guards{})
			require.NoError(t, err)
			require.Equal(t, lifecycle.Wake, s)
			require.NoError(t, m.Close())
			require.Equal(t, []int64{1, 2, 3}, loggedSeqs(t, filepath.Join(dir, lifecycle.DefaultLogDir)))

			// Nothing left to repair.
			again, err := lifecycle.RepairState(dir, false, lifecycle.WithClock(clock.now))
			require.NoError(t, err)
			require.NoError(t, again.Problem)
			require.Empty(t, again.MovedTo)
		})
	}
}

// A log without a transition gives the default record, at the seq the log
// has reached (none).
func TestRepairStateWithoutHistory(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(filepath.Join(dir, lifecycle.DefaultStateFile), []byte("{"), 0o600))
	done, err := lifecycle.RepairState(dir, false, lifecycle.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	require.Nil(t, done.From)
	require.Equal(t, lifecycle.DefaultRecord(now), done.Record)
	require.Contains(t, done.Defaults, "current_state")
}

// A healthy or missing state file is left alone.
func TestRepairStateLeavesAGoodFile(t *testing.T) {
	dir, _ := repairDir(t, func(string) {})
	before := snapshotDir(t, dir)
	r, err := lifecycle.RepairState(dir, false)
	require.NoError(t, err)
	require.NoError(t, r.Problem)
	require.Equal(t, before, snapshotDir(t, dir))

	empty := t.TempDir()
	r, err = lifecycle.RepairState(empty, false)
	require.NoError(t, err)
	require.NoError(t, r.Problem)
	_, err = os.Stat(filepath.Join(empty, lifecycle.DefaultStateFile))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A running daemon, or a writer holding the lifecycle lock, keeps the
// repair out: it writes nothing.
func TestRepairStateRefusesWhileHeld(t *testing.T) {
	t.Run("daemon", func(t *testing.T) {
		dir, _ := repairDir(t, writeBad(t, []byte("{")))
		d, err := lifecycle.AcquireDaemon(dir)
		require.NoError(t, err)
		defer func() { require.NoError(t, d.Release()) }()
		before := snapshotDir(t, dir)
		_, err = lifecycle.RepairState(dir, false)
		require.ErrorIs(t, err, lifecycle.ErrDaemonRunning)
		require.Equal(t, before, snapshotDir(t, dir))
	})
	t.Run("lifecycle lock", func(t *testing.T) {
		dir, _ := repairDir(t, writeBad(t, []byte("{")))
		release := holdLifecycleLock(t, dir)
		defer release()
		before := snapshotDir(t, dir)
		_, err := lifecycle.RepairState(dir, false)
		require.ErrorIs(t, err, lifecycle.ErrLocked)
		require.Equal(t, before, snapshotDir(t, dir))
	})
}

// holdLifecycleLock takes dir's lifecycle lock through a descriptor of its
// own, as another process would, until release.
func holdLifecycleLock(t *testing.T, dir string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, lifecycle.DefaultLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	return func() { require.NoError(t, f.Close()) }
}

// snapshotDir is the content of dir's regular files by name (a directory
// maps to "dir").
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name()] = snapshotPath(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func snapshotPath(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if fi.IsDir() {
		return "dir"
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// loggedSeqs are the seqs of the state_transition lines of logDir, in file
// order.
func loggedSeqs(t *testing.T, logDir string) []int64 {
	t.Helper()
	var seqs []int64
	_, err := lifecycle.ReadLog(logDir, lifecycle.LogQuery{Kind: "state_transition"}, func(e lifecycle.LogEntry) error {
		var v struct {
			Seq int64 `json:"seq"`
		}
		require.NoError(t, json.Unmarshal(e.Raw, &v))
		seqs = append(seqs, v.Seq)
		return nil
	})
	require.NoError(t, err)
	return seqs
}

// linkFS is the real file system with its hard links made by link.
type linkFS struct {
	lifecycle.OSFS
	link func(oldname, newname string) error
}

func (f linkFS) Link(oldname, newname string) error { return f.link(oldname, newname) }

// A file system that cannot give the bad file a second name fails the
// repair before it changes anything: the rename the link replaces would
// leave the directory without a state file until the record is written.
func TestRepairStateLinkFails(t *testing.T) {
	tests := []struct {
		name        string
		errno       unix.Errno
		unsupported bool // the message says the file system is the trouble
	}{
		{"EPERM", unix.EPERM, true},
		{"ENOTSUP", unix.ENOTSUP, true},
		{"EOPNOTSUPP", unix.EOPNOTSUPP, true}, // ENOTSUP's twin, another number on macOS
		{"EXDEV", unix.EXDEV, true},
		{"EMLINK", unix.EMLINK, true},
		{"EIO", unix.EIO, false},
		{"ENOSPC", unix.ENOSPC, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := repairDir(t, writeBad(t, []byte("{")))
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			before := snapshotDir(t, dir)
			restore := lifecycle.SetFileSystem(linkFS{link: func(oldname, newname string) error {
				return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: tt.errno}
			}})
			defer restore()

			r, err := lifecycle.RepairState(dir, false)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "move aside", pe.Op)
			require.Equal(t, path, pe.Path)
			require.ErrorIs(t, err, tt.errno)
			if tt.unsupported {
				require.ErrorContains(t, err, "hard link")
			}
			require.Empty(t, r.MovedTo)
			require.Equal(t, before, snapshotDir(t, dir), "a failed link changed the directory")
		})
	}
}

// A crash after the bad file got its aside name, before the record
// replaced it, leaves the file under both names; the repair run again
// keeps that aside name rather than make a second one.
func TestRepairStateAfterACrashAtItsLink(t *testing.T) {
	dir, clock := repairDir(t, writeBad(t, []byte("{")))
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	earlier := path + ".corrupt-20261125T220500Z"
	require.NoError(t, os.Link(path, earlier))

	clock.advance(time.Hour)
	r, err := lifecycle.RepairState(dir, false, lifecycle.WithClock(clock.now))
	require.NoError(t, err)
	require.Equal(t, earlier, r.MovedTo)
	require.Equal(t, "{", snapshotPath(t, earlier))
	asides, err := filepath.Glob(path + ".corrupt-*")
	require.NoError(t, err)
	require.Equal(t, []string{earlier}, asides)
	rec, err := lifecycle.LoadState(path)
	require.NoError(t, err)
	require.Equal(t, r.Record, rec)
}

// An aside name that a file already has, before the repair or made by
// another process in the instant before the link, is never replaced: the
// next free name is taken.
func TestRepairStateAsideNameTaken(t *testing.T) {
	now := time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		taken []string // suffixes taken before the repair
		race  []string // suffixes taken by another process as the link is tried
		want  string
	}{
		{"taken before", []string{"", "-2"}, nil, "-3"},
		{"taken in a race", nil, []string{""}, "-2"},
		{"taken before and in a race", []string{""}, []string{"-2"}, "-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, clock := repairDir(t, writeBad(t, []byte("{")))
			clock.t = now
			path := filepath.Join(dir, lifecycle.DefaultStateFile)
			base := path + ".corrupt-20261125T230000Z"
			for _, s := range tt.taken {
				require.NoError(t, os.WriteFile(base+s, []byte("other "+s), 0o600))
			}
			race := map[string]bool{}
			for _, s := range tt.race {
				race[base+s] = true
			}
			restore := lifecycle.SetFileSystem(linkFS{link: func(oldname, newname string) error {
				if race[newname] {
					require.NoError(t, os.WriteFile(newname, []byte("racer"), 0o600))
				}
				return lifecycle.OSFS{}.Link(oldname, newname)
			}})
			defer restore()

			r, err := lifecycle.RepairState(dir, false, lifecycle.WithClock(clock.now))
			require.NoError(t, err)
			require.Equal(t, base+tt.want, r.MovedTo)
			require.Equal(t, "{", snapshotPath(t, r.MovedTo))
			for _, s := range tt.taken {
				require.Equal(t, "other "+s, snapshotPath(t, base+s))
			}
			for name := range race {
				require.Equal(t, "racer", snapshotPath(t, name))
			}
		})
	}
}
