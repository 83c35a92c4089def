package lifecycle

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestEncoderWritesTheKnownKeys: the encoder writes each key and the
// decoder sorts keys by knownKeys; the two lists must be the same, in the
// same order, or a known key would come back as an unknown one.
func TestEncoderWritesTheKnownKeys(t *testing.T) {
	r := DefaultRecord(time.Unix(0, 0))
	r.LastTransition = &Transition{From: Wake, To: Drowsy, Event: Idle5Min, Seq: 1, Time: time.Unix(0, 0)}
	data, err := r.MarshalJSON()
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	_, err = dec.Token() // {
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	require.Equal(t, knownKeys[:], keys)
}

// FailStateReads makes every read(2) of a state file fail with err, as a
// failing disk does, until the returned function is called. Tests that use
// it must not run in parallel.
func FailStateReads(err error) (restore func()) {
	sysRead = func(int, []byte) (int, error) { return 0, err }
	return func() { sysRead = unix.Read }
}
