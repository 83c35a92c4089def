package lifecycle_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/iai-mcp/lifecycle"
)

func init() {
	childRoles["wake-write"] = childWakeWrite
	childRoles["wake-consume"] = childWakeConsume
}

// awaitGo prints "ready" and waits for the parent's "go" line, so that the
// children of a test start their work together.
func awaitGo(in *bufio.Reader) error {
	fmt.Println("ready")
	_, err := in.ReadString('\n')
	return err
}

// childWakeWrite writes args[0] wake signals. With args[1] "patient" it
// waits, before each next write, until the previous signal is gone.
func childWakeWrite(dir string, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("wake-write: want N and eager|patient, got %q", args)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	if err := awaitGo(bufio.NewReader(os.Stdin)); err != nil {
		return err
	}
	// A lost signal would leave a patient writer waiting: this ends it.
	deadline := time.Now().Add(time.Minute)
	for range n {
		if err := lifecycle.WriteWakeSignal(dir); err != nil {
			return err
		}
		for args[1] == "patient" {
			_, err := os.Lstat(filepath.Join(dir, lifecycle.WakeSignalFile))
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return errors.New("wake-write: signal never consumed")
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	fmt.Println("done")
	return nil
}

// childWakeConsume consumes wake signals until its stdin closes, then prints
// how many it won.
func childWakeConsume(dir string, _ []string) error {
	in := bufio.NewReader(os.Stdin)
	if err := awaitGo(in); err != nil {
		return err
	}
	stop := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, in)
		stop <- err
	}()
	wins := 0
	for {
		select {
		case err := <-stop:
			fmt.Println(wins)
			return err
		default:
		}
		won, err := lifecycle.ConsumeWakeSignal(dir)
		if err != nil {
			return err
		}
		if won {
			wins++
		} else {
			time.Sleep(100 * time.Microsecond) // leave the CPU to the writers
		}
	}
}
