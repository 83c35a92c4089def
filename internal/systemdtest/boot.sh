# Boots systemd as PID 1 of the namespaces unshare made for it. Run as
#   sh boot.sh enter CGROUP STAGING CONSOLE SYSTEMD [ARG...]
# by "unshare --pid --fork --mount --net --uts --ipc --mount-proc"; it
# re-runs itself as "setup" in a cgroup namespace of its own.
set -eu
stage=$1
shift
case $stage in
enter)
	# Into the test's child cgroup first (0 is this process), then a cgroup
	# namespace rooted there: the manager sees that cgroup as its root,
	# and can move no process outside it.
	echo 0 >"$1/cgroup.procs"
	shift
	exec unshare --cgroup sh "$0" setup "$@"
	;;
setup)
	staging=$1 console=$2 systemd=$3
	shift 3
	# /dev: a tmpfs with the few nodes a manager and its services use, and
	# the test's pseudo-terminal as the console. Built aside, then moved
	# over /dev, while the host's nodes are still there to copy and bind.
	mkdir -p "$staging/dev"
	mount -t tmpfs -o mode=0755,nosuid tmpfs "$staging/dev"
	cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$staging/dev/"
	touch "$staging/dev/console"
	mount --bind "$console" "$staging/dev/console"
	mkdir "$staging/dev/pts" "$staging/dev/shm"
	mount --move "$staging/dev" /dev
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
	ln -s pts/ptmx /dev/ptmx
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
	# A read-only sysfs of this network namespace, and on it the cgroup2
	# hierarchy of this cgroup namespace: the child cgroup, writable.
	mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
	mount --bind /proc/sys /proc/sys
	mount -o remount,bind,ro /proc/sys
	exec "$systemd" "$@"
	;;
esac
echo "boot.sh: unknown stage $stage" >&2
exit 2
