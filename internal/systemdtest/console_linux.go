package systemdtest

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// console is a pseudo-terminal: the manager's /dev/console is its
// terminal side, and the test reads the manager's log from its master.
type console struct {
	master   *os.File
	terminal *os.File // held open, so reading the master never sees a hang-up
	path     string   // of the terminal side, on the host
	log      Lines
	done     chan struct{} // closed when the reader has returned
}

// openConsole opens a new pseudo-terminal and starts reading it into log.
// A manager writes to its console synchronously: the master is read all
// the time, or the manager would stop once the terminal's buffer is full.
func openConsole() (*console, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	fail := func(op string, err error) (*console, error) {
		return nil, errors.Join(&os.PathError{Op: op, Path: "/dev/ptmx", Err: err}, unix.Close(fd))
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlockpt", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("ptsname", err)
	}
	// Non-blocking, so that os.File polls it and Close ends a Read.
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail("set non-blocking", err)
	}
	c := &console{master: os.NewFile(uintptr(fd), "/dev/ptmx"), path: fmt.Sprintf("/dev/pts/%d", n), done: make(chan struct{})}
	c.terminal, err = os.OpenFile(c.path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, errors.Join(err, c.master.Close())
	}
	go c.read()
	return c, nil
}

func (c *console) read() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.master.Read(buf)
		c.log.add(buf[:n])
		if err != nil {
			return
		}
	}
}

// close closes both sides and waits for the reader.
func (c *console) close() error {
	err := errors.Join(c.terminal.Close(), c.master.Close())
	<-c.done
	return err
}
