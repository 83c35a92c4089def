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

// docCodeSpans are the `code` spans of a markdown file.
var docCodeSpans = regexp.MustCompile("`([^`\n]+)`")

// repoPath says whether a code span names a file or directory of this
// repository, rather than one a daemon makes at run time (logs/,
// lifecycle_state.json, wake.signal) or a placeholder (DIR/logs): a Go or
// markdown file, or a path under one of the repository's top directories.
func repoPath(span string) bool {
	if strings.ContainsAny(span, " *{}<>$~") || strings.HasPrefix(span, "/") || strings.HasPrefix(span, "-") {
		return false
	}
	if strings.HasSuffix(span, ".md") || strings.HasSuffix(span, ".go") {
		return true
	}
	first, _, nested := strings.Cut(span, "/")
	switch first {
	case "cmd", "daemon", "docs", "examples", "internal", "bench", ".ci", "testdata":
		return nested
	}
	return false
}

// Every file of the repository that the README and docs/ name in code
// exists: a reader who follows a name finds it.
func TestDocsNameOnlyFilesTheRepositoryHas(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	var missing []string
	for _, doc := range append([]string{"README.md"}, docs...) {
		for _, m := range docCodeSpans.FindAllStringSubmatch(readDoc(t, doc), -1) {
			name := strings.TrimSuffix(strings.TrimPrefix(m[1], "./"), "/...")
			if !repoPath(name) {
				continue
			}
			target := name
			if _, err := os.Stat(target); err != nil {
				// A name relative to the doc's own directory.
				target = filepath.Join(filepath.Dir(doc), name)
			}
			if _, err := os.Stat(target); err != nil {
				missing = append(missing, doc+" names "+m[1])
			}
		}
	}
	require.Empty(t, missing, "files the docs name that the repository does not have")
}
