package lifecycle_test

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// faultKind is an error the seam injects.
type faultKind int

const (
	faultEIO faultKind = iota
	faultENOSPC
	faultEMFILE
	faultEINTR
	faultShortWrite // half the bytes written, then ENOSPC
)

var faultKinds = []faultKind{faultEIO, faultENOSPC, faultEMFILE, faultEINTR, faultShortWrite}

func (k faultKind) String() string {
	return [...]string{"EIO", "ENOSPC", "EMFILE", "EINTR", "a short write"}[k]
}

func (k faultKind) errno() syscall.Errno {
	return [...]syscall.Errno{syscall.EIO, syscall.ENOSPC, syscall.EMFILE, syscall.EINTR, syscall.ENOSPC}[k]
}

// faultFS sits in the seam in front of the recorder and fails one call:
// the at-th (from 0) with kind's error. A failed call does nothing, except
// a short write, which writes half its bytes first, and a failed fsync
// (EIO, ENOSPC), after which the recorder holds the writes it should have
// synced as lost (see syncFailed). With at < 0 it fails nothing and keeps
// the list of calls, to plan the runs that fail each one.
type faultFS struct {
	lifecycle.FileSystem // the recorder: calls the seam gains later pass through
	rec                  *recorder
	at                   int
	kind                 faultKind
	fsyncgate            bool // a failed fsync loses its writes for good

	calls   []string // with at < 0: every call, in order
	n       int      // calls so far
	fired   bool
	firedOp string // the call that failed
	firedAt int    // recorded operations when it did
	firedOn string // the path of the call that failed
}

// mark and firedSince tell whether the error was injected between them.
func (f *faultFS) mark() bool { return f != nil && f.fired }

func (f *faultFS) firedSince(mark bool) bool { return f != nil && f.fired && !mark }

// after says, for messages, which error was injected.
func (f *faultFS) after() string {
	if f == nil || !f.fired {
		return ""
	}
	return fmt.Sprintf(" after an injected %v at seam call %d (%s)", f.kind, f.at, f.firedOp)
}

func (f *faultFS) String() string { return fmt.Sprintf(" [%v at seam call %d]", f.kind, f.at) }

// hit counts a call and returns the error to inject into it, if any.
func (f *faultFS) hit(op, path string, write bool) error {
	what := op + " " + f.rec.rel(path)
	i := f.n
	f.n++
	if f.at < 0 {
		f.calls = append(f.calls, what)
	}
	if f.fired || i != f.at || f.kind == faultShortWrite && !write {
		return nil
	}
	f.fired, f.firedOp, f.firedAt, f.firedOn = true, what, f.rec.ops(), path
	return &fs.PathError{Op: op, Path: path, Err: f.kind.errno()}
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if err := f.hit("open", name, false); err != nil {
		return nil, err
	}
	return f.FileSystem.OpenFile(name, flag, perm)
}

func (f *faultFS) Write(file *os.File, p []byte) (int, error) {
	return f.write(file, p, func(p []byte) (int, error) { return f.FileSystem.Write(file, p) })
}

func (f *faultFS) WriteAt(file *os.File, p []byte, off int64) (int, error) {
	return f.write(file, p, func(p []byte) (int, error) { return f.FileSystem.WriteAt(file, p, off) })
}

func (f *faultFS) write(file *os.File, p []byte, w func([]byte) (int, error)) (int, error) {
	err := f.hit("write", file.Name(), true)
	switch {
	case err == nil:
		return w(p)
	case f.kind == faultShortWrite && len(p) > 1:
		n, werr := w(p[:len(p)/2])
		if werr != nil {
			return n, werr
		}
		return n, err
	}
	return 0, err
}

func (f *faultFS) Truncate(file *os.File, size int64) error {
	if err := f.hit("truncate", file.Name(), false); err != nil {
		return err
	}
	return f.FileSystem.Truncate(file, size)
}

func (f *faultFS) Sync(file *os.File) error {
	if err := f.hit("fsync", file.Name(), false); err != nil {
		if f.fsyncgate && (f.kind == faultEIO || f.kind == faultENOSPC) {
			f.rec.syncFailed(file)
		}
		return err
	}
	return f.FileSystem.Sync(file)
}

func (f *faultFS) SyncDir(dir string) error {
	if err := f.hit("fsync dir", dir, false); err != nil {
		return err
	}
	return f.FileSystem.SyncDir(dir)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.hit("rename", oldpath, false); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err.(*fs.PathError).Err}
	}
	return f.FileSystem.Rename(oldpath, newpath)
}

func (f *faultFS) Link(oldname, newname string) error {
	if err := f.hit("link", oldname, false); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err.(*fs.PathError).Err}
	}
	return f.FileSystem.Link(oldname, newname)
}

func (f *faultFS) Mkdir(name string, perm fs.FileMode) error {
	if err := f.hit("mkdir", name, false); err != nil {
		return err
	}
	return f.FileSystem.Mkdir(name, perm)
}

func (f *faultFS) Remove(name string) error {
	if err := f.hit("remove", name, false); err != nil {
		return err
	}
	return f.FileSystem.Remove(name)
}

func (f *faultFS) Unlink(name string) error {
	if err := f.hit("unlink", name, false); err != nil {
		return err
	}
	return f.FileSystem.Unlink(name)
}

// isWrite tells a planned call that a short write applies to.
func isWrite(call string) bool { return strings.HasPrefix(call, "write ") }

// TestCrashSimulatorInjectedErrors fails one call of the seam at a time in
// each targeted and scripted workload, with each error of faultKinds: the
// failed library call must have changed nothing (as a reader sees the
// files), or poisoned its Machine (its next call fails at once, touching
// nothing); a new Machine then takes over, and after a power loss at each
// point from the error to the next acknowledged operation, and at the end,
// the crash state keeps every acknowledged operation and C1 to C4 and C7
// hold, as in TestCrashSimulator.
//
// The targeted workloads get every error at every call; the scripted ones
// one error per call, the kinds taken in turn (all of them with
// LIFECYCLE_CRASHSIM=long, which also crashes more points and states).
// -short runs the targeted workloads alone, one error per call, and checks
// crash states at the end only.
//
// A failed fsync loses its writes for good, as on Linux (see syncFailed):
// recovery must not trust bytes it finds in the page cache after such a
// failure. LIFECYCLE_CRASHSIM_FSYNCGATE=0 models a failed fsync whose
// writes may still reach the disk instead.
func TestCrashSimulatorInjectedErrors(t *testing.T) {
	type config struct {
		ws            []simWorkload
		every         bool // every kind at every call, else one per call
		perPoint, win int  // crash states per point; points after the error
	}
	configs := []config{{simTargeted(), true, 2, 0}, {simScripted(), false, 2, 2}}
	switch {
	case os.Getenv("LIFECYCLE_CRASHSIM") == "long":
		configs = []config{{append(simTargeted(), simScripted()...), true, 64, 200}}
	case testing.Short():
		configs = []config{{simTargeted(), false, 2, 0}}
	}
	gate := os.Getenv("LIFECYCLE_CRASHSIM_FSYNCGATE") != "0"
	total := newSimStats()
	setups := newSimSetups(t)
	for _, c := range configs {
		for _, w := range c.ws {
			if len(total.violations) > 0 && os.Getenv("LIFECYCLE_CRASHSIM_ALL") != "1" {
				t.Logf("skipped %q: an earlier workload failed", w.name)
				continue
			}
			t.Run(w.name, func(t *testing.T) {
				plan := &faultFS{at: -1}
				s := recordWorkload(t, w, plan, setups)
				require.Empty(t, s.stats.violations, s.stats.report())
				st := newSimStats()
				for i, call := range plan.calls {
					for j, kind := range faultKinds {
						if kind == faultShortWrite && !isWrite(call) || !c.every && j != i%len(faultKinds) {
							continue
						}
						f := &faultFS{at: i, kind: kind, fsyncgate: gate}
						st.add(injectOne(t, w, f, setups, c.perPoint, c.win))
					}
				}
				t.Logf("%d seam calls: %s", len(plan.calls), st.report())
				total.add(st)
			})
		}
	}
	t.Logf("all workloads: %s", total.report())
	require.Empty(t, total.violations, total.report())
	require.Positive(t, total.injected)
}

// injectOne records w with f in the seam and, if its error fired, checks
// the crash states of up to win points from it to the next acknowledged
// operation, and of the end.
func injectOne(t *testing.T, w simWorkload, f *faultFS, setups *simSetups, perPoint, win int) simStats {
	s := recordWorkload(t, w, f, setups)
	defer func() { require.NoError(t, os.RemoveAll(s.root)) }()
	st := s.stats
	if !f.fired {
		return st
	}
	st.injected++
	end := len(s.rec.snaps) - 1
	stop := end
	for _, a := range s.acks {
		if a.acked && a.start >= f.firedAt {
			stop = a.ops
			break
		}
	}
	var points []int
	for k := f.firedAt; k <= stop && k < f.firedAt+win; k++ {
		points = append(points, k)
	}
	if len(points) == 0 || points[len(points)-1] != end {
		points = append(points, end)
	}
	st.add(checkPoints(t, w, s, points, perPoint))
	return st
}
