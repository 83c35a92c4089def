package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// unitValues returns the values of key in the unit file at path, in order.
func unitValues(t *testing.T, path, key string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var vals []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// The shipped units say what the server needs, and their command line is
// one the server accepts.
func TestSystemdUnits(t *testing.T) {
	socket := filepath.Join("systemd", "lifecycle-server.socket")
	service := filepath.Join("systemd", "lifecycle-server.service")
	require.Equal(t, []string{"127.0.0.1:7070"}, unitValues(t, socket, "ListenStream"))
	require.Equal(t, []string{"no"}, unitValues(t, socket, "Accept"), "one server takes every connection")
	require.Equal(t, []string{"notify"}, unitValues(t, service, "Type"))
	require.Len(t, unitValues(t, service, "WatchdogSec"), 1)
	require.Equal(t, []string{"on-failure"}, unitValues(t, service, "Restart"), "exit 0 at HIBERNATION is not restarted")
	// Each wake is a start: the start limit must let idle cycles of 200 ms
	// follow each other, and still be a limit (a crash loop hits it).
	interval, err := time.ParseDuration(strings.Join(unitValues(t, service, "StartLimitIntervalSec"), ""))
	require.NoError(t, err, "StartLimitIntervalSec")
	burst, err := strconv.Atoi(strings.Join(unitValues(t, service, "StartLimitBurst"), ""))
	require.NoError(t, err, "StartLimitBurst")
	require.Positive(t, interval, "0 turns the limit off")
	require.GreaterOrEqual(t, burst, int(interval/(200*time.Millisecond)), "%d starts in %v", burst, interval)
	exec := unitValues(t, service, "ExecStart")
	require.Len(t, exec, 1)
	args := strings.Fields(strings.ReplaceAll(exec[0], "%h", "/home/someone"))
	require.Equal(t, "/home/someone/go/bin/lifecycle-server", args[0])
	_, err = parseFlags(args[1:], io.Discard)
	require.NoError(t, err)
}

// systemd-analyze verify loads the units as systemd would, and reports
// every key it does not know and every setting it cannot use.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze is missing (it is in the systemd package): %v", err)
	}
	// verify needs the command to exist: the server's path is the one
	// thing changed, and the units are checked as system units (verify
	// --user needs a running user manager; the keys are the same).
	dir := t.TempDir()
	bin := filepath.Join(dir, "lifecycle-server")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700))
	for _, name := range []string{"lifecycle-server.socket", "lifecycle-server.service"} {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		require.NoError(t, err)
		data = bytes.ReplaceAll(data, []byte("%h/go/bin/lifecycle-server"), []byte(bin))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	cmd := exec.Command(analyze, "verify", "lifecycle-server.socket", "lifecycle-server.service")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && strings.Contains(string(out), "Failed to initialize manager") {
		t.Skipf("systemd-analyze cannot run here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	require.Empty(t, string(out))
}

// The launchd plist is well-formed, and its command line is one the
// server accepts.
func TestLaunchdPlist(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("launchd", "io.github.iai-mcp.lifecycle-server.plist"))
	require.NoError(t, err)
	var plist struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	require.NoError(t, xml.Unmarshal(data, &plist))
	values := map[string]int{} // key -> index of its value
	items := plist.Dict.Items
	for i := 0; i+1 < len(items); i++ {
		if items[i].XMLName.Local == "key" {
			values[items[i].Text] = i + 1
		}
	}
	label, ok := values["Label"]
	require.True(t, ok)
	require.Equal(t, "io.github.iai-mcp.lifecycle-server", items[label].Text)
	argsAt, ok := values["ProgramArguments"]
	require.True(t, ok)
	args := items[argsAt].Strings
	require.True(t, strings.HasSuffix(args[0], "/go/bin/lifecycle-server"), args[0])
	_, err = parseFlags(args[1:], io.Discard)
	require.NoError(t, err)
	keep, ok := values["KeepAlive"]
	require.True(t, ok)
	require.Equal(t, "dict", items[keep].XMLName.Local, "KeepAlive restarts it only after a failure")
}
