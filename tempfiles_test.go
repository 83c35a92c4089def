package lifecycle_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

func init() {
	childRoles["savestate"] = childSaveState
}

// childSaveState runs "savestate N": N lock-free SaveState calls on dir's
// state file, as a tool that writes it without a Machine does, and prints
// how many failed and the first error.
func childSaveState(dir string, args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	path := filepath.Join(dir, lifecycle.DefaultStateFile)
	failed, first := 0, ""
	for i := range n {
		rec := lifecycle.DefaultRecord(time.Now())
		rec.WrapperEventSeq = int64(i)
		if err := lifecycle.SaveState(path, rec); err != nil {
			if failed == 0 {
				first = err.Error()
			}
			failed++
		}
	}
	fmt.Printf("%d %s\n", failed, first)
	return nil
}

// TestNewLeavesLiveTempFiles: New removes the temporary state files a crash
// left, but never the one a SaveState in another process is writing: that
// write would fail at its rename. Two processes save in a loop, lock-free,
// while this one opens Machines on the directory again and again.
func TestNewLeavesLiveTempFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, lifecycle.SaveState(filepath.Join(dir, lifecycle.DefaultStateFile), lifecycle.DefaultRecord(time.Now())))
	const saves = 300
	type result struct {
		out string
		err error
	}
	results := make(chan result, 2)
	var running atomic.Int32
	for range 2 {
		running.Add(1)
		go func() {
			defer running.Add(-1)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=savestate "+strconv.Itoa(saves), "LIFECYCLE_TEST_DIR="+dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			results <- result{strings.TrimSpace(string(out)), err}
		}()
	}
	opened := 0
	for running.Load() > 0 {
		m, err := lifecycle.New(dir, lifecycle.WithRetention(0))
		require.NoError(t, err)
		require.NoError(t, m.Close())
		opened++
	}
	for range 2 {
		r := <-results
		require.NoError(t, r.err)
		require.Equal(t, "0", strings.Fields(r.out)[0], "SaveState failed while Machines were opened (%d opened): %s of %d", opened, r.out, saves)
	}
	t.Logf("%d Machines opened during %d saves", opened, 2*saves)
}
