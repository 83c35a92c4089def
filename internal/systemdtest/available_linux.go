package systemdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SystemdBinary is the manager this package boots.
const SystemdBinary = "/lib/systemd/systemd"

// tools are the programs the harness runs, found on PATH.
var tools = []string{"unshare", "nsenter", "systemctl", "mount", "sh"}

// Available reports why a manager cannot be started here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (namespaces, mounts, cgroups), running as uid %d", os.Geteuid())
	}
	if _, err := os.Stat(SystemdBinary); err != nil {
		return fmt.Errorf("systemd is not installed: %w", err)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing: %w", tool, err)
		}
	}
	if _, err := cgroupParent(); err != nil {
		return err
	}
	return nil
}

// cgroupParent is the directory of this process's cgroup in a cgroup2
// hierarchy mounted on this machine: a pure cgroup2 /sys/fs/cgroup, or the
// "unified" one of a hybrid layout.
func cgroupParent() (string, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var path string
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", errors.New("/proc/self/cgroup has no cgroup2 line (0::): no cgroup2 hierarchy")
	}
	root, mountpoint, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("this process's cgroup %s is outside the cgroup2 mount at %s (root %s)", path, mountpoint, root)
	}
	dir := filepath.Join(mountpoint, rel)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return "", fmt.Errorf("cgroup2 directory of this process: %w", err)
	}
	return dir, nil
}

// cgroup2Mount finds the first cgroup2 mount in /proc/self/mountinfo: the
// cgroup it shows as its root, and where it is mounted.
func cgroup2Mount() (root, mountpoint string, err error) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(info), "\n") {
		// ID parent major:minor root mountpoint options... - fstype source super
		pre, post, ok := strings.Cut(line, " - ")
		fields, typ := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(typ) < 1 || typ[0] != "cgroup2" {
			continue
		}
		return unescapeMountinfo(fields[3]), unescapeMountinfo(fields[4]), nil
	}
	return "", "", errors.New("no cgroup2 hierarchy is mounted (/proc/self/mountinfo)")
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
