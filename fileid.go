//go:build unix

package lifecycle

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// fileID identifies one version of a file. The state file is only ever
// replaced by rename, which brings a new inode, so an unchanged fileID
// means unchanged bytes, and a dispatch can skip reading and decoding them.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

// statID returns the fileID of path; ok is false when there is no file.
func statID(path string) (id fileID, ok bool, err error) {
	var st unix.Stat_t
	for {
		err = unix.Stat(path, &st)
		if err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return fileID{}, false, nil
	}
	if err != nil {
		return fileID{}, false, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return idOf(&st), true, nil
}

// recordCache holds the last record read or written, and the file version
// it came from.
type recordCache struct {
	id  fileID
	rec Record
	ok  bool
}

// put remembers rec as the content of path as it is now.
func (c *recordCache) put(path string, rec Record) {
	id, exists, err := statID(path)
	c.ok = err == nil && exists
	c.id, c.rec = id, rec
}

func (c *recordCache) clear() { *c = recordCache{} }

func idOf(st *unix.Stat_t) fileID {
	// Dev is uint64 on Linux and int32 on macOS.
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}
