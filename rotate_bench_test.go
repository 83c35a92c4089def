package lifecycle_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// BenchmarkRotateLogs rotates one day's file of 100,000 lines (about
// 10 MB): its sha256, its compression, the check before its removal, the
// syncs.
func BenchmarkRotateLogs(b *testing.B) {
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&buf, `{"ts":"%s","event":"wrapper_event","kind":"heartbeat_refresh","wrapper_pid":4242,"n":%d}`+"\n",
			lifecycle.FormatTimestamp(day.Add(time.Duration(i)*time.Millisecond)), i)
	}
	data := buf.Bytes()
	dir := b.TempDir()
	path := filepath.Join(dir, lifecycle.LogFileName(day))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		if err := os.Remove(path + ".gz"); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Hour) // past the grace period where it applies
		if err := os.Chtimes(path, old, old); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got, err := lifecycle.RotateLogs(dir, time.Hour, time.Now())
		if err != nil || len(got) != 1 {
			b.Fatal(got, err)
		}
	}
}
