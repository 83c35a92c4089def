//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Repair is what RepairState found and did (or, in a dry run, would do).
type Repair struct {
	// StatePath is the state file's path.
	StatePath string
	// Problem is why the state file was judged corrupt (an error wrapping
	// ErrCorruptState that names the file), or nil when it is sound or
	// missing: then nothing was done, and the other fields are zero.
	Problem error
	// MovedTo is where the bad file was moved ("" in a dry run): beside
	// it, named STATEFILE.corrupt-TIME (or -TIME-N when that name is
	// taken). It is never deleted.
	MovedTo string
	// Record is the record written (in a dry run, that would be written):
	// the state, since_ts, transition_seq and last_transition the log
	// gives; the other fields are their defaults.
	Record Record
	// From is the log's last transition, which the record was rebuilt
	// from; nil when the log has none (the record is then the default,
	// at the log's highest seq).
	From *Transition
	// Defaults are the state file's keys set to their default values
	// because the log cannot know them.
	Defaults []string
}

// repairDefaults are the keys the log cannot give a rebuilt record.
var repairDefaults = []string{"last_activity_ts", "wrapper_event_seq", "sleep_cycle_progress", "quarantine",
	"shadow_run", "crisis_mode", "crisis_mode_since_ts", "essential_variable_consecutive_breaches",
	"essential_variable_consecutive_clears"}

// RepairState mends the corrupt state file of the lifecycle directory dir
// (the same options as New name its files): it moves the bad file aside,
// never deleting it, and writes, durably, a record rebuilt from the event
// log's last transition: its state as current_state, its time as since_ts,
// the log's highest seq as transition_seq, and the transition as
// last_transition. The fields the log cannot know take their defaults
// (Repair.Defaults). With dryRun it reads and reports, and writes nothing.
//
// It refuses, changing nothing, while a daemon holds the directory
// (ErrDaemonRunning) or another process holds the lifecycle lock
// (ErrLocked). A sound or missing state file is left as it is
// (Repair.Problem is nil). An error reading the file that is not about its
// content (permission denied, too many open files, an I/O error) is
// returned as it is: only content is corrupt.
//
// No crash leaves the directory without a state file. The bad file first
// gets its aside name as a second name (a hard link, the directory synced),
// then the rebuilt record replaces the state file in one rename (a
// temporary file, synced, renamed over it, the directory synced). Stopped
// at any point, by a crash or an error, it leaves the state file either the
// bad file (RepairState can simply be run again) or the rebuilt record,
// with the bad file kept under its aside name. Run again on a bad file
// that a stopped repair gave its aside name already, it keeps that name
// (Repair.MovedTo) instead of making a second one. A file system that allows no hard link
// fails the repair with an error naming the file (Op "move aside"), having
// changed nothing: it does not fall back to renaming the bad file away
// first. Only a state path that is a directory, which can neither have a
// second name nor be replaced by a file in one rename, is renamed aside
// first: a crash before the record is written leaves no state file, and
// the next Machine starts from the default record with the next seq above
// the log's, as after any reset.
func RepairState(dir string, dryRun bool, opts ...Option) (Repair, error) {
	cfg, err := resolveConfig(dir, opts)
	if err != nil {
		return Repair{}, err
	}
	releaseDaemon, err := keepDaemonsOut(dir)
	if err != nil {
		return Repair{}, err
	}
	lock, err := openLock(cfg.lockPath)
	if err != nil {
		return Repair{}, errors.Join(err, releaseDaemon())
	}
	if err := lock.tryLock(); err != nil {
		if errors.Is(err, ErrLocked) {
			err = lock.busy(nil, 0)
		}
		return Repair{}, errors.Join(err, lock.close(), releaseDaemon())
	}
	r, err := repairLocked(&cfg, dryRun)
	return r, errors.Join(err, lock.unlock(), lock.close(), releaseDaemon())
}

// keepDaemonsOut fails with ErrDaemonRunning when a daemon (this library's
// or the Python one) holds dir, and otherwise holds the daemon lock until
// release, so that none starts meanwhile. Unlike AcquireDaemon it creates
// and writes nothing: a directory without a daemon lock file has no daemon.
func keepDaemonsOut(dir string) (release func() error, err error) {
	path := filepath.Join(dir, DaemonLockFile)
	none := func() error { return nil }
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return none, checkPythonDaemon(dir)
	}
	l, err := openLock(path)
	if err != nil {
		return nil, err
	}
	switch err := l.tryLock(); {
	case errors.Is(err, ErrLocked):
		running := &fs.PathError{Op: "repair", Path: path,
			Err: fmt.Errorf("%w (%s): stop it first", ErrDaemonRunning, holderPID(l.f))}
		return nil, errors.Join(running, l.close())
	case err != nil:
		return nil, errors.Join(err, l.close())
	}
	release = func() error { return errors.Join(l.unlock(), l.close()) }
	if err := checkPythonDaemon(dir); err != nil {
		return nil, errors.Join(err, release())
	}
	return release, nil
}

// repairLocked is RepairState under both locks.
func repairLocked(cfg *config, dryRun bool) (Repair, error) {
	r := Repair{StatePath: cfg.statePath}
	_, _, err := loadState(cfg.statePath, cfg.clock, cfg.table)
	switch {
	case err == nil:
		return r, nil
	case !errors.Is(err, ErrCorruptState):
		return r, err
	}
	r.Problem = err
	now := truncate(cfg.clock())
	if r.Record, r.From, err = rebuildRecord(cfg, now); err != nil {
		return r, err
	}
	r.Defaults = repairDefaults
	if r.From == nil {
		r.Defaults = append([]string{"current_state", "since_ts"}, repairDefaults...)
	}
	data, err := stateBytes(cfg.statePath, r.Record, cfg.table)
	if err != nil || dryRun {
		return r, err
	}
	if r.MovedTo, err = moveAside(cfg.statePath, now); err != nil {
		return r, err
	}
	return r, replaceFile(cfg.statePath, data)
}

// rebuildRecord is the record the log gives at now: the default one, moved
// to the state its last transition entered, at the highest seq it holds.
func rebuildRecord(cfg *config, now time.Time) (Record, *Transition, error) {
	rec := cfg.table.defaultRecord(now)
	top, err := maxLoggedSeq(cfg.logDir)
	if err != nil {
		return rec, nil, err
	}
	rec.TransitionSeq = top
	last, err := History{Dir: cfg.logDir}.StateAt(maxTime)
	switch {
	case errors.Is(err, ErrNoHistory):
		return rec, nil, nil
	case err != nil:
		return rec, nil, err
	case last.Entered == nil:
		return rec, nil, nil
	}
	t := *last.Entered
	rec.CurrentState = t.To
	rec.SinceTS = truncate(t.Time)
	if t.Seq == top {
		rec.LastTransition = &t
	}
	return rec, &t, nil
}

// maxTime is a time after every transition a log can hold.
var maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// moveAside gives the bad file at path a second name beside it, one that
// says it is corrupt and since when, and syncs the directory, so that the
// name is durable before the rebuilt record takes path: from then on the
// bad file is kept under that name alone. A hard link, not a rename: path
// names the bad file until the record replaces it in one rename, so no
// crash leaves the directory without a state file. A file a stopped repair
// gave its aside name already (a crash or an error came before the record
// was in place) keeps that name rather than get a second one.
//
// A directory cannot have a second name, nor be replaced by a file in one
// rename: it is renamed aside, and a crash before the record is written
// leaves no state file.
func moveAside(path string, now time.Time) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", pathErr("move aside", path, err)
	}
	if fi.IsDir() {
		return renameAside(path, now)
	}
	aside, err := linkedAside(path, fi)
	if err != nil {
		return "", err
	}
	if aside == "" {
		if aside, err = linkAside(path, now); err != nil {
			return "", err
		}
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return aside, err
	}
	return aside, nil
}

// asideBase is the first name moveAside tries for the bad file at path;
// the next ones add -2, -3, ... to it.
func asideBase(path string, now time.Time) string {
	return path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
}

// linkAside links the file at path to the first aside name that is free.
// link(2) never replaces a name, so a name taken in the instant before it
// (EEXIST) is passed over like one found taken. A file system that refuses
// the link gets an error saying so, and nothing has changed: the repair
// does not fall back to a rename, which a crash could leave without a
// state file.
func linkAside(path string, now time.Time) (string, error) {
	base := asideBase(path, now)
	aside := base
	for n := 2; ; n++ {
		err := fsys.Link(path, aside)
		switch {
		case err == nil:
			return aside, nil
		case errors.Is(err, fs.ErrExist):
			aside = fmt.Sprintf("%s-%d", base, n)
			continue
		case linkUnsupported(err):
			return "", &fs.PathError{Op: "move aside", Path: path, Err: fmt.Errorf(
				"the file system refused it a second name, %s (%w): the repair needs a hard link "+
					"so that no crash can leave the directory without a state file", filepath.Base(aside), unwrapPath(err))}
		}
		return "", pathErr("move aside", path, err)
	}
}

// linkUnsupported tells the link errors that say the file system, or the
// file, allows no (further) hard link.
func linkUnsupported(err error) bool {
	for _, e := range []error{syscall.EPERM, syscall.ENOTSUP, syscall.EOPNOTSUPP, syscall.EXDEV, syscall.EMLINK} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// linkedAside is the aside name the file at path (fi) has already, or ""
// when it has none: a name beside it of the form moveAside gives, on the
// same file. Only a file with more than one link is looked for.
func linkedAside(path string, fi fs.FileInfo) (string, error) {
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink < 2 {
		return "", nil
	}
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".corrupt-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", pathErr("move aside", path, err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if afi, err := os.Lstat(name); err == nil && os.SameFile(fi, afi) {
			return name, nil
		}
	}
	return "", nil
}

// renameAside renames the directory at path to the first aside name no
// file has yet, and syncs its parent.
func renameAside(path string, now time.Time) (string, error) {
	base := asideBase(path, now)
	aside := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return "", pathErr("move aside", aside, err)
		}
		aside = fmt.Sprintf("%s-%d", base, n)
	}
	if err := fsys.Rename(path, aside); err != nil {
		return "", pathErr("move aside", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return aside, err
	}
	return aside, nil
}
