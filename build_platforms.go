//go:build !unix

// This is the one file of the package on a system that is not Unix-like:
// the package runs on Linux and macOS only. It needs flock(2), open(2) with
// O_NOFOLLOW and O_CLOEXEC, and fsync(2) of a directory, which Windows does
// not have. Every other file is built for unix only, so that a build for
// another system fails with the one error below, which says why.

package lifecycle

const _ = unsupported_system__lifecycle_runs_on_Linux_and_macOS_only
