package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantFlag bool
		wantWait string
		wantErr  string
	}{
		{name: "none", args: nil, wantPos: nil},
		{name: "flags first", args: []string{"--still-idle", "ev"}, wantPos: []string{"ev"}, wantFlag: true},
		{name: "flags after", args: []string{"ev", "--still-idle"}, wantPos: []string{"ev"}, wantFlag: true},
		{name: "between", args: []string{"a", "--wait", "1s", "b"}, wantPos: []string{"a", "b"}, wantWait: "1s"},
		{name: "after --", args: []string{"--", "--still-idle", "a"}, wantPos: []string{"--still-idle", "a"}},
		{name: "-- after an argument", args: []string{"a", "--", "--wait"}, wantPos: []string{"a", "--wait"}},
		{name: "lone dash is an argument", args: []string{"-"}, wantPos: []string{"-"}},
		{name: "unknown flag after", args: []string{"a", "--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "missing value", args: []string{"a", "--wait"}, wantErr: "flag needs an argument: -wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			still := fs.Bool("still-idle", false, "")
			wait := fs.String("wait", "", "")
			pos, err := parseInterspersed(fs, tt.args)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantPos, pos)
			require.Equal(t, tt.wantFlag, *still)
			require.Equal(t, tt.wantWait, *wait)
		})
	}
}

// Every command has help, by "help NAME" and by "NAME --help", on
// standard output with exit 0, listing the exit codes it may end with.
func TestHelpEveryCommand(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{"help", c.name}, {c.name, "--help"}, {c.name, "-h"}} {
			t.Run(c.name+" "+args[0]+" "+args[1], func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				require.Equal(t, exitOK, run(args, &stdout, &stderr))
				require.Empty(t, stderr.String())
				usage := "Usage: lifecyclectl [--dir DIR] " + c.name + " " + c.synopsis + "\n"
				if c.noDir {
					usage = "Usage: lifecyclectl " + c.name + " " + c.synopsis + "\n"
					require.NotContains(t, stdout.String(), "\n  --dir ")
				}
				require.Contains(t, stdout.String(), usage)
				require.Contains(t, stdout.String(), "Exit codes:\n  0  success\n  1  error: "+c.errors+"\n  2  usage: ")
				require.Equal(t, c.locks, strings.Contains(stdout.String(), "\n  3  the lifecycle lock is held"))
				for _, h := range c.hidden {
					require.NotContains(t, stdout.String(), "--"+h)
				}
			})
		}
	}
}
