package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/iai-mcp/lifecycle"
)

// tableArg is the --table flag of graph, dispatch and status: a transition
// table in the JSON form of lifecycle.Table. Unset, the library's default
// table.
//
// A file that cannot be read or is not a valid table is an error (exit 1)
// naming the file, as a corrupt state file is; only an empty name is a
// mistake on the command line (exit 2).
type tableArg struct{ path string }

func (a *tableArg) define(fs *flag.FlagSet) {
	fs.Var(a, "table", "the transition table, in its JSON form, from `FILE` (default: the library's)")
}

func (a *tableArg) String() string { return a.path }

func (a *tableArg) Set(s string) error {
	if s == "" {
		return errors.New("empty file name")
	}
	a.path = s
	return nil
}

// load returns the table the command works with.
func (a *tableArg) load() (*lifecycle.Table, error) {
	if a.path == "" {
		return lifecycle.DefaultTable(), nil
	}
	return lifecycle.LoadTable(a.path) // an *fs.PathError naming the file
}

// which names the table in messages: "" for the default, else
// " (table FILE)".
func (a *tableArg) which() string {
	if a.path == "" {
		return ""
	}
	return " (table " + a.path + ")"
}

// loadState reads the state file at path with the table t, as a Machine
// with that table does. Without --table, a state the default table does
// not know is most likely another table's, and the error says what to do.
//
// A file that holds none of the Python daemon's keys is a core record
// (lifecycle.Table.CoreRecord), whatever the table file says: it is read,
// and written back, as one; the table returned is the one it was read
// with, for the Machine to use.
func (a *tableArg) loadState(t *lifecycle.Table, path string) (lifecycle.Record, *lifecycle.Table, error) {
	rec, err := t.LoadState(path)
	if err != nil && errors.Is(err, lifecycle.ErrCorruptState) && !t.HasCoreRecord() && isCoreFile(path) {
		t = t.CoreRecord()
		rec, err = t.LoadState(path)
	}
	return rec, t, a.hint(err)
}

// pythonKeys are the keys of the Python daemon's record that a core record
// has not.
var pythonKeys = []string{"sleep_cycle_progress", "quarantine", "shadow_run", "crisis_mode",
	"crisis_mode_since_ts", "essential_variable_consecutive_breaches", "essential_variable_consecutive_clears"}

// isCoreFile reports whether the file at path is a JSON object with none of
// pythonKeys. Any failure reads as false: the caller keeps its first error.
func isCoreFile(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) > lifecycle.MaxStateSize {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || obj == nil {
		return false
	}
	for _, k := range pythonKeys {
		if _, ok := obj[k]; ok {
			return false
		}
	}
	return true
}

// hint adds to an error about a state the default table does not know what
// to do about it.
func (a *tableArg) hint(err error) error {
	if err != nil && a.path == "" && errors.Is(err, lifecycle.ErrUnknownState) {
		return fmt.Errorf("%w (a state of another transition table? give it with --table FILE)", err)
	}
	return err
}

// eventNames are t's events, as strings.
func eventNames(t *lifecycle.Table) []string {
	evs := t.Events()
	names := make([]string, len(evs))
	for i, ev := range evs {
		names[i] = string(ev)
	}
	return names
}

func eventList(t *lifecycle.Table) string { return strings.Join(eventNames(t), ", ") }
