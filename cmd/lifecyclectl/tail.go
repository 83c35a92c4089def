package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/iai-mcp/lifecycle"
)

// maxLine bounds a log line, as lifecycle.ReadLog does: a longer one is
// skipped, so memory stays bounded.
const maxLine = 1 << 20

// tail reads the complete lines appended to a file since the last read.
// A last line without its newline waits for it.
type tail struct {
	f       *os.File
	path    string
	off     int64  // where the current line starts
	n       int64  // how many of its bytes have been read
	pending []byte // those bytes, unless long
	long    bool   // the current line is longer than maxLine; pending is dropped
	buf     []byte
}

func openTail(path string) (*tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &tail{f: f, path: path, buf: make([]byte, 64<<10)}, nil
}

// lineFunc gets a complete line, without its newline, and where it starts.
// A line longer than maxLine comes as long, without its bytes.
type lineFunc func(path string, off int64, line []byte, long bool) error

// read calls fn for each complete line appended since the last call.
func (t *tail) read(fn lineFunc) error {
	for {
		n, err := t.f.Read(t.buf)
		data := t.buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				t.keep(data)
				break
			}
			t.keep(data[:i])
			data = data[i+1:]
			ferr := fn(t.path, t.off, t.pending, t.long)
			t.off += t.n + 1
			t.n, t.pending, t.long = 0, t.pending[:0], false
			if ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &fs.PathError{Op: "read log", Path: t.path, Err: err}
		}
	}
}

// keep adds part of the current line.
func (t *tail) keep(b []byte) {
	t.n += int64(len(b))
	switch {
	case t.long:
	case len(t.pending)+len(b) > maxLine:
		t.pending, t.long = t.pending[:0], true
	default:
		t.pending = append(t.pending, b...)
	}
}

// abandon reports a line left without its newline when the file is no
// longer read: a torn line.
func (t *tail) abandon(report func(lifecycle.MalformedLine)) {
	if t.n > 0 && report != nil {
		report(lifecycle.MalformedLine{File: t.path, Offset: t.off, Torn: true,
			Err: errors.New("no newline at the end of the file's last line")})
	}
}

func (t *tail) close() error {
	if err := t.f.Close(); err != nil {
		return &fs.PathError{Op: "close log", Path: t.path, Err: err}
	}
	return nil
}
