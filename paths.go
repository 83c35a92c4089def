//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkPaths refuses, before New touches the disk, a lock path or a state
// path that names a file the library (or the Python daemon sharing the
// directory) replaces, removes or writes:
//
//   - the lock file must not be the state file (by any spelling, through a
//     symlinked directory, or as a hard link to it) nor one of its
//     temporary files (".NAME" and digits, beside it): every write of the
//     state file replaces it by rename, and recovery removes the temporary
//     files, so a lock there would sit on an inode that the next write
//     unlinks, and two Machines could be inside "the" lock at once;
//   - neither may lie inside the log directory, which holds the event log,
//     nor be one of the files of dir that AcquireDaemon, WriteWakeSignal,
//     ConsumeWakeSignal or the Python daemon write, replace or remove;
//   - the state path must not be a symbolic link (see LoadState).
//
// Paths are compared absolute and clean, with the symlinks of their
// existing directories resolved; the last name is not followed.
func checkPaths(dir string, c *config) error {
	logs := resolveDir(c.logDir)
	store := resolveDir(dir)
	state, lock := resolvePath(c.statePath), resolvePath(c.lockPath)

	refuse := func(op, path, format string, a ...any) error {
		return &fs.PathError{Op: op, Path: path, Err: fmt.Errorf(format, a...)}
	}
	if lock == state || sameFile(c.lockPath, c.statePath) {
		return refuse("check lock path", c.lockPath,
			"is the state file %s, which every write replaces by rename: a lock on it would not exclude anything after the first write", c.statePath)
	}
	if isTempName(lock, state) {
		return refuse("check lock path", c.lockPath,
			"has the name of a temporary file of the state file %s (.%s and digits), which writes create and rename and recovery removes",
			c.statePath, filepath.Base(state))
	}
	if err := refuseSymlink("check state path", c.statePath); err != nil {
		return err
	}
	for _, p := range [...]struct{ op, path, resolved string }{
		{"check lock path", c.lockPath, lock},
		{"check state path", c.statePath, state},
	} {
		if why := ownedFile(p.resolved, store, logs, c.logDir); why != "" {
			return refuse(p.op, p.path, "%s", why)
		}
	}
	return nil
}

// ownedFile says why path, resolved, is a file that something other than
// the lock or the state file owns, or returns "". store and logs are the
// resolved Machine and log directories; logDir is the log directory as
// configured, for the message.
func ownedFile(path, store, logs, logDir string) string {
	wake := filepath.Join(store, WakeSignalFile)
	switch {
	case path == logs || strings.HasPrefix(path, logs+string(filepath.Separator)):
		return fmt.Sprintf("is inside the log directory %s, which holds only the event log (keep the lock and state files out of it)", logDir)
	case path == filepath.Join(store, DaemonLockFile):
		return "is the daemon lock file, which AcquireDaemon locks and writes its pid into"
	case path == wake || isTempName(path, wake):
		return "is the wake signal file or one of its temporary files, which WriteWakeSignal replaces and ConsumeWakeSignal removes"
	case path == filepath.Join(store, PythonDaemonLockFile):
		return "is the Python daemon's lock file, which that daemon replaces and removes"
	}
	return ""
}

// isTempName reports whether path is named as the temporary files that a
// replacement of target creates beside it: "." + target's name + digits.
func isTempName(path, target string) bool {
	if filepath.Dir(path) != filepath.Dir(target) {
		return false
	}
	digits, ok := strings.CutPrefix(filepath.Base(path), "."+filepath.Base(target))
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// sameFile reports whether a and b both exist and are one file (hard links,
// say). Neither is followed if it is a symlink.
func sameFile(a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	return err == nil && os.SameFile(fa, fb)
}

// resolvePath returns path absolute and clean, the symlinks of its
// directory resolved; its last name is kept as it is.
func resolvePath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	return filepath.Join(resolveDir(filepath.Dir(abs)), filepath.Base(abs))
}

// resolveDir returns dir absolute and clean, with the symlinks of its
// longest existing part resolved: a directory that New is about to create
// compares equal to the same directory spelt through a symlink.
func resolveDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	var rest []string
	for d := abs; ; {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return abs
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		rest = append([]string{filepath.Base(d)}, rest...)
		d = parent
	}
}
