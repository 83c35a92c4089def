//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fileSystem is the seam every change the library makes to disk goes
// through: the opens that may create or write, writes, fsyncs, renames,
// hard links, mkdirs, removals and unlinks. Reads go straight to the os
// package. The crash simulator in the tests puts a recorder here, which
// models what a power loss may keep of each operation; in production it
// is osFS.
type fileSystem interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Write(f *os.File, p []byte) (int, error)
	WriteAt(f *os.File, p []byte, off int64) (int, error)
	Truncate(f *os.File, size int64) error
	Sync(f *os.File) error
	SyncDir(dir string) error
	Rename(oldpath, newpath string) error
	Link(oldname, newname string) error
	Mkdir(name string, perm fs.FileMode) error
	Remove(name string) error
	Unlink(name string) error
}

// fsys is the file system in use. Tests replace it; nothing else does.
var fsys fileSystem = osFS{}

// osFS is the real file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osFS) Write(f *os.File, p []byte) (int, error)              { return f.Write(p) }
func (osFS) WriteAt(f *os.File, p []byte, off int64) (int, error) { return f.WriteAt(p, off) }
func (osFS) Truncate(f *os.File, size int64) error                { return f.Truncate(size) }
func (osFS) Sync(f *os.File) error                                { return f.Sync() }
func (osFS) Rename(oldpath, newpath string) error                 { return os.Rename(oldpath, newpath) }
func (osFS) Mkdir(name string, perm fs.FileMode) error            { return os.Mkdir(name, perm) }
func (osFS) Remove(name string) error                             { return os.Remove(name) }

// Unlink removes the file name, never a directory (os.Remove would remove an
// empty one), retrying when a signal interrupts it.
func (osFS) Unlink(name string) error {
	err := unix.Unlink(name)
	for errors.Is(err, unix.EINTR) {
		err = unix.Unlink(name)
	}
	return err
}

// Link gives the file oldname the second name newname, which must not
// exist, retrying when a signal interrupts it. A symbolic link is linked
// itself, not its target: linkat(2) without AT_SYMLINK_FOLLOW does so on
// every system, where link(2), which os.Link calls on some, may follow it.
func (osFS) Link(oldname, newname string) error {
	err := unix.Linkat(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname, 0)
	for errors.Is(err, unix.EINTR) {
		err = unix.Linkat(unix.AT_FDCWD, oldname, unix.AT_FDCWD, newname, 0)
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// SyncDir makes the entries of dir durable: fsync(2) of a file does not
// promise its directory entry, "for that an explicit fsync() on a file
// descriptor for the directory is also needed".
func (osFS) SyncDir(dir string) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_CLOEXEC|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// fileWriter writes to f through fsys, for io.Copy and gzip.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return fsys.Write(w.f, p) }
