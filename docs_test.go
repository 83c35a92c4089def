package lifecycle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// The table is written once, as data; the copies in the documentation are
// checked against it so that they cannot drift.

func tableRows() [][4]string {
	var rows [][4]string
	for _, r := range lifecycle.Rows() {
		from, guard := string(r.From), string(r.Guard)
		if r.From == lifecycle.AnyState {
			from = "any"
		}
		if r.Guard == lifecycle.NoGuard {
			guard = "-"
		}
		rows = append(rows, [4]string{from, string(r.Event), guard, string(r.To)})
	}
	return rows
}

func TestREADMETableMatchesTheTable(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "## The transition table\n")
	require.True(t, ok, "README has no transition table section")
	var got [][4]string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") {
			if len(got) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		require.Len(t, cells, 4, line)
		if cells[0] == "from" {
			continue
		}
		got = append(got, [4]string{cells[0], cells[1], strings.ReplaceAll(cells[2], "—", "-"), cells[3]})
	}
	require.Equal(t, tableRows(), got)
}

func TestDocTableMatchesTheTable(t *testing.T) {
	data, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(data), "//\tfrom ")
	require.True(t, ok, "doc.go has no table")
	var got [][4]string
	for _, line := range strings.Split(block, "\n")[1:] {
		if !strings.HasPrefix(line, "//\t") {
			break
		}
		f := strings.Fields(strings.TrimPrefix(line, "//\t"))
		require.Len(t, f, 4, line)
		got = append(got, [4]string{f[0], f[1], f[2], f[3]})
	}
	require.Equal(t, tableRows(), got)
}

// TestDocsStateFileIsTheLibrarys: the state file shown in docs/files.md is
// what SaveState writes for that record, byte for byte.
func TestDocsStateFileIsTheLibrarys(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("docs", "files.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(data), "## The state file and the event log\n")
	require.True(t, ok, "docs/files.md has no state file section")
	_, block, ok := strings.Cut(section, "```json\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "\n```")
	require.True(t, ok)
	var rec lifecycle.Record
	require.NoError(t, rec.UnmarshalJSON([]byte(block)))
	path := filepath.Join(t.TempDir(), lifecycle.DefaultStateFile)
	require.NoError(t, lifecycle.SaveState(path, rec))
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, block, string(written))
}
