package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// within fails the test if fn has not returned after limit: a guard
// against a hang, not a measure of speed.
func within(t *testing.T, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still blocked after %v", what, limit)
	}
}

// TestWaiterHoldsUpNobody: a DispatchContext waiting for a lock another
// process holds does not hold the Machine up: Dispatch and Update fail at
// once with ErrLocked, Snapshot reads, and Close returns, after which the
// waiters fail with an error wrapping fs.ErrClosed.
func TestWaiterHoldsUpNobody(t *testing.T) {
	dir := t.TempDir()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	c := startChild(t, dir, "hold")
	c.expect(t, "held")

	waiters := make(chan error, 2)
	go func() {
		_, err := m.DispatchContext(context.Background(), lifecycle.Idle5Min, lifecycle.Guards{})
		waiters <- err
	}()
	go func() {
		_, err := m.UpdateContext(context.Background(), func(*lifecycle.Record) error { return nil })
		waiters <- err
	}()
	time.Sleep(50 * time.Millisecond) // let them start waiting; the checks below hold either way

	within(t, 5*time.Second, "Dispatch", func() {
		_, err := m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
		require.ErrorIs(t, err, lifecycle.ErrLocked)
	})
	within(t, 5*time.Second, "Update", func() {
		_, err := m.Update(func(*lifecycle.Record) error { return nil })
		require.ErrorIs(t, err, lifecycle.ErrLocked)
	})
	within(t, 5*time.Second, "Close", func() { require.NoError(t, m.Close()) })
	for range 2 {
		select {
		case err := <-waiters:
			require.ErrorIs(t, err, fs.ErrClosed)
			require.NotErrorIs(t, err, lifecycle.ErrLocked)
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter still waits after Close")
		}
	}
}

// TestDoneContextTouchesNothing: a context that is already done fails every
// call at once, with its cause, before anything is created or read, and
// never says another process holds the lock.
func TestDoneContextTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, lifecycle.DefaultLockFile)))
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("shutting down")
	cancel(cause)
	for i := range 1000 {
		var err error
		if i%2 == 0 {
			_, err = m.DispatchContext(ctx, lifecycle.Idle5Min, lifecycle.Guards{})
		} else {
			_, err = m.UpdateContext(ctx, func(*lifecycle.Record) error { return nil })
		}
		require.ErrorIs(t, err, context.Canceled, "call %d", i)
		require.ErrorIs(t, err, cause, "call %d", i)
		require.NotErrorIs(t, err, lifecycle.ErrLocked, "call %d", i)
		require.NotContains(t, err.Error(), "another process", "call %d", i)
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"logs"}, names, "nothing written, not even the lock file again")
}

// TestBusyLockSaysWhoAndHowLong: a wait that ends on a busy lock says how
// long it waited and, on Linux, which process holds the lock.
func TestBusyLockSaysWhoAndHowLong(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	c := startChild(t, dir, "hold")
	c.expect(t, "held")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := m.DispatchContext(ctx, lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Regexp(t, `waited [0-9.]+m?s`, err.Error())
	_, err = m.Dispatch(lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	if runtime.GOOS == "linux" {
		require.Contains(t, err.Error(), fmt.Sprintf("pid %s", strconv.Itoa(c.cmd.Process.Pid)))
	}
}

// TestQueuedWaiterSaysLocked: a DispatchContext queued behind another
// waiting call, whose context ends first, fails like any wait on a busy
// lock: wrapping ErrLocked and its context's error.
func TestQueuedWaiterSaysLocked(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	c := startChild(t, dir, "hold")
	c.expect(t, "held")
	first, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	go func() { _, _ = m.DispatchContext(first, lifecycle.Idle5Min, lifecycle.Guards{}) }()
	time.Sleep(20 * time.Millisecond) // let it queue first; the check below holds either way
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := m.DispatchContext(ctx, lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestWaitersGetTheLockInTurn: calls that wait for a lock another process
// holds get it one at a time, in the order they came.
func TestWaitersGetTheLockInTurn(t *testing.T) {
	dir := t.TempDir()
	m := newMachine(t, dir)
	c := startChild(t, dir, "hold")
	c.expect(t, "held")

	const n = 5
	var order []int // appended under the locks, so no race
	done := make(chan error, n)
	for i := range n {
		go func() {
			_, err := m.UpdateContext(context.Background(), func(*lifecycle.Record) error {
				order = append(order, i)
				return nil
			})
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // each is queued before the next comes
	}
	c.wait(t) // the child releases the lock
	for range n {
		require.NoError(t, <-done)
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, order)
}

// TestWaitBehindThisMachinesCallSaysLocked: a DispatchContext whose context
// ends while another call of the same Machine holds the lock fails like any
// wait on a busy lock, wrapping ErrLocked: a caller that tells a busy lock
// from a failure (as a daemon's loop does) must not take it for a failure.
func TestWaitBehindThisMachinesCallSaysLocked(t *testing.T) {
	m := newMachine(t, t.TempDir())
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // even when an assertion fails: Close waits for the Update
	done := make(chan error, 1)
	go func() {
		_, err := m.Update(func(*lifecycle.Record) error {
			close(held)
			<-release
			return nil
		})
		done <- err
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := m.DispatchContext(ctx, lifecycle.Idle5Min, lifecycle.Guards{})
	require.ErrorIs(t, err, lifecycle.ErrLocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	free()
	require.NoError(t, <-done)
}
