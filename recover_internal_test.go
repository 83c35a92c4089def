package lifecycle

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScanBackward checks the backward reader against a forward split, on
// files whose lines straddle its 64 KiB chunks.
func TestScanBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	for i := range 3000 {
		lines = append(lines, strings.Repeat(string(rune('a'+i%26)), rng.IntN(300)+1))
	}
	huge := strings.Repeat("x", maxLogLine+10)
	tests := []struct {
		name string
		data string
		want []string // last first
	}{
		{"empty", "", nil},
		{"one line", "a\n", []string{"a"}},
		{"torn last line", "a\nb\ntor", []string{"tor", "b", "a"}},
		{"empty lines skipped", "a\n\n\nb\n", []string{"b", "a"}},
		{"many lines across chunks", strings.Join(lines, "\n") + "\n", reversed(lines)},
		{"a line too long is skipped", "a\n" + huge + "\nb\n", []string{"b", "a"}},
		{"a too long first line", huge + "\nb\n", []string{"b"}},
		{"a too long last line", "a\n" + huge, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			require.NoError(t, os.WriteFile(path, []byte(tt.data), 0o600))
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			var got []string
			require.NoError(t, scanBackward(f, func(line []byte, off int64) bool {
				require.Equal(t, tt.data[off:off+int64(len(line))], string(line), "the line's offset")
				got = append(got, string(bytes.Clone(line)))
				return true
			}))
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("stops when told", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		require.NoError(t, os.WriteFile(path, []byte("a\nb\nc\n"), 0o600))
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		var got []string
		require.NoError(t, scanBackward(f, func(line []byte, _ int64) bool {
			got = append(got, string(line))
			return len(got) < 2
		}))
		require.Equal(t, []string{"c", "b"}, got)
	})
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
