//go:build unix

package lifecycle_test

import (
	"encoding/json"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// examples/tables/extended.json, the table file the docs point operators
// to, is the seed plus the Python project's two extensions: the table
// ExampleNewTable builds in code.
func TestExtendedTableFile(t *testing.T) {
	got, err := lifecycle.LoadTable("examples/tables/extended.json")
	require.NoError(t, err)

	const forceSleep lifecycle.Event = "force_sleep"
	want, err := lifecycle.NewTable(lifecycle.States(), append(lifecycle.Events(), forceSleep),
		append(lifecycle.Rows(),
			lifecycle.Row{From: lifecycle.Wake, Event: forceSleep, To: lifecycle.Drowsy},
			lifecycle.Row{From: lifecycle.Drowsy, Event: forceSleep, To: lifecycle.Sleep},
			lifecycle.Row{From: lifecycle.Sleep, Event: lifecycle.WakeSignal, To: lifecycle.Wake},
		))
	require.NoError(t, err)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	require.JSONEq(t, string(wantJSON), string(gotJSON))

	to, changed := got.Transition(lifecycle.Drowsy, forceSleep, lifecycle.Guards{})
	require.Equal(t, lifecycle.Sleep, to)
	require.True(t, changed)
}
