package lifecycle

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const fixtureLog = "testdata/fixtures/python-written/logs/lifecycle-events-2026-11-25.jsonl"

// record returns a log line at ts of kind event; extra is appended inside
// the object.
func record(ts time.Time, event, extra string) []byte {
	return []byte(`{"ts":"` + FormatTimestamp(ts) + `","event":"` + event + `"` + extra + `}`)
}

func lines(recs ...[]byte) []byte {
	var b []byte
	for _, r := range recs {
		b = append(append(b, r...), '\n')
	}
	return b
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

type readResult struct {
	entries   []LogEntry
	malformed []MalformedLine
	stats     LogStats
}

func readAll(t *testing.T, dir string, q LogQuery) readResult {
	t.Helper()
	var r readResult
	q.OnMalformed = func(m MalformedLine) { r.malformed = append(r.malformed, m) }
	st, err := ReadLog(dir, q, func(e LogEntry) error {
		r.entries = append(r.entries, e)
		return nil
	})
	require.NoError(t, err)
	r.stats = st
	return r
}

func raws(es []LogEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Raw))
	}
	return out
}

// dirState maps each file name in dir to its contents.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	m := map[string]string{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			m[e.Name()] = e.Type().String()
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		m[e.Name()] = string(data)
	}
	return m
}

var day1 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestAppendCreatesPrivateFiles(t *testing.T) {
	// umask is process-wide; this test is not parallel, so nothing else runs.
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	root := filepath.Join(t.TempDir(), "state")
	dir := filepath.Join(root, "logs")
	l := eventLog{dir: dir}
	require.NoError(t, l.append(day1, record(day1, "tick", "")))

	for _, d := range []string{root, dir} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		require.True(t, fi.IsDir())
		require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), d)
	}
	fi, err := os.Stat(filepath.Join(dir, LogFileName(day1)))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
}

func TestAppendByteLayout(t *testing.T) {
	dir := t.TempDir()
	// 23:30 at UTC-5 is 04:30 the next day in UTC: the file is named for that.
	now := time.Date(2026, 11, 25, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	a := record(now, "state_transition", `,"from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1`)
	b := record(now, "shadow_run_warning", `,"note":"x"`)
	c := record(now, "wrapper_event", "")

	l := eventLog{dir: dir}
	require.NoError(t, l.append(now, a, b))
	require.NoError(t, l.append(now, c))
	require.NoError(t, l.append(now)) // nothing to write

	require.Equal(t, "lifecycle-events-2026-11-26.jsonl", LogFileName(now))
	got, err := os.ReadFile(filepath.Join(dir, "lifecycle-events-2026-11-26.jsonl"))
	require.NoError(t, err)
	require.Equal(t, string(a)+"\n"+string(b)+"\n"+string(c)+"\n", string(got))
	require.Len(t, dirState(t, dir), 1)
}

func TestAppendEndsTornLine(t *testing.T) {
	good := string(record(day1, "wrapper_event", ""))
	torn := `{"ts":"2026-11-25T08:00:00+00:00","ev`
	rec := record(day1.Add(time.Hour), "state_transition", "")
	for _, tc := range []struct {
		name, before, want string
	}{
		{"no file", "", string(rec) + "\n"},
		{"complete lines", good + "\n", good + "\n" + string(rec) + "\n"},
		{"torn last line", good + "\n" + torn, good + "\n" + torn + "\n" + string(rec) + "\n"},
		{"only a torn line", torn, torn + "\n" + string(rec) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, LogFileName(day1))
			if tc.before != "" {
				writeFile(t, path, []byte(tc.before))
			}
			l := eventLog{dir: dir}
			require.NoError(t, l.append(day1, rec))
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))

			r := readAll(t, dir, LogQuery{})
			require.Equal(t, string(rec), string(r.entries[len(r.entries)-1].Raw))
			require.Zero(t, r.stats.Torn)
		})
	}
}

func TestAppendRejects(t *testing.T) {
	rec := record(day1, "tick", "")
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir string) (logDir string)
		lines   [][]byte
		wantErr string
	}{
		{
			name:    "record with a newline",
			lines:   [][]byte{rec, []byte("{\"a\":1}\n{\"b\":2}")},
			wantErr: "newline",
		},
		{
			name:    "empty record",
			lines:   [][]byte{{}},
			wantErr: "empty",
		},
		{
			name: "log dir is a file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "logs")
				writeFile(t, p, []byte("x"))
				return p
			},
			lines:   [][]byte{rec},
			wantErr: "logs: not a directory",
		},
		{
			name: "log file is a symlink",
			setup: func(t *testing.T, dir string) string {
				target := filepath.Join(dir, "target")
				writeFile(t, target, []byte("keep\n"))
				require.NoError(t, os.Symlink(target, filepath.Join(dir, LogFileName(day1))))
				return dir
			},
			lines:   [][]byte{rec},
			wantErr: "symbolic link",
		},
		{
			name: "log file is a directory",
			setup: func(t *testing.T, dir string) string {
				require.NoError(t, os.Mkdir(filepath.Join(dir, LogFileName(day1)), 0o700))
				return dir
			},
			lines:   [][]byte{rec},
			wantErr: "is a directory",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logDir := dir
			if tc.setup != nil {
				logDir = tc.setup(t, dir)
			}
			before := dirState(t, dir)
			l := eventLog{dir: logDir}
			err := l.append(day1, tc.lines...)
			require.ErrorContains(t, err, tc.wantErr)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.True(t, strings.HasPrefix(pe.Path, logDir), pe.Path)
			require.Equal(t, before, dirState(t, dir), "nothing written")
		})
	}
}

func TestAppendConcurrent(t *testing.T) {
	const writers, each = 8, 200
	dir := t.TempDir()
	pad := strings.Repeat("x", 500)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &eventLog{dir: dir} // as if each were its own process
			for i := range each {
				if err := l.append(day1, record(day1, "wrapper_event", fmt.Sprintf(`,"g":%d,"i":%d,"pad":%q`, g, i, pad))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	r := readAll(t, dir, LogQuery{})
	require.Zero(t, r.stats.Malformed)
	require.Len(t, r.entries, writers*each)
	seen := map[string]bool{}
	for _, e := range r.entries {
		var v struct{ G, I int }
		require.NoError(t, json.Unmarshal(e.Raw, &v))
		key := fmt.Sprint(v.G, v.I)
		require.False(t, seen[key], "duplicate %s", key)
		seen[key] = true
	}
}

// TestAppendAfterRemoval has an append wait for the lock of a file that is
// removed meanwhile, as a rotation does: the record must land in a new file,
// not in the removed one.
func TestAppendAfterRemoval(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogFileName(day1))
	writeFile(t, path, lines(record(day1, "old", "")))
	f, err := os.Open(path)
	require.NoError(t, err)
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))

	rec := record(day1, "new", "")
	done := make(chan error, 1)
	go func() { done <- (&eventLog{dir: dir}).append(day1, rec) }()
	time.Sleep(100 * time.Millisecond) // let the append open the file and block
	require.NoError(t, os.Remove(path))
	require.NoError(t, f.Close())
	require.NoError(t, <-done)

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(rec)+"\n", string(got))
}

func copyFixture(t *testing.T) (dir string, data []byte) {
	t.Helper()
	data, err := os.ReadFile(fixtureLog)
	require.NoError(t, err)
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, filepath.Base(fixtureLog)), data)
	return dir, data
}

func TestReadLogPythonFixture(t *testing.T) {
	dir, data := copyFixture(t)
	path := filepath.Join(dir, filepath.Base(fixtureLog))
	tornAt := int64(bytes.LastIndexByte(data, '\n') + 1)

	for _, tc := range []struct {
		kind string
		want int
	}{
		{"", 6},
		{"state_transition", 3},
		{"wrapper_event", 1}, // the second one is the torn line
		{"shadow_run_warning", 1},
		{"no_such_kind", 0},
	} {
		t.Run("kind="+tc.kind, func(t *testing.T) {
			r := readAll(t, dir, LogQuery{Kind: tc.kind})
			require.Len(t, r.entries, tc.want)
			require.Equal(t, LogStats{Files: 1, Entries: tc.want, Malformed: 1, Torn: 1}, r.stats)
			require.Len(t, r.malformed, 1)
			m := r.malformed[0]
			require.Equal(t, path, m.File)
			require.Equal(t, tornAt, m.Offset)
			require.True(t, m.Torn)
			require.Error(t, m.Err)
			for _, e := range r.entries {
				if tc.kind != "" {
					require.Equal(t, tc.kind, e.Event)
				}
				require.Equal(t, path, e.File)
				// Raw is the line at Offset, and was copied out of the reader.
				require.Equal(t, string(data[e.Offset:e.Offset+int64(len(e.Raw))]), string(e.Raw))
				require.Equal(t, byte('\n'), data[e.Offset+int64(len(e.Raw))])
			}
		})
	}

	r := readAll(t, dir, LogQuery{})
	first := r.entries[0]
	require.Equal(t, int64(0), first.Offset)
	require.Equal(t, "state_transition", first.Event)
	require.Equal(t, time.Date(2026, 11, 25, 8, 5, 0, 123000, time.UTC), first.Time)
}

func TestReadLogGzip(t *testing.T) {
	dir := t.TempDir()
	a := record(day1.Add(time.Hour), "a", "")
	b := record(day1.Add(2*time.Hour), "b", `,"n":1`)
	path := filepath.Join(dir, LogFileName(day1)+".gz")
	writeFile(t, path, gzipBytes(t, lines(a, b)))

	r := readAll(t, dir, LogQuery{})
	require.Equal(t, LogStats{Files: 1, Entries: 2}, r.stats)
	require.Equal(t, []string{string(a), string(b)}, raws(r.entries))
	require.Equal(t, int64(0), r.entries[0].Offset)
	require.Equal(t, int64(len(a)+1), r.entries[1].Offset)
	require.Equal(t, path, r.entries[1].File)
	require.Equal(t, day1.Add(2*time.Hour), r.entries[1].Time)
}

// TestReadLogPlainAndGzSameDay: a day may have both files. A rotation
// stopped after its rename leaves a .gz that is a prefix of the plain file
// (the original); a plain file made again after a rotation (a clock set
// ahead, then right) holds only later lines; a rotation that merged such a
// file into the .gz and stopped before removing it leaves the plain file as
// the .gz's tail. Each record is read once, whatever the case.
func TestReadLogPlainAndGzSameDay(t *testing.T) {
	day0 := day1.Add(-24 * time.Hour)
	old := record(day0, "old", "")
	a := record(day1, "a", "")
	b := record(day1.Add(time.Minute), "b", "")
	for _, tc := range []struct {
		name      string
		gz, plain []byte
		want      []string
	}{
		{"rotation stopped after its rename", lines(a), lines(a, b), []string{string(a), string(b)}},
		{"rotation stopped, gz complete", lines(a, b), lines(a, b), []string{string(a), string(b)}},
		{"plain file made again", lines(a), lines(b), []string{string(a), string(b)}},
		{"merged, stopped before the removal", lines(a, b), lines(b), []string{string(a), string(b)}},
		{"empty plain file made again", lines(a), nil, []string{string(a)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, LogFileName(day0)+".gz"), gzipBytes(t, lines(old)))
			writeFile(t, filepath.Join(dir, LogFileName(day1)+".gz"), gzipBytes(t, tc.gz))
			writeFile(t, filepath.Join(dir, LogFileName(day1)), tc.plain)
			r := readAll(t, dir, LogQuery{})
			require.Equal(t, append([]string{string(old)}, tc.want...), raws(r.entries))
			require.Zero(t, r.stats.Malformed)
		})
	}
}

func TestReadLogSinceUntil(t *testing.T) {
	dir := t.TempDir()
	days := []time.Time{day1, day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)}
	for i, d := range days {
		data := lines(record(d.Add(6*time.Hour), fmt.Sprintf("d%d-06", i), ""),
			record(d.Add(18*time.Hour), fmt.Sprintf("d%d-18", i), ""))
		name := filepath.Join(dir, LogFileName(d))
		if i == 1 {
			writeFile(t, name+".gz", gzipBytes(t, data))
		} else {
			writeFile(t, name, data)
		}
	}
	at := func(d int, h int) time.Time { return days[d].Add(time.Duration(h) * time.Hour) }
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []string
		files        int
	}{
		{"unbounded", time.Time{}, time.Time{}, []string{"d0-06", "d0-18", "d1-06", "d1-18", "d2-06", "d2-18"}, 3},
		{"since mid day", at(1, 12), time.Time{}, []string{"d1-18", "d2-06", "d2-18"}, 2},
		{"until mid day", time.Time{}, at(1, 12), []string{"d0-06", "d0-18", "d1-06"}, 2},
		{"since is inclusive", at(1, 6), at(2, 0), []string{"d1-06", "d1-18"}, 1},
		{"until is exclusive", at(0, 0), at(1, 6), []string{"d0-06", "d0-18"}, 2},
		{"across days", at(0, 12), at(2, 12), []string{"d0-18", "d1-06", "d1-18", "d2-06"}, 3},
		{"a day boundary skips the file", at(2, 0), time.Time{}, []string{"d2-06", "d2-18"}, 1},
		{"empty window", at(1, 7), at(1, 7), nil, 1},
		{"before everything", time.Time{}, at(0, 0), nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readAll(t, dir, LogQuery{Since: tc.since, Until: tc.until})
			var got []string
			for _, e := range r.entries {
				got = append(got, e.Event)
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.files, r.stats.Files)
		})
	}
}

func TestReadLogMalformedLines(t *testing.T) {
	huge := record(day1, "huge", `,"pad":"`+strings.Repeat("x", maxLogLine)+`"`)
	exact := record(day1, "exact", `,"pad":"`)
	exact = append(exact, strings.Repeat("y", maxLogLine-len(exact)-2)...)
	exact = append(exact, `"}`...)
	require.Len(t, exact, maxLogLine)

	type line struct {
		name string
		data string
		good bool
	}
	body := []line{
		{"good", string(record(day1, "first", "")), true},
		{"not JSON", "this is not json", false},
		{"array", `["ts","event"]`, false},
		{"null", `null`, false},
		{"string", `"hello"`, false},
		{"good", string(record(day1, "second", `,"k":[1,2]`)), true},
		{"empty line", "", true},
		{"missing event", `{"ts":"2026-11-25T00:00:00+00:00"}`, false},
		{"event not a string", `{"ts":"2026-11-25T00:00:00+00:00","event":7}`, false},
		{"missing ts", `{"event":"x"}`, false},
		{"bad ts", `{"ts":"yesterday","event":"x"}`, false},
		{"ts not a string", `{"ts":1764000000,"event":"x"}`, false},
		{"invalid UTF-8", `{"ts":"2026-11-25T00:00:00+00:00","event":"x` + "\xff\xfe" + `"}`, false},
		{"NUL bytes", "\x00\x00\x00\x00", false},
		{"NUL in a record", `{"ts":"2026-11-25T00:00:00+00:00","event":"x` + "\x00" + `"}`, false},
		{"truncated object", `{"ts":"2026-11-25T00:00:00+00:00","event":"x"`, false},
		{"over 1 MiB", string(huge), false},
		{"exactly 1 MiB", string(exact), true},
		{"good, Z offset", `{"ts":"2026-11-25T01:02:03Z","event":"third"}`, true},
	}
	var data []byte
	var wantBad, wantGood []int64
	wantEvents := []string{"first", "second", "exact", "third", "last"}
	for _, l := range body {
		off := int64(len(data))
		data = append(append(data, l.data...), '\n')
		switch {
		case !l.good:
			wantBad = append(wantBad, off)
		case l.data != "":
			wantGood = append(wantGood, off)
		}
	}
	// A complete record without its newline is still a record.
	wantGood = append(wantGood, int64(len(data)))
	data = append(data, record(day1, "last", "")...)

	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			dir := t.TempDir()
			if gz {
				writeFile(t, filepath.Join(dir, LogFileName(day1)+".gz"), gzipBytes(t, data))
			} else {
				writeFile(t, filepath.Join(dir, LogFileName(day1)), data)
			}
			r := readAll(t, dir, LogQuery{})
			var goodOffs, badOffs []int64
			var events []string
			for _, e := range r.entries {
				goodOffs = append(goodOffs, e.Offset)
				events = append(events, e.Event)
			}
			for _, m := range r.malformed {
				badOffs = append(badOffs, m.Offset)
				require.False(t, m.Torn)
				require.Error(t, m.Err)
			}
			require.Equal(t, wantEvents, events)
			require.Equal(t, wantGood, goodOffs)
			require.Equal(t, wantBad, badOffs)
			require.Equal(t, LogStats{Files: 1, Entries: len(wantGood), Malformed: len(wantBad)}, r.stats)
			require.ErrorContains(t, r.malformed[len(r.malformed)-1].Err, "longer than")
		})
	}
}

func TestReadLogCorruptGzip(t *testing.T) {
	dir := t.TempDir()
	d0, d1, d2 := day1, day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	writeFile(t, filepath.Join(dir, LogFileName(d0)+".gz"), []byte("not gzip at all"))
	var many [][]byte
	for i := range 2000 {
		many = append(many, record(d1, "many", fmt.Sprintf(`,"i":%d,"r":%d`, i, i*7919%1000)))
	}
	z := gzipBytes(t, lines(many...))
	writeFile(t, filepath.Join(dir, LogFileName(d1)+".gz"), z[:len(z)/2])
	good := record(d2, "good", "")
	writeFile(t, filepath.Join(dir, LogFileName(d2)), lines(good))

	r := readAll(t, dir, LogQuery{})
	require.Equal(t, 3, r.stats.Files)
	require.Equal(t, 2, r.stats.Malformed)
	require.Len(t, r.malformed, 2)
	for i, m := range r.malformed {
		require.ErrorContains(t, m.Err, "corrupt gzip")
		require.True(t, strings.HasSuffix(m.File, ".gz"), m.File)
		require.Equal(t, i == 0, m.Offset == 0)
	}
	require.Equal(t, string(good), string(r.entries[len(r.entries)-1].Raw))
	// What decompressed before the break was delivered, whole lines only.
	require.Less(t, len(r.entries)-1, len(many))
	for _, e := range r.entries[:len(r.entries)-1] {
		require.Equal(t, "many", e.Event)
	}
}

func TestReadLogCallbackError(t *testing.T) {
	dir, _ := copyFixture(t)
	stop := errors.New("stop here")
	calls := 0
	st, err := ReadLog(dir, LogQuery{}, func(LogEntry) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	require.True(t, err == stop, "got %v", err)
	require.Equal(t, 2, calls)
	require.Equal(t, LogStats{Files: 1, Entries: 2}, st)
}

func TestReadLogDirectory(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		st, err := ReadLog(filepath.Join(t.TempDir(), "nope"), LogQuery{}, func(LogEntry) error {
			return errors.New("called")
		})
		require.NoError(t, err)
		require.Zero(t, st)
	})
	t.Run("a file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "logs")
		writeFile(t, p, nil)
		_, err := ReadLog(p, LogQuery{}, func(LogEntry) error { return nil })
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, p, pe.Path)
	})
	t.Run("other files ignored", func(t *testing.T) {
		dir := t.TempDir()
		junk := []byte("junk\n")
		for _, name := range []string{
			"notes.txt",
			"lifecycle-events-2026-13-01.jsonl",
			"lifecycle-events-2026-1-01.jsonl",
			"lifecycle-events-2026-11-25.json",
			"lifecycle-events-2026-11-25.jsonl.gz.tmp",
			"lifecycle-events-2026-11-25.jsonl.bak",
			"xlifecycle-events-2026-11-25.jsonl",
		} {
			writeFile(t, filepath.Join(dir, name), junk)
		}
		require.NoError(t, os.Mkdir(filepath.Join(dir, "lifecycle-events-2026-11-24.jsonl"), 0o700))
		require.NoError(t, os.Symlink("notes.txt", filepath.Join(dir, "lifecycle-events-2026-11-23.jsonl")))
		rec := record(day1, "real", "")
		writeFile(t, filepath.Join(dir, LogFileName(day1)), lines(rec))

		r := readAll(t, dir, LogQuery{})
		require.Equal(t, LogStats{Files: 1, Entries: 1}, r.stats)
		require.Equal(t, []string{string(rec)}, raws(r.entries))
	})
}

func TestRotateLogs(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const retention = 30 * 24 * time.Hour // cutoff 2026-10-26T12:00Z
	days := map[string]bool{              // day -> rotated
		"2026-10-01": true,
		"2026-10-25": true,  // ended 2026-10-26T00:00, before the cutoff
		"2026-10-26": false, // ends after the cutoff
		"2026-11-25": false,
	}
	contents := map[string][]byte{}
	for d := range days {
		ts, err := time.Parse(time.DateOnly, d)
		require.NoError(t, err)
		data := lines(record(ts, "a", ""), record(ts.Add(time.Hour), "b", `,"d":"`+d+`"`))
		if d == "2026-10-01" {
			data = append(data, `{"ts":"2026-10-01T05:00:00+00`...) // torn: kept as it is
		}
		contents[d] = data
		writeFile(t, filepath.Join(dir, LogFileName(ts)), data)
	}
	before := readAll(t, dir, LogQuery{})

	got, err := RotateLogs(dir, retention, now)
	require.NoError(t, err)
	var want []string
	for d, rotated := range days {
		plain := filepath.Join(dir, "lifecycle-events-"+d+".jsonl")
		if !rotated {
			data, err := os.ReadFile(plain)
			require.NoError(t, err)
			require.Equal(t, contents[d], data)
			require.NoFileExists(t, plain+".gz")
			continue
		}
		want = append(want, plain)
		require.NoFileExists(t, plain)
		require.NoFileExists(t, plain+".gz.tmp")
		fi, err := os.Stat(plain + ".gz")
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
		require.Equal(t, contents[d], gunzipFile(t, plain+".gz"))
	}
	sort.Strings(want)
	require.Equal(t, want, got)

	after := readAll(t, dir, LogQuery{})
	require.Equal(t, raws(before.entries), raws(after.entries))
	require.Equal(t, before.stats, after.stats)

	// Running it again changes nothing.
	state := dirState(t, dir)
	got, err = RotateLogs(dir, retention, now)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, state, dirState(t, dir))
}

func TestRotateLogsAfterCrash(t *testing.T) {
	now := day1.AddDate(0, 2, 0)
	const retention = 24 * time.Hour
	a := lines(record(day1, "a1", ""), record(day1.Add(time.Minute), "a2", ""))
	b := lines(record(day1.Add(time.Hour), "b1", ""))
	tornA := append(bytes.Clone(a), `{"ts":"2026-11-25T00:02:00+00:00","ev`...)
	for _, tc := range []struct {
		name          string
		plain, gz     []byte // gz nil: no .gz
		tmp           []byte // a stale .gz.tmp, or nil
		want          []byte // the .gz afterwards
		wantErr       string // then the files stay as they were
		wantEntries   int
		wantMalformed int
	}{
		{name: "gz complete", plain: a, gz: a, want: a, wantEntries: 2},
		{name: "plain grew since", plain: append(bytes.Clone(a), b...), gz: a, want: append(bytes.Clone(a), b...), wantEntries: 3},
		{name: "plain made again", plain: b, gz: a, want: append(bytes.Clone(a), b...), wantEntries: 3},
		{name: "merged, stopped before the removal", plain: b, gz: append(bytes.Clone(a), b...), want: append(bytes.Clone(a), b...), wantEntries: 3},
		{name: "plain made again after a torn gz", plain: b, gz: tornA,
			want: append(append(bytes.Clone(tornA), '\n'), b...), wantEntries: 3, wantMalformed: 1},
		{name: "stale tmp", plain: a, tmp: []byte("half a gzip"), want: a, wantEntries: 2},
		{name: "stale tmp and gz complete", plain: a, gz: a, tmp: []byte("x"), want: a, wantEntries: 2},
		{name: "corrupt gz", plain: b, gz: []byte("garbage"), wantErr: "corrupt gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			writeFile(t, plain, tc.plain)
			if tc.gz != nil {
				gz := tc.gz
				if tc.wantErr == "" {
					gz = gzipBytes(t, gz)
				}
				writeFile(t, plain+".gz", gz)
			}
			if tc.tmp != nil {
				writeFile(t, plain+".gz.tmp", tc.tmp)
			}

			got, err := RotateLogs(dir, retention, now)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, plain+".gz")
				require.Empty(t, got)
				data, rerr := os.ReadFile(plain)
				require.NoError(t, rerr)
				require.Equal(t, tc.plain, data)
				data, rerr = os.ReadFile(plain + ".gz")
				require.NoError(t, rerr)
				require.Equal(t, tc.gz, data)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{plain}, got)
			require.NoFileExists(t, plain)
			require.NoFileExists(t, plain+".gz.tmp")
			require.Equal(t, string(tc.want), string(gunzipFile(t, plain+".gz")))
			r := readAll(t, dir, LogQuery{})
			require.Equal(t, tc.wantEntries, r.stats.Entries)
			require.Equal(t, tc.wantMalformed, r.stats.Malformed)
		})
	}
}

func TestRotateLogsDoesNothing(t *testing.T) {
	now := day1.AddDate(1, 0, 0)
	t.Run("missing dir", func(t *testing.T) {
		got, err := RotateLogs(filepath.Join(t.TempDir(), "nope"), time.Hour, now)
		require.NoError(t, err)
		require.Nil(t, got)
	})
	for _, retention := range []time.Duration{0, -time.Hour} {
		t.Run(fmt.Sprintf("retention %v", retention), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, LogFileName(day1)), lines(record(day1, "a", "")))
			writeFile(t, filepath.Join(dir, LogFileName(day1)+".gz.tmp"), []byte("x"))
			state := dirState(t, dir)
			got, err := RotateLogs(dir, retention, now)
			require.NoError(t, err)
			require.Nil(t, got)
			require.Equal(t, state, dirState(t, dir))
		})
	}
}

func TestRotateLogsBoundary(t *testing.T) {
	day0 := day1.AddDate(0, 0, -1)
	for _, tc := range []struct {
		name    string
		now     time.Time
		rotated bool
	}{
		{"day ended exactly retention ago", day1.Add(24 * time.Hour), true},
		{"a microsecond short", day1.Add(24*time.Hour - time.Microsecond), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day0))
			writeFile(t, plain, lines(record(day0, "a", "")))
			got, err := RotateLogs(dir, 24*time.Hour, tc.now)
			require.NoError(t, err)
			if tc.rotated {
				require.Equal(t, []string{plain}, got)
				require.NoFileExists(t, plain)
			} else {
				require.Empty(t, got)
				require.FileExists(t, plain)
			}
		})
	}
}

// TestReadLogWhileRotating rotates every file while the read is in the
// first one: the open file is left (the reader holds it open) and reads
// on, and the next day, gone from where the listing saw it, is read from
// its .gz.
func TestReadLogWhileRotating(t *testing.T) {
	dir := t.TempDir()
	day2 := day1.AddDate(0, 0, 1)
	var want []string
	for _, d := range []time.Time{day1, day2} {
		a, b := record(d, "a", ""), record(d.Add(time.Hour), "b", "")
		writeFile(t, filepath.Join(dir, LogFileName(d)), lines(a, b))
		want = append(want, string(a), string(b))
	}
	var got []string
	_, err := ReadLog(dir, LogQuery{}, func(e LogEntry) error {
		if len(got) == 0 {
			r, err := RotateLogsReport(dir, time.Hour, day2.AddDate(0, 0, 2))
			require.NoError(t, err)
			require.Equal(t, []string{filepath.Join(dir, LogFileName(day2))}, r.Rotated)
			require.Equal(t, []LeftLog{{Path: filepath.Join(dir, LogFileName(day1)), Reason: leftInUse}}, r.Left)
		}
		got = append(got, string(e.Raw))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestRotateLogsGoesOnAfterAFailure(t *testing.T) {
	dir := t.TempDir()
	day0 := day1.AddDate(0, 0, -1)
	bad := filepath.Join(dir, LogFileName(day0))
	good := filepath.Join(dir, LogFileName(day1))
	writeFile(t, bad, lines(record(day0, "a", "")))
	writeFile(t, bad+".gz", []byte("garbage"))
	data := lines(record(day1, "b", ""))
	writeFile(t, good, data)

	got, err := RotateLogs(dir, time.Hour, day1.AddDate(0, 0, 7))
	require.ErrorContains(t, err, bad+".gz")
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, []string{good}, got)
	require.FileExists(t, bad)
	require.NoFileExists(t, good)
	require.Equal(t, data, gunzipFile(t, good+".gz"))
}

// FuzzReadLog feeds arbitrary bytes to ReadLog: it must not panic, and each
// entry must be the line at its offset.
func FuzzReadLog(f *testing.F) {
	f.Add(lines(record(day1, "a", "")), false)
	f.Add([]byte("{\"ts\":\"2026-11-25T00:00:00Z\",\"event\":\"x\"}\n\xff\n[]\n{"), false)
	f.Add([]byte("\n\n{}\nnull\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, gz bool) {
		dir := t.TempDir()
		name := filepath.Join(dir, LogFileName(day1))
		if gz {
			writeFile(t, name+".gz", gzipBytes(t, data))
		} else {
			writeFile(t, name, data)
		}
		r := readAll(t, dir, LogQuery{})
		require.Equal(t, len(r.entries), r.stats.Entries)
		require.Equal(t, len(r.malformed), r.stats.Malformed)
		for _, e := range r.entries {
			require.Equal(t, string(data[e.Offset:e.Offset+int64(len(e.Raw))]), string(e.Raw))
		}
		// Every non-empty line is either delivered or counted.
		lines := 0
		for _, ln := range bytes.Split(data, []byte("\n")) {
			if len(ln) > 0 {
				lines++
			}
		}
		require.Equal(t, lines, r.stats.Entries+r.stats.Malformed)
	})
}

func TestLogFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"lifecycle-events-2026-11-25.jsonl", "lifecycle-events-2026-11-24.jsonl.gz",
		"lifecycle-events-2026-11-25.jsonl.gz", "lifecycle-events-2026-11-23.jsonl.gz.tmp",
		"notes.txt", "lifecycle-events-2026-13-01.jsonl",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "lifecycle-events-2026-11-26.jsonl"), 0o700))
	files, err := LogFiles(dir)
	require.NoError(t, err)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	require.Equal(t, []LogFile{
		{Path: filepath.Join(dir, "lifecycle-events-2026-11-24.jsonl.gz"), Day: day(24), Gzip: true},
		{Path: filepath.Join(dir, "lifecycle-events-2026-11-25.jsonl"), Day: day(25)},
		{Path: filepath.Join(dir, "lifecycle-events-2026-11-25.jsonl.gz"), Day: day(25), Gzip: true},
	}, files)

	files, err = LogFiles(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Empty(t, files)
	_, err = LogFiles(filepath.Join(dir, "notes.txt"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "notes.txt")
}

// referenceLogLine is parseLogLine written the slow, obvious way: decode the
// whole object, keys exact, the last of a repeated key winning.
func referenceLogLine(line []byte) (time.Time, string, bool) {
	if !utf8.Valid(line) {
		return time.Time{}, "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil || m == nil {
		return time.Time{}, "", false
	}
	var ts, ev string
	if json.Unmarshal(m["ts"], &ts) != nil || json.Unmarshal(m["event"], &ev) != nil || ts == "" || ev == "" {
		return time.Time{}, "", false
	}
	t, err := ParseTimestamp(ts)
	return t, ev, err == nil
}

// FuzzParseLogLine: the in-place reader agrees with the reference on every
// line, and never panics.
func FuzzParseLogLine(f *testing.F) {
	for _, seed := range []string{
		`{"ts":"2026-11-25T08:05:00.000123+00:00","event":"state_transition","from":"WAKE","to":"DROWSY","trigger":"idle_5min","seq":1}`,
		`{"ts":"2026-11-25T08:06:00+00:00","event":"wrapper_event","kind":"heartbeat_refresh","wrapper_pid":4242}`,
		` { "event" : "x" , "ts" : "2026-11-25T08:06:00Z" , "n": [1, {"a": "}"}], "b": null } `,
		`{"ts":"2026-11-25T08:06:00Z","event":"a","event":"b","ts":"2026-11-26T00:00:00Z"}`,
		`{"t\u0073":"2026-11-25T08:06:00Z","ev\u0065nt":"x\"y"}`,
		`{"TS":"2026-11-25T08:06:00Z","Event":"x"}`,
		`{"ts":5,"event":"x"}`, `{"ts":null,"event":"x"}`, `{"ts":"","event":"x"}`, `[]`, `null`, `"x"`, `{}`,
		`{"ts":"2026-11-25T08:06:00Z","event":"x"`, "\xff", `{"a":"\\"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		wantT, wantEv, wantOK := referenceLogLine(line)
		gotT, gotEv, err := parseLogLine(line)
		require.Equal(t, wantOK, err == nil, "%q: %v", line, err)
		if wantOK {
			require.True(t, wantT.Equal(gotT), "%q", line)
			require.Equal(t, wantEv, gotEv, "%q", line)
		}
	})
}

// TestRotationStoppedAfterAMergeThenAppended: a rotation that merged a
// plain file made again into the day's .gz, stopped (a crash) before it
// removed the plain file, and lines were appended to the plain file since
// (the clock is on that day again). Each record is read once, and the next
// rotation merges only what was appended.
func TestRotationStoppedAfterAMergeThenAppended(t *testing.T) {
	dir := t.TempDir()
	plainPath := filepath.Join(dir, LogFileName(day1))
	r1, r2 := record(day1, "r1", ""), record(day1.Add(time.Minute), "r2", "")
	r3, r4 := record(day1.Add(2*time.Minute), "r3", ""), record(day1.Add(3*time.Minute), "r4", "")
	writeFile(t, plainPath+".gz", gzipBytes(t, lines(r1, r2)))
	writeFile(t, plainPath, lines(r3))

	// The merge, up to its rename.
	old, err := os.Open(plainPath + ".gz")
	require.NoError(t, err)
	plain, err := os.Open(plainPath)
	require.NoError(t, err)
	fi, err := plain.Stat()
	require.NoError(t, err)
	require.NoError(t, writeGz(plainPath+".gz", old, plain, 0, fi.Size()))
	require.NoError(t, old.Close())
	require.NoError(t, plain.Close())
	// Then an append to the plain file it did not remove.
	f, err := os.OpenFile(plainPath, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(lines(r4))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	want := []string{string(r1), string(r2), string(r3), string(r4)}
	r := readAll(t, dir, LogQuery{})
	require.Equal(t, want, raws(r.entries))
	require.Equal(t, int64(len(r3)+1), r.entries[3].Offset, "offsets are the plain file's")

	rotated, err := RotateLogs(dir, time.Hour, day1.Add(72*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []string{plainPath}, rotated)
	require.NoFileExists(t, plainPath)
	require.Equal(t, string(lines(r1, r2, r3, r4)), string(gunzipFile(t, plainPath+".gz")))
	require.Equal(t, want, raws(readAll(t, dir, LogQuery{}).entries))
}
