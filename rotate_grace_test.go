package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookFS is the real file system with hooks after a rename or a removal.
// Tests that install it must not run in parallel.
type hookFS struct {
	osFS
	afterRename func(oldpath, newpath string)
	afterRemove func(name string)
}

func (h hookFS) Rename(oldpath, newpath string) error {
	err := h.osFS.Rename(oldpath, newpath)
	if err == nil && h.afterRename != nil {
		h.afterRename(oldpath, newpath)
	}
	return err
}

func (h hookFS) Remove(name string) error {
	err := h.osFS.Remove(name)
	if err == nil && h.afterRemove != nil {
		h.afterRemove(name)
	}
	return err
}

func setFS(t *testing.T, f fileSystem) {
	t.Helper()
	old := fsys
	fsys = f
	t.Cleanup(func() { fsys = old })
}

// withoutLeases makes rotations decide by the grace period, as where no
// lease can be taken.
func withoutLeases(t *testing.T) {
	t.Helper()
	useLeases = false
	t.Cleanup(func() { useLeases = true })
}

// TestRotationGracePeriod: where no lease can tell whether a plain file is
// open elsewhere, a file written to in the last hour (by the system clock,
// whatever the clock that chose the day; a time ahead of it counts as
// recent) is left as it is.
func TestRotationGracePeriod(t *testing.T) {
	withoutLeases(t)
	now := day1.AddDate(0, 2, 0) // the caller's clock: it chooses the days only
	for _, tc := range []struct {
		name    string
		mtime   time.Duration // from the system clock's now
		rotated bool
	}{
		{"just written", 0, false},
		{"59 minutes ago", -59 * time.Minute, false},
		{"61 minutes ago", -61 * time.Minute, true},
		{"a year ago", -365 * 24 * time.Hour, true},
		{"an hour ahead of the system clock", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			data := lines(record(day1, "a", ""))
			writeFile(t, plain, data)
			mt := time.Now().Add(tc.mtime)
			require.NoError(t, os.Chtimes(plain, mt, mt))

			r, err := RotateLogsReport(dir, 24*time.Hour, now)
			require.NoError(t, err)
			if tc.rotated {
				require.Equal(t, RotateReport{Rotated: []string{plain}}, r)
				require.NoFileExists(t, plain)
				require.Equal(t, data, gunzipFile(t, plain+".gz"))
				return
			}
			require.Equal(t, RotateReport{Left: []LeftLog{{Path: plain, Reason: leftRecent}}}, r)
			got, err := os.ReadFile(plain)
			require.NoError(t, err)
			require.Equal(t, data, got)
			require.NoFileExists(t, plain+".gz")
		})
	}
}

// backdate sets path's times an hour and a half back, past the grace period.
func backdate(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-90 * time.Minute)
	require.NoError(t, os.Chtimes(path, old, old))
}

// TestRotationKeepsWhatAWriterAddsToTheFileItRead: a writer without the
// flock (a Python writer) appends while the plain file is compressed, or
// into the removed file through a descriptor it opened before the removal.
// No line is lost and none is read twice; the next rotation gathers the
// day into one .gz.
func TestRotationKeepsWhatAWriterAddsToTheFileItRead(t *testing.T) {
	withoutLeases(t)
	now := day1.AddDate(0, 2, 0)
	a1, a2 := record(day1, "a1", ""), record(day1.Add(time.Minute), "a2", "")
	b1, b2 := record(day1.Add(2*time.Minute), "b1", ""), record(day1.Add(3*time.Minute), "b2", "")
	for _, tc := range []struct {
		name     string
		hook     func(w *os.File) hookFS // w: the writer's descriptor, opened before the rotation
		wantLeft string                  // the first rotation leaves the plain file for this reason
	}{
		{"appended while compressed", func(w *os.File) hookFS {
			return hookFS{afterRename: func(_, newpath string) {
				if filepath.Ext(newpath) == gzSuffix {
					_, err := w.Write(lines(b1, b2))
					require.NoError(t, err)
				}
			}}
		}, leftChanged},
		{"written into the removed file", func(w *os.File) hookFS {
			return hookFS{afterRemove: func(name string) {
				if filepath.Ext(name) == logSuffix {
					_, err := w.Write(lines(b1))
					require.NoError(t, err)
					_, err = w.Write(lines(b2))
					require.NoError(t, err)
				}
			}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			writeFile(t, plain, lines(a1, a2))
			backdate(t, plain)
			w, err := os.OpenFile(plain, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			defer w.Close()
			setFS(t, tc.hook(w))

			r, err := RotateLogsReport(dir, 24*time.Hour, now)
			require.NoError(t, err)
			if tc.wantLeft != "" {
				require.Equal(t, RotateReport{Left: []LeftLog{{Path: plain, Reason: tc.wantLeft}}}, r)
			} else {
				require.Equal(t, RotateReport{Rotated: []string{plain}}, r)
			}
			require.FileExists(t, plain, "a plain file holds what the .gz does not")
			want := []string{string(a1), string(a2), string(b1), string(b2)}
			require.Equal(t, want, raws(readAll(t, dir, LogQuery{}).entries))

			require.NoError(t, w.Close())
			setFS(t, osFS{})
			backdate(t, plain)
			got, err := RotateLogs(dir, 24*time.Hour, now)
			require.NoError(t, err)
			require.Equal(t, []string{plain}, got)
			require.NoFileExists(t, plain)
			require.Equal(t, string(lines(a1, a2, b1, b2)), string(gunzipFile(t, plain+".gz")))
			require.Equal(t, want, raws(readAll(t, dir, LogQuery{}).entries))
		})
	}
}
