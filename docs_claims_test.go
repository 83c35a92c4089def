//go:build unix

package lifecycle_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README is for the reader who has a minute: it stays short, and its
// claims are checked here (the table's in docs_test.go, the diagram's in
// cmd/lifecyclectl).

// readmeMaxBytes bounds the README: a screen or two.
const readmeMaxBytes = 12 << 10

func readDoc(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// requireMentions fails unless the file at path holds s.
func requireMentions(t *testing.T, path, s string) {
	t.Helper()
	require.True(t, strings.Contains(readDoc(t, path), s), "%s does not mention %q", path, s)
}

func TestREADMEIsShort(t *testing.T) {
	require.LessOrEqual(t, len(readDoc(t, "README.md")), readmeMaxBytes,
		"README.md grew past 12 KiB: move the detail to docs/")
}

// The first commands a newcomer runs need nothing but Go: the demo and the
// tests without the race detector (which needs cgo); CI keeps -race.
func TestREADMESetUpNeedsOnlyGo(t *testing.T) {
	readme := readDoc(t, "README.md")
	_, tryIt, ok := strings.Cut(readme, "## Try it\n")
	require.True(t, ok, "README has no Try it section")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(tryIt)
	require.NotNil(t, block)
	var cmds []string
	for _, line := range strings.Split(strings.TrimSpace(block[1]), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	require.Equal(t, []string{"go run ./cmd/lifecyclectl demo", "go test ./..."}, cmds)
	requireMentions(t, ".ci/run", "go test -race ./...")
}

// The minimum Go version the README states is go.mod's.
func TestREADMEGoVersion(t *testing.T) {
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readDoc(t, "go.mod"))
	require.NotNil(t, m)
	requireMentions(t, "README.md", "**Go "+m[1]+"** or later")
}

// The README quotes the error a build for another system stops with.
func TestREADMEPlatformMessage(t *testing.T) {
	src := readDoc(t, "build_platforms.go")
	m := regexp.MustCompile(`const _ = (\w+)`).FindStringSubmatch(src)
	require.NotNil(t, m)
	requireMentions(t, "README.md", "undefined: "+m[1])
	requireMentions(t, ".ci/run", m[1])
}

// docLinks are the relative links of a markdown file: [text](target).
var docLinks = regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)

// Every file the README and docs/ link to exists. docs/daemon.md, the
// daemon kit's page, is written separately: the README links to it ahead.
func TestDocLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	for _, doc := range append([]string{"README.md"}, docs...) {
		for _, m := range docLinks.FindAllStringSubmatch(readDoc(t, doc), -1) {
			target := filepath.Join(filepath.Dir(doc), m[1])
			if target == filepath.Join("docs", "daemon.md") {
				continue
			}
			_, err := os.Stat(target)
			require.NoError(t, err, "%s links to %s", doc, m[1])
		}
	}
}

// The docs point operators to the table file the repository ships (its
// content is checked by TestExtendedTableFile).
func TestDocsReferToTheExtendedTable(t *testing.T) {
	for _, doc := range []string{"README.md", "docs/cli.md", "docs/files.md", "docs/tables.md"} {
		requireMentions(t, doc, "examples/tables/extended.json")
	}
}
