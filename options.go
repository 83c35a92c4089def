//go:build unix

package lifecycle

import (
	"log/slog"
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

// Option configures a Machine.
type Option func(*config)

type config struct {
	shadowRun bool
	clock     func() time.Time
	statePath string
	lockPath  string
	logDir    string
	retention time.Duration
	logger    *slog.Logger
	table     *Table
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

// WithShadowRun sets the shadow_run flag every dispatch writes. In shadow
// run, entering HIBERNATION also logs a shadow_run_warning, and the daemon is
// expected to stay up.
func WithShadowRun(on bool) Option { return func(c *config) { c.shadowRun = on } }

// WithClock replaces time.Now, for tests and simulations.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithStatePath puts the state file at path instead of dir/lifecycle_state.json.
func WithStatePath(path string) Option { return func(c *config) { c.statePath = path } }

// WithLockPath puts the lock file at path instead of dir/.lifecycle.lock.
func WithLockPath(path string) Option { return func(c *config) { c.lockPath = path } }

// WithLogDir puts the event log in dir instead of dir/logs.
func WithLogDir(dir string) Option { return func(c *config) { c.logDir = dir } }

// WithRetention sets how old a log file gets before the Machine compresses
// it (checked once a UTC day). 0 turns automatic rotation off.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithLogger reports transitions, recoveries and rotations through l.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }
