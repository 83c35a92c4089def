//go:build unix

package lifecycle

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// The state file is at most MaxStateSize bytes, and that limit holds both
// ways: a record whose file would be larger is refused before anything is
// written (a write must never leave a file every later read refuses), and
// a record read from a file within the limit whose file, written back,
// would exceed it (compact JSON that the file's 2-space indent makes
// larger, raw UTF-8 that its \u escapes make larger) is refused as it is
// loaded, so that what loads can always be saved.
//
// The size is counted rather than written out: a value small in memory can
// be huge written, since indenting puts each element of a nested object or
// array on a line of its own, two spaces deeper than its parent's (a
// 10,000-level nesting of 50 KB is 200 MB). The limit also bounds nesting:
// each level costs two lines, so a state file within it nests a few
// hundred levels at most, far from the decoder's limit of 10,000.

// checkFileSize refuses, with the size it would have, a record whose state
// file would be larger than MaxStateSize.
func (r Record) checkFileSize() error {
	if n := r.fileSize(); n > MaxStateSize {
		return fmt.Errorf("the state file would be %d bytes, more than the %d allowed", n, MaxStateSize)
	}
	return nil
}

// fileSize is len(r.fileBytes()) for a record that Validate accepts or the
// decoder read, counted without writing its JSON values out.
func (r Record) fileSize() int {
	var values int
	b, _ := r.encode(fileIndent, &values) // measuring, encode writes no value and fails on none
	return len(b) + values
}

// fileIndent is the state file's indent, as Python's json.dump(indent=2).
const fileIndent = "  "

// indentedSize is the length of the valid JSON value v as the encoder
// writes it in the state file: json.Indent with prefix and indent (which
// drops the space before and between tokens but copies the space after
// the value, writes "{}" and "[]" for empty ones, and puts every member
// and element on a line of its own), then asciiJSON (each non-ASCII rune a
// \u escape, two for a rune outside the BMP, and one for each byte of
// invalid UTF-8).
func indentedSize(v []byte, prefix, indent string) int {
	body := bytes.TrimRight(v, " \t\r\n")
	n, depth := len(v)-len(body), 0
	v = body
	newline := func() int { return 1 + len(prefix) + depth*len(indent) }
	needIndent, inString, escaped := false, false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c >= utf8.RuneSelf:
				r, size := utf8.DecodeRune(v[i:])
				n += 6
				if r >= 0x10000 {
					n += 6
				}
				i += size - 1
				continue
			}
			n++
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			n += newline()
		}
		switch c {
		case '"':
			inString = true
			n++
		case '{', '[':
			needIndent = true // an empty one stays "{}" or "[]"
			n++
		case ',':
			n += 1 + newline()
		case ':':
			n += 2
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				n += newline()
			}
			n++
		default:
			n++
		}
	}
	return n
}
