package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/iai-mcp/lifecycle"
)

// hints are the lines report prints after an error whose message alone
// could mislead a person or leave them stuck: what it means for their
// files, and the next step. Each kind of error is one case. invocation is
// how to run lifecyclectl on the same directory again.
func hints(err error, invocation string) []string {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return nil
	}
	switch {
	case errors.Is(err, lifecycle.ErrCorruptState):
		return corruptStateHints(pe.Path, invocation)
	case errors.Is(err, fs.ErrPermission):
		return permissionHints(pe.Path)
	}
	return nil
}

// corruptStateHints: the file is kept, and how to go on without losing it:
// repair moves it aside and rebuilds the record from the log.
func corruptStateHints(path, invocation string) []string {
	return []string{
		fmt.Sprintf("%s is kept as it is: nothing writes over a corrupt state file", path),
		fmt.Sprintf("next: see the record the log gives: %s repair --dry-run", invocation),
		fmt.Sprintf("then put it in place (the bad file is moved aside, never deleted): %s repair", invocation),
	}
}

// permissionHints: a refused access is not damage, so the file must not be
// removed; the next step is to be its owner or to be let in.
func permissionHints(path string) []string {
	me := os.Geteuid()
	lines := []string{fmt.Sprintf("a permission problem, not a damaged file: uid %d may not access %s (or a directory above it)", me, path)}
	if owner, ok := ownerOf(path); ok && owner != me {
		return append(lines, fmt.Sprintf("next: run as its owner (uid %d), or give uid %d access; do not remove it", owner, me))
	}
	return append(lines, fmt.Sprintf("next: give uid %d access to it and to the directories above it (ls -ld each); do not remove it", me))
}

// ownerOf is the owner of path or, when path cannot be examined, of the
// nearest directory above it that can.
func ownerOf(path string) (int, bool) {
	for p := path; ; p = filepath.Dir(p) {
		if fi, err := os.Lstat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				return int(st.Uid), true
			}
			return 0, false
		}
		if p == filepath.Dir(p) {
			return 0, false
		}
	}
}
