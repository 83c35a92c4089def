package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/iai-mcp/lifecycle"
)

// The parts of a log file's name around its date, taken from
// lifecycle.LogFileName so that the two cannot disagree.
var logNamePrefix, logNameSuffix = func() (string, string) {
	const date = "0001-01-01"
	name := lifecycle.LogFileName(time.Time{})
	i := strings.Index(name, date)
	return name[:i], name[i+len(date):]
}()

// dayFile is a log file, plain or rotated, named for its UTC day.
type dayFile struct {
	name string
	day  time.Time
	gz   bool
}

// listDayFiles returns the regular log files of dir, oldest day first,
// and within a day the plain file first. A missing dir has none.
func listDayFiles(dir string) ([]dayFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []dayFile
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			continue
		}
		if f, ok := parseDayFile(ent.Name()); ok {
			files = append(files, f)
		}
	}
	return files, nil
}

func parseDayFile(name string) (dayFile, bool) {
	rest, ok := strings.CutPrefix(name, logNamePrefix)
	if !ok || len(rest) < len(time.DateOnly) {
		return dayFile{}, false
	}
	f := dayFile{name: name}
	switch rest[len(time.DateOnly):] {
	case logNameSuffix:
	case logNameSuffix + ".gz":
		f.gz = true
	default:
		return dayFile{}, false
	}
	day, err := time.Parse(time.DateOnly, rest[:len(time.DateOnly)])
	f.day = day
	return f, err == nil
}
