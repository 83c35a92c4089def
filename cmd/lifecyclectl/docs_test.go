package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docs/cli.md is the reference: it has a row for every command, with the
// command's synopsis.
func TestDocsCLIListsEveryCommand(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	table := string(doc)
	for _, c := range commands {
		synopsis := strings.ReplaceAll(c.synopsis, "|", `\|`)
		require.True(t, strings.Contains(table, "| `"+c.name+" "+synopsis+"`") ||
			strings.Contains(table, "| `"+c.name+" "+synopsis+"` "),
			"docs/cli.md has no row for %s %s", c.name, synopsis)
	}
}

var shellBlock = regexp.MustCompile("(?s)\n```\n(\\$ lifecyclectl --dir DIR history .*?)```")

// The history output docs/cli.md shows is what history prints for the
// directory the demo leaves.
func TestDocsCLIHistoryExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	m := shellBlock.FindSubmatch(doc)
	require.NotNil(t, m, "docs/cli.md has no history example")

	dir := filepath.Join(t.TempDir(), "demo")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"demo", "--dir", dir, "--pace", "0"}, &stdout, &stderr), stderr.String())
	var want strings.Builder
	for _, block := range strings.Split(strings.TrimSuffix(string(m[1]), "\n"), "\n\n") {
		cmdLine, _, _ := strings.Cut(block, "\n")
		args := strings.Fields(strings.TrimPrefix(cmdLine, "$ lifecyclectl "))
		for i, a := range args {
			if a == "DIR" {
				args[i] = dir
			}
		}
		stdout.Reset()
		require.Equal(t, exitOK, run(args, &stdout, &stderr), stderr.String())
		if want.Len() > 0 {
			want.WriteString("\n")
		}
		want.WriteString(cmdLine + "\n" + strings.ReplaceAll(stdout.String(), dir, "DIR"))
	}
	require.Equal(t, want.String(), string(m[1]))
}
