package lifecycle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// coveredGz is a .gz of content whose header says it holds the first n
// bytes of a plain file whose sha256 is that of prefix, as a rotation
// writes it.
func coveredGz(t *testing.T, content, prefix []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	sum := sha256.Sum256(prefix)
	zw.Comment = cover(int64(len(prefix)), sum[:])
	_, err := zw.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestRotationVerifiesTheGzWhole: a .gz whose header says it holds the
// whole plain file is trusted only once its stream decompresses whole, its
// CRC and length check, and it ends with those bytes. A bad one never costs
// the plain file: a corrupt stream is an error naming the .gz, with both
// files left as they were; a whole stream with other content is merged.
func TestRotationVerifiesTheGzWhole(t *testing.T) {
	now := day1.AddDate(0, 2, 0)
	a := lines(record(day1, "a1", ""), record(day1.Add(time.Minute), "a2", ""), record(day1.Add(2*time.Minute), "a3", ""))
	other := lines(record(day1, "x1", ""))
	good := coveredGz(t, a, a)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 0xff // the trailer's CRC-32
	badLen := bytes.Clone(good)
	badLen[len(badLen)-4] ^= 0xff // the trailer's length
	for _, tc := range []struct {
		name    string
		gz      []byte
		wantErr string // then both files stay as they were
		want    []byte // else the .gz afterwards, the plain file gone
	}{
		{name: "whole", gz: good, want: a},
		{name: "CRC wrong", gz: badCRC, wantErr: "corrupt gzip stream"},
		{name: "length wrong", gz: badLen, wantErr: "corrupt gzip stream"},
		{name: "stream cut short", gz: good[:len(good)-12], wantErr: "corrupt gzip stream"},
		{name: "trailing garbage", gz: append(bytes.Clone(good), "junk"...), wantErr: "corrupt gzip stream"},
		{name: "other content under the header", gz: coveredGz(t, other, a), want: append(bytes.Clone(other), a...)},
		{name: "too short for its header", gz: coveredGz(t, a[:10], a), want: append(append(bytes.Clone(a[:10]), '\n'), a...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := filepath.Join(dir, LogFileName(day1))
			writeFile(t, plain, a)
			writeFile(t, plain+".gz", tc.gz)
			before := dirState(t, dir)

			got, err := RotateLogs(dir, 24*time.Hour, now)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, plain+".gz")
				require.Empty(t, got)
				require.Equal(t, before, dirState(t, dir))
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{plain}, got)
			require.NoFileExists(t, plain)
			require.Equal(t, string(tc.want), string(gunzipFile(t, plain+".gz")))
		})
	}
}
