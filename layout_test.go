package lifecycle_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLowerFilesDoNotReachUp: the package's files form layers. The shared
// types and file helpers, the table, the state file and the event log sit
// below the Machine and its options, and none of them names the Machine or
// its configuration: a helper they need lives with them, or below.
func TestLowerFilesDoNotReachUp(t *testing.T) {
	lower := []string{
		"errors.go", "timestamp.go", "fsys.go", "fileread.go", "durable.go", "logscan.go",
		"transition.go", "table.go", "lasttransition.go", "state.go", "logline.go",
		"eventlog.go", "rotate.go", "watchlog.go",
	}
	above := map[string]bool{"Machine": true, "config": true, "Option": true}
	fset := token.NewFileSet()
	for _, name := range lower {
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && above[id.Name] {
				t.Errorf("%s names %s, which sits above it", fset.Position(id.Pos()), id.Name)
			}
			return true
		})
	}
}
