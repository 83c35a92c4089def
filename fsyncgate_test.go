package lifecycle_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// gateFS models a disk after a failed writeback, as ext4 behaves: an
// fsync that fails with EIO leaves the blocks it could not write as they
// were at the last successful fsync (for a new block: zeros), and keeps
// them so whatever is written over them later; the page cache still holds
// the lost bytes, and the next fsync reports success. remount shows the
// files as the disk holds them. Only appends (Write on an O_APPEND file) and
// WriteAt are modelled, which is all the log sees.
type gateFS struct {
	lifecycle.OSFS
	mu       sync.Mutex
	failNext bool // the next fsync of a log file fails
	files    map[uint64]*gateFile
}

type gateFile struct {
	path       string
	syncedSize int64 // the file's size at its last successful fsync
	dirty      [][2]int64
	bad        map[int64][]byte // block -> its content on disk, forever
	blk        int64
}

func (g *gateFS) file(f *os.File) (*gateFile, int64) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0
	}
	st := fi.Sys().(*syscall.Stat_t)
	if g.files == nil {
		g.files = map[uint64]*gateFile{}
	}
	gf := g.files[st.Ino]
	if gf == nil {
		gf = &gateFile{path: f.Name(), syncedSize: fi.Size(), bad: map[int64][]byte{}, blk: int64(st.Blksize)}
		g.files[st.Ino] = gf
	}
	return gf, fi.Size()
}

func (g *gateFS) Write(f *os.File, p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gf, size := g.file(f)
	n, err := g.OSFS.Write(f, p)
	if gf != nil {
		gf.dirty = append(gf.dirty, [2]int64{size, size + int64(n)})
	}
	return n, err
}

func (g *gateFS) WriteAt(f *os.File, p []byte, off int64) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gf, _ := g.file(f)
	n, err := g.OSFS.WriteAt(f, p, off)
	if gf != nil {
		gf.dirty = append(gf.dirty, [2]int64{off, off + int64(n)})
	}
	return n, err
}

func (g *gateFS) Sync(f *os.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gf, size := g.file(f)
	if gf == nil {
		return g.OSFS.Sync(f)
	}
	if g.failNext && strings.Contains(filepath.Base(f.Name()), "lifecycle-events-") {
		g.failNext = false
		data, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		for _, d := range gf.dirty {
			for b := d[0] / gf.blk; b*gf.blk < d[1]; b++ {
				if _, ok := gf.bad[b]; ok {
					continue
				}
				// The block as the disk has it: what was synced, then zeros.
				block := make([]byte, gf.blk)
				if start := b * gf.blk; start < gf.syncedSize {
					copy(block, data[start:min(gf.syncedSize, int64(len(data)))])
				}
				gf.bad[b] = block
			}
		}
		gf.dirty = nil
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	gf.dirty = nil
	gf.syncedSize = size
	return g.OSFS.Sync(f)
}

// remount writes the lost blocks' disk content over the files.
func (g *gateFS) remount(t *testing.T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, gf := range g.files {
		if len(gf.bad) == 0 {
			continue
		}
		f, err := os.OpenFile(gf.path, os.O_WRONLY, 0)
		require.NoError(t, err)
		fi, err := f.Stat()
		require.NoError(t, err)
		for b, block := range gf.bad {
			if start := b * gf.blk; start < fi.Size() {
				_, err := f.WriteAt(block[:min(gf.blk, fi.Size()-start)], start)
				require.NoError(t, err)
			}
		}
		require.NoError(t, f.Close())
	}
}

// TestRecoveryRewritesALineItDidNotWrite ("fsyncgate"): a dispatch's log
// fsync fails; the line it appended stays in the page cache but never
// reaches the disk, and a second fsync of it reports success. A new
// Machine must not take that line for durable and build on it: recovery
// writes the lines it relies on again, into new blocks, and syncs them
// there. After a remount the log must still hold every transition (C2).
func TestRecoveryRewritesALineItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	clock := &simClock{now: t0}
	opts := []lifecycle.Option{lifecycle.WithClock(clock.read), lifecycle.WithRetention(0)}
	a := newMachine(t, dir, opts...)
	walk(t, a, 4) // seq 1..4 on day D, back in WAKE
	require.NoError(t, a.Close())

	g := &gateFS{}
	defer lifecycle.SetFileSystem(g)()
	b, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	g.mu.Lock()
	g.failNext = true
	g.mu.Unlock()
	_, err = b.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{}) // seq 5: state file renamed, log fsync fails
	require.ErrorIs(t, err, syscall.EIO)
	require.NoError(t, b.Close())

	// The documented remedy: a new Machine, the next day.
	clock.set(t0.Add(24 * time.Hour))
	c, err := lifecycle.New(dir, opts...)
	require.NoError(t, err)
	_, err = c.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{}) // seq 6, acknowledged
	require.NoError(t, err)
	require.NoError(t, c.Close())

	g.remount(t)
	w, err := invariants(dir)
	require.NoError(t, err, "after the remount: a transition built on a line that never reached the disk")
	require.Equal(t, int64(6), w.rec.TransitionSeq)
}

// opsFS records the renames and fsyncs that go through the seam.
type opsFS struct {
	lifecycle.OSFS
	mu  sync.Mutex
	ops []string
}

func (o *opsFS) add(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, op)
}

func (o *opsFS) Rename(from, to string) error {
	o.add("rename " + filepath.Base(to))
	return o.OSFS.Rename(from, to)
}

func (o *opsFS) Sync(f *os.File) error {
	o.add("sync " + filepath.Base(f.Name()))
	return o.OSFS.Sync(f)
}

func (o *opsFS) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops := o.ops
	o.ops = nil
	return ops
}

// TestRecoveryRewritesAStateFileItDidNotWrite: a state file another writer
// left (another Machine, a Python tool) may hold bytes whose writeback
// failed; syncing it again proves nothing. A Machine that reads one
// rewrites it through a new temporary file, synced, renamed over it, its
// directory synced, before it builds on it; the bytes stay the writer's
// (C3). A state file the Machine wrote itself is not rewritten.
func TestRecoveryRewritesAStateFileItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	a := newMachine(t, dir)
	walk(t, a, 3)
	state := filepath.Join(dir, lifecycle.DefaultStateFile)
	before, err := os.ReadFile(state)
	require.NoError(t, err)

	o := &opsFS{}
	defer lifecycle.SetFileSystem(o)()
	b := newMachine(t, dir)
	ops := o.take()
	require.Contains(t, ops, "rename "+lifecycle.DefaultStateFile, "New did not rewrite the state file another Machine left: %q", ops)
	after, err := os.ReadFile(state)
	require.NoError(t, err)
	require.Equal(t, before, after, "the rewrite changed the record")

	_, err = b.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.Empty(t, o.take(), "a tick on the bytes this Machine last read rewrote something")

	// Another writer again: the next call rewrites its file before the tick.
	pythonHeartbeat(t, state)
	o.take()
	_, err = b.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.NoError(t, err)
	require.Contains(t, o.take(), "rename "+lifecycle.DefaultStateFile)
}

func init() {
	childRoles["append"] = childAppend
}

// childAppend runs "append N DAY": N wrapper_event lines appended to the
// log file of DAY (a time in RFC 3339) in dir's log, each through its own
// O_APPEND open, without a lock or an fsync, as the Python wrapper does.
func childAppend(dir string, args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	day, err := time.Parse(time.RFC3339, args[1])
	if err != nil {
		return err
	}
	path := filepath.Join(dir, lifecycle.DefaultLogDir, lifecycle.LogFileName(day))
	for i := range n {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		line := fmt.Sprintf(`{"ts":"%s","event":"wrapper_event","n":%d}`+"\n", day.Format(time.RFC3339), i)
		if _, err := f.WriteString(line); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// TestRewriteLosesNoUnlockedAppend: recovery writes a line another Machine
// left again, in the file a writer that takes no lock appends to all the
// while (the Python wrapper). Not one of that writer's lines may be lost or
// torn, and the log still holds every transition once (C2).
func TestRewriteLosesNoUnlockedAppend(t *testing.T) {
	dir := t.TempDir()
	clock := &simClock{now: t0}
	opts := []lifecycle.Option{lifecycle.WithClock(clock.read), lifecycle.WithRetention(0)}
	m := newMachine(t, dir, opts...)
	walk(t, m, 1)
	require.NoError(t, m.Close())

	const appends = 20000
	done := make(chan error, 1)
	go func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=append "+strconv.Itoa(appends)+" "+t0.Format(time.RFC3339), "LIFECYCLE_TEST_DIR="+dir)
		cmd.Stderr = os.Stderr
		done <- cmd.Run()
	}()
	rewrites := 0
	for running := true; running; {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
		}
		// Each New meets a state file and a line another Machine wrote.
		m, err := lifecycle.New(dir, opts...)
		require.NoError(t, err)
		walk(t, m, 1)
		require.NoError(t, m.Close())
		rewrites++
	}
	require.GreaterOrEqual(t, rewrites, 10, "too few rewrites met the appender")
	seen := map[int]int{}
	st, err := lifecycle.ReadLog(filepath.Join(dir, lifecycle.DefaultLogDir), lifecycle.LogQuery{Kind: "wrapper_event"},
		func(e lifecycle.LogEntry) error {
			var l struct{ N int }
			require.NoError(t, json.Unmarshal(e.Raw, &l))
			seen[l.N]++
			return nil
		})
	require.NoError(t, err)
	require.Zero(t, st.Malformed)
	for i := range appends {
		require.Equal(t, 1, seen[i], "wrapper_event %d", i)
	}
	w := checkInvariants(t, dir, 0)
	t.Logf("%d rewrites while %d lines were appended; %d transitions", rewrites, appends, len(w.seqs))
}
