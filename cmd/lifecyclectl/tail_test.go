package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// The follower's tail hands over complete lines only, with their offsets,
// however the bytes arrive.
func TestTailCompleteLines(t *testing.T) {
	type line struct {
		off  int64
		text string
		long bool
	}
	long := strings.Repeat("x", maxLine+1)
	tests := []struct {
		name   string
		writes []string // appended one at a time, with a read after each
		want   [][]line // what each read hands over
		torn   bool     // a partial line is left at the end
	}{
		{
			name:   "whole lines",
			writes: []string{"a\nbb\n", "ccc\n"},
			want:   [][]line{{{0, "a", false}, {2, "bb", false}}, {{5, "ccc", false}}},
		},
		{
			name:   "a line in pieces waits for its newline",
			writes: []string{`{"ts":`, `"x"`, "}\nnext", "\n"},
			want:   [][]line{nil, nil, {{0, `{"ts":"x"}`, false}}, {{11, "next", false}}},
		},
		{
			name:   "empty lines are lines",
			writes: []string{"\n\na\n"},
			want:   [][]line{{{0, "", false}, {1, "", false}, {2, "a", false}}},
		},
		{
			name:   "a partial line at the end stays",
			writes: []string{"a\npart"},
			want:   [][]line{{{0, "a", false}}},
			torn:   true,
		},
		{
			name:   "a long line is dropped but counted, and offsets go on",
			writes: []string{long[:maxLine], long[maxLine:] + "\nb\n"},
			want:   [][]line{nil, {{0, "", true}, {int64(maxLine) + 2, "b", false}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log.jsonl")
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			require.NoError(t, err)
			defer func() { require.NoError(t, w.Close()) }()
			tl, err := openTail(path)
			require.NoError(t, err)
			defer func() { require.NoError(t, tl.close()) }()
			for i, chunk := range tt.writes {
				_, err := w.WriteString(chunk)
				require.NoError(t, err)
				var got []line
				require.NoError(t, tl.read(func(p string, off int64, b []byte, isLong bool) error {
					require.Equal(t, path, p)
					got = append(got, line{off, string(b), isLong})
					return nil
				}))
				require.Equal(t, tt.want[i], got, "read after write %d", i)
			}
			var torn bool
			tl.abandon(func(m lifecycle.MalformedLine) {
				require.True(t, m.Torn)
				torn = true
			})
			require.Equal(t, tt.torn, torn)
		})
	}
}
