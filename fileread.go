//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readRegular refuses anything but a regular file of at most max bytes, so
// that a directory, a FIFO or a huge file never blocks or fills memory.
func readRegular(f *os.File, max int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular(fi.Mode().Type())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("file is %d bytes, more than the %d allowed", fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("file grew past the %d bytes allowed", max)
	}
	return data, nil
}

// sysError is a system call that failed while a file was read: the system's
// trouble (permissions, descriptors, the disk), not the file's content.
// op names the call.
type sysError struct {
	op  string
	err error
}

func (e *sysError) Error() string { return e.op + ": " + e.err.Error() }
func (e *sysError) Unwrap() error { return e.err }

// errNotRegular says, in a person's words, what a path that should be a
// regular file is instead: "is a directory, not a file" rather than a mode
// string such as d---------.
func errNotRegular(t fs.FileMode) error {
	switch {
	case t&fs.ModeDir != 0:
		return errors.New("is a directory, not a file")
	case t&fs.ModeNamedPipe != 0:
		return errors.New("is a named pipe (FIFO), not a regular file")
	case t&fs.ModeSocket != 0:
		return errors.New("is a socket, not a regular file")
	case t&fs.ModeDevice != 0:
		return errors.New("is a device, not a regular file")
	case t&fs.ModeSymlink != 0:
		return errors.New("is a symbolic link, not a regular file")
	}
	return fmt.Errorf("not a regular file (%v)", t)
}
