//go:build linux

package lifecycle

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// claimLog takes a write lease on f (fcntl F_SETLEASE), which the kernel
// grants only while no other open file description of f exists, in this
// process or any other. While it is held, an open(2) of f by anyone waits
// until it is released (up to /proc/sys/fs/lease-break-time, 45 s by
// default) and marks it broken. A lease can be taken by f's owner or with
// CAP_LEASE, on file systems that support leases; elsewhere the result is
// claimUnknown. (The kernel signals a waiting open to the holder with
// SIGIO, which the Go runtime ignores unless the program asks for it.)
func claimLog(f *os.File) (claim, error) {
	if !useLeases {
		return claimUnknown, nil
	}
	err := leaseCtl(f, unix.F_SETLEASE, unix.F_WRLCK)
	switch {
	case err == nil:
		return claimHeld, nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
		return claimBusy, nil
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL),
		errors.Is(err, unix.ENOLCK), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return claimUnknown, nil
	}
	return 0, err
}

// claimBroken reports whether an open of f waits for the lease: another
// process is about to hold f open.
func claimBroken(f *os.File) (bool, error) {
	var typ int
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		typ, ferr = unix.FcntlInt(fd, unix.F_GETLEASE, 0)
	}); err != nil {
		return false, err
	}
	if ferr != nil {
		return false, ferr
	}
	// While a break is pending, F_GETLEASE reports the type the lease is
	// being broken to.
	return typ != unix.F_WRLCK, nil
}

// releaseClaim gives the lease up: waiting opens go on.
func releaseClaim(f *os.File) error {
	return leaseCtl(f, unix.F_SETLEASE, unix.F_UNLCK)
}

func leaseCtl(f *os.File, cmd, arg int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if _, ferr = unix.FcntlInt(fd, cmd, arg); ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
