//go:build !linux && !darwin

// The package runs on Linux and macOS only: it needs flock(2), open(2) with
// O_NOFOLLOW and O_CLOEXEC, and fsync(2) of a directory, and its durability
// is tested on Linux and vetted for macOS. Windows lacks those calls; the
// BSDs have them, but no test of this project runs there, so the package
// does not claim them. A build for any other system fails with the one
// error below, which says why: every other file is built for unix only, so
// that on Windows the rest of the package is left out, and on a BSD the
// rest compiles and this stays the only error.

package lifecycle

const _ = unsupported_system__lifecycle_runs_on_Linux_and_macOS_only
