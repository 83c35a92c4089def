//go:build unix

package lifecycle

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Default file names inside a Machine's directory.
const (
	DefaultStateFile = "lifecycle_state.json"
	DefaultLockFile  = ".lifecycle.lock"
	DefaultLogDir    = "logs"
	// DefaultRetention is how long log files stay uncompressed.
	DefaultRetention = 30 * 24 * time.Hour
)

// Option configures a Machine. A nil Option is ignored, and every option
// given nil (a nil clock, logger, table or observer) means the default, as
// if it were not given at all.
type Option func(*config)

// apply runs o on c; a nil o does nothing.
func (o Option) apply(c *config) {
	if o != nil {
		o(c)
	}
}

type config struct {
	shadowRun bool
	clock     func() time.Time
	statePath string
	lockPath  string
	logDir    string
	retention time.Duration
	logger    *slog.Logger
	table     *Table
	reason    func(Event) string
	observers *observers // per Machine: defaultConfig makes a new one
}

func defaultConfig() config {
	return config{
		clock:     time.Now,
		retention: DefaultRetention,
		logger:    slog.New(slog.DiscardHandler),
		table:     defaultTable,
		observers: &observers{},
	}
}

// WithReasons sets the reason of every dispatch that gives none (Dispatch,
// DispatchContext, or an empty reason): fn(ev) is written as
// the transition's trigger, as Machine.DispatchReason writes its reason,
// and is checked as it is. An empty result is the event's name.
// WithReasons(PythonReason) writes the Python daemon's reasons. Default
// (and nil): none, the triggers are the event names.
func WithReasons(fn func(ev Event) string) Option { return func(c *config) { c.reason = fn } }

// WithShadowRun sets the shadow_run flag every dispatch writes. In shadow
// run, entering HIBERNATION also logs a shadow_run_warning, and the daemon is
// expected to stay up.
func WithShadowRun(on bool) Option { return func(c *config) { c.shadowRun = on } }

// WithClock replaces time.Now, for tests and simulations. A nil now means
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			now = time.Now
		}
		c.clock = now
	}
}

// WithStatePath puts the state file at path instead of dir/lifecycle_state.json.
// New refuses a path that is a symbolic link (see LoadState), that lies in
// the log directory, or that names the lock file or another file of dir the
// library writes (the daemon lock, the wake signal, the Python daemon's
// .locked).
func WithStatePath(path string) Option { return func(c *config) { c.statePath = path } }

// WithLockPath puts the lock file at path instead of dir/.lifecycle.lock.
// New refuses a path that is the state file (however spelt, or a hard link
// to it) or one of its temporary files, that lies in the log directory, or
// that names another file of dir the library writes (the daemon lock, the
// wake signal, the Python daemon's .locked): each is replaced or removed
// while the Machine runs, and a lock on a replaced file excludes nothing.
func WithLockPath(path string) Option { return func(c *config) { c.lockPath = path } }

// WithLogDir puts the event log in dir instead of dir/logs. The log
// directory holds only the log: New refuses a lock or state path inside it.
func WithLogDir(dir string) Option { return func(c *config) { c.logDir = dir } }

// WithRetention sets how old a log file gets before the Machine compresses
// it (checked once a UTC day). 0 turns automatic rotation off.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithLogger reports transitions, recoveries and rotations through l, and,
// at Debug level, each dispatch of an event that no row of the Machine's
// table has (in the seed table sleep_eligible and hibernation_grace_expired;
// tick, a no-op by design, is not reported). A nil l means the default,
// which discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	}
}

// WithTable gives the Machine its transition table; the default is
// DefaultTable. The Machine dispatches only the table's events (others fail
// with ErrUnknownEvent) and accepts only a state file whose current_state
// the table lists: any other is refused with ErrCorruptState and left as it
// is. A nil table means the default; an empty one (the zero Table) makes New
// fail with ErrInvalidTable.
func WithTable(t *Table) Option {
	return func(c *config) {
		if t == nil {
			t = defaultTable
		}
		c.table = t
	}
}

// checkConfig refuses options that cannot work, before New touches the disk.
// resolveConfig is the configuration opts give for the directory dir, its
// paths filled in and checked.
func resolveConfig(dir string, opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := checkConfig(&cfg); err != nil {
		return cfg, err
	}
	if cfg.statePath == "" {
		cfg.statePath = filepath.Join(dir, DefaultStateFile)
	}
	if cfg.lockPath == "" {
		cfg.lockPath = filepath.Join(dir, DefaultLockFile)
	}
	if cfg.logDir == "" {
		cfg.logDir = filepath.Join(dir, DefaultLogDir)
	}
	return cfg, checkPaths(dir, &cfg)
}

func checkConfig(c *config) error {
	if len(c.table.states) == 0 {
		return fmt.Errorf("%w: WithTable got an empty table; build one with NewTable, LoadTable or DefaultTable", ErrInvalidTable)
	}
	return nil
}
