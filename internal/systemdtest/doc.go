// Package systemdtest runs a real systemd for tests, on a machine whose
// PID 1 need not be systemd: it boots /lib/systemd/systemd as PID 1 of new
// PID, mount, network, UTS, IPC and cgroup namespaces, with
//
//   - a cgroup2 hierarchy rooted in a child cgroup of the test's own, so the
//     manager only ever moves processes it started itself;
//   - private tmpfs /run and /dev, whose /dev/console is a pseudo-terminal
//     the test reads the manager's log from;
//   - /sys and /proc/sys read-only;
//   - SYSTEMD_UNIT_PATH set to one directory (stock targets and the units
//     under test, see CopyStockTargets) and no generators.
//
// The test talks to it with systemctl over its private socket (nsenter
// into its namespaces; no D-Bus), and reaches its sockets with Dial, from
// its network namespace. Cleanup kills its PID 1, which ends every process
// of the namespace, and removes the cgroup.
//
// It needs root, Linux, a cgroup2 hierarchy and systemd's binaries;
// Available says why it cannot run, and Start skips the test then.
package systemdtest
