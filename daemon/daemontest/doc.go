// Package daemontest holds the service manager's side of the protocols a
// daemon built with the daemon kit speaks, for tests: a notify socket that
// collects sd_notify messages, and a supervisor that socket-activates a
// server the way a systemd socket unit does. Both run real sockets and real
// processes; neither needs systemd.
package daemontest
