//go:build linux

package lifecycle

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// rotationFd finds the descriptor this process has open on path (removed
// or not), other than skip: the rotation's.
func rotationFd(t *testing.T, path string, skip ...int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
next:
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		for _, s := range skip {
			if fd == s {
				continue next
			}
		}
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && (link == path || link == path+" (deleted)") {
			return fd
		}
	}
	t.Fatalf("no descriptor open on %s", path)
	return -1
}

// openWaiting starts an open of name for appending, which waits for the
// lease the rotation holds on fd, and returns once it waits. The opened
// file arrives on the channel.
func openWaiting(t *testing.T, name string, fd int) <-chan *os.File {
	t.Helper()
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
		}
		opened <- w
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		typ, err := unix.FcntlInt(uintptr(fd), unix.F_GETLEASE, 0)
		require.NoError(t, err)
		if typ != unix.F_WRLCK {
			return opened // the lease is being broken: the open waits
		}
		require.True(t, time.Now().Before(deadline), "the open never waited for the lease")
	}
}

// TestRotationLeavesAFileOpenElsewhere: a plain file another descriptor
// holds open (a writer's, or a reader's) is left as it is, and rotated once
// it is closed, with what the writer added.
func TestRotationLeavesAFileOpenElsewhere(t *testing.T) {
	now := day1.AddDate(0, 2, 0)
	a, b := record(day1, "a", ""), record(day1.Add(time.Minute), "b", "")
	for _, tc := range []struct {
		name string
		flag int
	}{
		{"writer", os.O_WRONLY | os.O_APPEND},
		{"reader", os.O_RDONLY},
	} {
		flag := tc.flag
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			writeFile(t, plain, lines(a))
			h, err := os.OpenFile(plain, flag, 0)
			require.NoError(t, err)
			before := dirState(t, dir)

			r, err := RotateLogsReport(dir, 24*time.Hour, now)
			require.NoError(t, err)
			require.Equal(t, RotateReport{Left: []LeftLog{{Path: plain, Reason: leftInUse}}}, r)
			require.Equal(t, before, dirState(t, dir))

			want := lines(a)
			if flag != os.O_RDONLY {
				_, err = h.Write(lines(b))
				require.NoError(t, err)
				want = lines(a, b)
			}
			require.NoError(t, h.Close())
			r, err = RotateLogsReport(dir, 24*time.Hour, now)
			require.NoError(t, err)
			require.Equal(t, RotateReport{Rotated: []string{plain}}, r)
			require.Equal(t, string(want), string(gunzipFile(t, plain+".gz")))
		})
	}
}

// TestRotationLeavesAFileOpenedWhileCompressed: an open of the plain file
// that comes while the rotation holds its lease waits; the rotation then
// leaves the file for the writer, and the .gz is read with it.
func TestRotationLeavesAFileOpenedWhileCompressed(t *testing.T) {
	now := day1.AddDate(0, 2, 0)
	a, b := record(day1, "a", ""), record(day1.Add(time.Minute), "b", "")
	dir := t.TempDir()
	plain := filepath.Join(dir, LogFileName(day1))
	writeFile(t, plain, lines(a))
	var opened <-chan *os.File
	setFS(t, hookFS{afterRename: func(_, newpath string) {
		if newpath == plain+gzSuffix {
			opened = openWaiting(t, plain, rotationFd(t, plain))
		}
	}})

	r, err := RotateLogsReport(dir, 24*time.Hour, now)
	require.NoError(t, err)
	require.Equal(t, RotateReport{Left: []LeftLog{{Path: plain, Reason: leftInUse}}}, r)
	w := <-opened
	require.NotNil(t, w)
	_, err = w.Write(lines(b))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, []string{string(a), string(b)}, raws(readAll(t, dir, LogQuery{}).entries))
}

// TestRotationWaitsForAWriterOfTheRemovedFile: an open that found the plain
// file before its removal waits for the lease; the rotation lets it go on,
// waits until the writer closes the removed file, and copies what it wrote
// to a plain file of the same name. A writer that keeps it open longer than
// the rotation waits is reported, naming the file.
func TestRotationWaitsForAWriterOfTheRemovedFile(t *testing.T) {
	now := day1.AddDate(0, 2, 0)
	a, b, c := record(day1, "a", ""), record(day1.Add(time.Minute), "b", ""), record(day1.Add(2*time.Minute), "c", "")
	for _, tc := range []struct {
		name    string
		hold    time.Duration // how long the writer keeps the removed file open
		wantErr bool
	}{
		{"writer closes soon", 30 * time.Millisecond, false},
		{"writer keeps it open", time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := salvageWait
			salvageWait = 300 * time.Millisecond
			t.Cleanup(func() { salvageWait = old })
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			writeFile(t, plain, lines(a))
			done := make(chan struct{})
			setFS(t, hookFS{afterRemove: func(name string) {
				if name != plain {
					return
				}
				fd := rotationFd(t, plain)
				opened := openWaiting(t, "/proc/self/fd/"+strconv.Itoa(fd), fd)
				go func() {
					defer close(done)
					w := <-opened
					if w == nil {
						return
					}
					if _, err := w.Write(lines(b)); err != nil {
						t.Error(err)
					}
					time.Sleep(tc.hold)
					if _, err := w.Write(lines(c)); err != nil {
						t.Error(err)
					}
					if err := w.Close(); err != nil {
						t.Error(err)
					}
				}()
			}})

			got, err := RotateLogs(dir, 24*time.Hour, now)
			require.Equal(t, []string{plain}, got)
			<-done
			r := readAll(t, dir, LogQuery{})
			if tc.wantErr {
				require.ErrorContains(t, err, plain)
				require.ErrorContains(t, err, "still holds the file open")
				require.Equal(t, []string{string(a), string(b)}, raws(r.entries), "c went to the removed file")
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{string(a), string(b), string(c)}, raws(r.entries))
		})
	}
}
