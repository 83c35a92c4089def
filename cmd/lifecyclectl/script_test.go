package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as lifecyclectl itself: testscript
// puts a copy named lifecyclectl on the scripts' PATH.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){progName: main})
}

// scriptLimit bounds the whole script run; it takes seconds.
const scriptLimit = 3 * time.Minute

// TestScripts runs testdata/script/*.txtar: the built command, run as a
// user would run it.
//
// A watchdog, not an assertion: a command that hangs (a --follow that
// misses its line, say) is stopped after scriptLimit and fails its
// script, rather than holding up the run until go test's own timeout.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(scriptLimit)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		Deadline:            deadline,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			// The repository's examples, for the scripts that use the
			// files it ships (examples/tables/extended.json).
			env.Setenv("EXAMPLES", examples)
			// A race-enabled command sleeps a second on exit by default;
			// the scripts run it a hundred times.
			if os.Getenv("GORACE") == "" {
				env.Setenv("GORACE", "atexit_sleep_ms=10")
			}
			h := &lockHolder{}
			env.Values[lockHolderKey{}] = h
			env.Defer(h.release)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"holdlock":    cmdHoldLock,
			"releaselock": cmdReleaseLock,
			"appendlog":   cmdAppendLog,
			"waitfile":    cmdWaitFile,
			"waitline":    cmdWaitLine,
			"gzip":        cmdGzip,
		},
	})
}

// exits CODE PROGRAM [ARGS...] runs PROGRAM and requires that it exit with
// CODE; stdout and stderr can be checked afterwards as after exec.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	var ee *exec.ExitError
	switch err := ts.Exec(args[1], args[2:]...); {
	case err == nil:
	case errors.As(err, &ee):
		got = ee.ExitCode()
	default:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

type lockHolderKey struct{}

// lockHolder holds a directory's lifecycle lock on behalf of a script, the
// way a daemon in the middle of a dispatch would: inside Machine.Update.
type lockHolder struct {
	free chan struct{} // closed to let go
	done chan error    // the holder's outcome
}

func (h *lockHolder) release() {
	if h.free == nil {
		return
	}
	close(h.free)
	h.free = nil
	<-h.done
}

// holdlock DIR takes the lifecycle lock of DIR and holds it, in this
// process, until releaselock.
func cmdHoldLock(ts *testscript.TestScript, neg bool, args []string) {
	h := ts.Value(lockHolderKey{}).(*lockHolder)
	if neg || len(args) != 1 || h.free != nil {
		ts.Fatalf("usage: holdlock DIR (once until releaselock)")
	}
	m, err := lifecycle.New(ts.MkAbs(args[0]))
	ts.Check(err)
	held := make(chan struct{})
	h.free, h.done = make(chan struct{}), make(chan error, 1)
	free := h.free
	go func() {
		_, err := m.Update(func(*lifecycle.Record) error {
			close(held)
			<-free
			return nil
		})
		h.done <- errors.Join(err, m.Close())
	}()
	select {
	case <-held:
	case err := <-h.done:
		h.free = nil
		ts.Fatalf("holdlock: %v", err)
	}
}

// releaselock lets go of the lock holdlock took.
func cmdReleaseLock(ts *testscript.TestScript, neg bool, args []string) {
	h := ts.Value(lockHolderKey{}).(*lockHolder)
	if neg || len(args) != 0 || h.free == nil {
		ts.Fatalf("usage: releaselock (after holdlock)")
	}
	close(h.free)
	h.free = nil
	ts.Check(<-h.done)
}

// appendlog [-n] FILE TEXT appends TEXT and a newline (none with -n) to
// FILE in one write, creating it, as another program writing the log would.
func cmdAppendLog(ts *testscript.TestScript, neg bool, args []string) {
	nl := "\n"
	if len(args) > 0 && args[0] == "-n" {
		nl, args = "", args[1:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: appendlog [-n] FILE TEXT")
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	ts.Check(err)
	_, err = f.WriteString(args[1] + nl)
	ts.Check(errors.Join(err, f.Close()))
}

// waitfile FILE waits until FILE exists: a background command's signal
// that it is ready. It gives up after a minute, which only a broken
// command takes.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	ts.Fatalf("waitfile: %s did not appear", args[0])
}

// waitline FILE REGEXP waits until a complete line of FILE matches REGEXP:
// a background command, its output sent to FILE, has got that far. It gives
// up after a minute, which only a broken command takes.
func cmdWaitLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitline FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			ts.Fatalf("waitline: %v", err)
		}
		complete := data[:bytes.LastIndexByte(data, '\n')+1]
		for _, line := range strings.Split(string(complete), "\n") {
			if re.MatchString(line) {
				return
			}
		}
	}
	data, _ := os.ReadFile(path)
	ts.Fatalf("waitline: no line of %s matches %q; it holds:\n%s", args[0], args[1], data)
}

// gzip FILE replaces FILE by FILE.gz, as a log rotation does.
func cmdGzip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: gzip FILE")
	}
	path := ts.MkAbs(args[0])
	in, err := os.Open(path)
	ts.Check(err)
	out, err := os.OpenFile(path+".gz", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		ts.Check(errors.Join(err, in.Close()))
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	ts.Check(errors.Join(err, zw.Close(), out.Close(), in.Close()))
	ts.Check(os.Remove(path))
}
