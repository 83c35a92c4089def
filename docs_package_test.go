//go:build unix

package lifecycle_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// packageDoc is the package comment of doc.go, as go doc prints its text.
func packageDoc(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	require.NotNil(t, f.Doc, "doc.go has no package comment")
	return f.Doc.Text()
}

// docFirstScreen is how many lines of the package comment a terminal shows
// first.
const docFirstScreen = 40

// The package documentation's first screen is how to use the package; the
// design is in docs/.
func TestPackageDocFirstScreenIsHowToUseIt(t *testing.T) {
	lines := strings.Split(packageDoc(t), "\n")
	screen := strings.Join(lines[:min(docFirstScreen, len(lines))], "\n")
	tests := []struct {
		what, word string
	}{
		{"open a Machine", "New("},
		{"dispatch an event", "Dispatch("},
		{"wait for the lock", "DispatchContext"},
		{"release the Machine", "Close()"},
		{"the idle policy", "IdlePolicy"},
		{"what the idle policy reads", "Observation"},
		{"the daemon kit", "github.com/iai-mcp/lifecycle/daemon"},
		{"the table as data", "Rows"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			require.Contains(t, screen, tt.word, "the package doc's first %d lines do not show %s", docFirstScreen, tt.what)
		})
	}
	for _, design := range []string{"fsync", "flock(", "O_NOFOLLOW", "rename"} {
		require.NotContains(t, screen, design, "design detail on the package doc's first screen: it belongs in docs/")
	}
}

// The package documentation names every page of docs/, and only pages
// that exist.
func TestPackageDocNamesEveryDocsPage(t *testing.T) {
	doc := packageDoc(t)
	pages, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	for _, p := range pages {
		require.Contains(t, doc, p, "the package doc does not say where to read %s", p)
	}
	for _, m := range regexp.MustCompile(`docs/[a-z0-9_-]+\.md`).FindAllString(doc, -1) {
		_, err := os.Stat(m)
		require.NoError(t, err, "the package doc names %s", m)
	}
}
