package lifecycle_test

import (
	"bytes"
	"os"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// A FIFO at the state path that holds bytes is not read as the state file:
// Dispatch refuses it, as LoadState does. (Bytes a Machine read or wrote
// last are known to come from a regular file; only others cost an fstat.)
func TestDispatchRefusesAFIFOThatHoldsBytes(t *testing.T) {
	dir := t.TempDir()
	m, err := lifecycle.New(dir)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Dispatch(lifecycle.HeartbeatRefresh, lifecycle.Guards{})
	require.NoError(t, err)
	data, err := os.ReadFile(m.StatePath())
	require.NoError(t, err)
	require.NoError(t, os.Remove(m.StatePath()))
	require.NoError(t, syscall.Mkfifo(m.StatePath(), 0o600))
	w, err := os.OpenFile(m.StatePath(), os.O_RDWR, 0) // a writer, so the FIFO holds bytes
	require.NoError(t, err)
	defer w.Close()
	// Bytes that are not the Machine's own last ones: another record.
	_, err = w.Write(bytes.Replace(data, []byte(`"wrapper_event_seq": 1`), []byte(`"wrapper_event_seq": 7`), 1))
	require.NoError(t, err)

	_, lerr := lifecycle.LoadState(m.StatePath())
	require.Error(t, lerr, "LoadState refuses a FIFO")
	_, err = m.Dispatch(lifecycle.Tick, lifecycle.Guards{})
	require.Error(t, err, "Dispatch read a FIFO as the state file")
}
