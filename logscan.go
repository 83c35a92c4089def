//go:build unix

package lifecycle

import (
	"bytes"
	"os"
)

// scanBackward calls fn with each line of f, the last first, without its
// newline, and the offset where it starts, until fn returns false. Lines longer than maxLogLine are skipped,
// so memory stays bounded whatever the file holds.
func scanBackward(f *os.File, fn func(line []byte, off int64) bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const chunk = 64 << 10
	var carry []byte // the start of the file's part not yet split into lines: a line's tail
	long := false    // carry's line is too long and is being skipped
	for pos := fi.Size(); pos > 0; {
		n := min(int64(chunk), pos)
		pos -= n
		data := make([]byte, n, n+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil {
			return err
		}
		data = append(data, carry...)
		end := len(data)
		for {
			i := bytes.LastIndexByte(data[:end], '\n')
			if i < 0 {
				break
			}
			line := data[i+1 : end]
			if !long && len(line) > 0 && len(line) <= maxLogLine && !fn(line, pos+int64(i)+1) {
				return nil
			}
			end, long = i, false
		}
		carry = data[:end]
		if len(carry) > maxLogLine {
			carry, long = nil, true
		}
	}
	if !long && len(carry) > 0 && len(carry) <= maxLogLine {
		fn(carry, 0)
	}
	return nil
}
