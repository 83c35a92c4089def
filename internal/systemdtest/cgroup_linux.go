package systemdtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupPrefix names the child cgroups: the test process's pid and a
// sequence number follow.
const cgroupPrefix = "lifecycle-systemdtest."

// removeCgroup waits for dir's subtree to hold no process, killing any
// left (cgroup.kill), then removes its directories, deepest first.
func removeCgroup(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	killed := false
	for populated(dir) {
		if !killed {
			// A process the manager's death did not take (there should be
			// none: all were in its PID namespace).
			killed = true
			if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("killing what is left in cgroup %s: %w", dir, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still holds processes %v after %v", dir, cgroupPIDs(dir), wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing cgroup %s: %w", dir, err)
	}
	slices.Reverse(dirs) // children first
	for _, d := range dirs {
		// A cgroup whose last process has just exited may be busy a moment.
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				return &os.PathError{Op: "rmdir", Path: d, Err: err}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// populated reports whether dir's subtree holds a process (cgroup.events).
func populated(dir string) bool {
	events, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false // gone
	}
	return strings.Contains(string(events), "populated 1")
}

// cgroupPIDs lists the processes of dir's subtree, for a message.
func cgroupPIDs(dir string) []string {
	var pids []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			if data, err := os.ReadFile(path); err == nil {
				pids = append(pids, strings.Fields(string(data))...)
			}
		}
		return nil
	})
	return pids
}

// removeStaleCgroups removes the empty child cgroups a test process that
// is gone left behind (one killed before its cleanup ran). A cgroup that
// still holds a process is left alone.
func removeStaleCgroups(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		owner, _, _ := strings.Cut(rest, ".")
		pid, err := strconv.Atoi(owner)
		if err != nil || syscall.Kill(pid, 0) == nil || pid == os.Getpid() {
			continue // its test process still runs
		}
		dir := filepath.Join(parent, e.Name())
		if !populated(dir) {
			_ = removeCgroup(dir, 0) // best effort: another test may race for it
		}
	}
}
