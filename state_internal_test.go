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

// fileSizeValues are JSON values to measure: every token the indenter
// treats apart, at several depths.
var fileSizeValues = []string{
	`{}`, `{"a":1}`, `{"a":[]}`, `{"a":{}}`, `{ "a" : [ 1 , 2 , { } , [ ] ] , "b" : null }`,
	`{"s":"comma, colon: {brace} [bracket] \"quote\" \\ \/ \u00e9 \ud83d\ude00"}`,
	"{\"u\":\"é ☃ 😀\"}", "{\"bad\":\"\xff\xfe\"}", "{\n\t\"n\": -1.5e+3,\r\n \"t\": true, \"f\": false}",
	`{"a":{"b":{"c":{"d":[[[[]]],[[1]],{"e":{}}]}}}}`, " \n {} \t\r\n ", `1 `, `"s" `,
}

// TestFileSizeIsTheFileLength: fileSize counts exactly the bytes fileBytes
// writes, wherever a JSON value sits in the record.
func TestFileSizeIsTheFileLength(t *testing.T) {
	for _, v := range fileSizeValues {
		require.True(t, json.Valid([]byte(v)), v)
		r := DefaultRecord(time.Unix(1, 0))
		r.SleepCycleProgress = json.RawMessage(v)
		r.Quarantine = &Quarantine{UntilTS: "é", Reason: "r", SinceTS: "s", Extra: []Field{{"q", json.RawMessage(v)}}}
		r.Extra = []Field{{"x", json.RawMessage(v)}, {"ü", json.RawMessage(`[` + v + `,` + v + `]`)}}
		if checkObjectOrNull(r.SleepCycleProgress) != nil {
			r.SleepCycleProgress = nil
		}
		r.TransitionSeq = 1
		r.LastTransition = &Transition{From: Wake, To: Drowsy, Event: Idle5Min, Seq: 1, Time: time.Unix(1, 0)}
		data, err := r.fileBytes()
		require.NoError(t, err)
		require.Equal(t, len(data), r.fileSize(), "%s:\n%s", v, data)
	}
}

// FuzzFileSize: for any JSON object, fileSize is the length of the file.
func FuzzFileSize(f *testing.F) {
	for _, v := range fileSizeValues {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if checkObjectOrNull(v) != nil {
			return
		}
		r := DefaultRecord(time.Unix(1, 0))
		r.SleepCycleProgress = v
		data, err := r.fileBytes()
		require.NoError(t, err)
		require.Equal(t, len(data), r.fileSize(), "%q", v)
	})
}

// benchRecord is a record like a daemon's: a transition made, sleep cycle
// progress and a quarantine set.
func benchRecord() Record {
	r := DefaultRecord(time.Date(2026, 11, 25, 22, 45, 32, 123456000, time.UTC))
	r.TransitionSeq = 41
	r.LastTransition = &Transition{From: Wake, To: Drowsy, Event: Idle5Min, Seq: 41, Time: r.SinceTS}
	r.SleepCycleProgress = json.RawMessage(`{"step":"consolidate","done":["prune","index"],"started_ts":"2026-11-25T22:40:00+00:00"}`)
	r.Quarantine = &Quarantine{UntilTS: "2026-11-26T00:00:00+00:00", Reason: "three failures", SinceTS: "2026-11-25T22:00:00+00:00"}
	return r
}

// BenchmarkStateBytes: what a save spends before its system calls:
// validation, the size check, the encoding.
func BenchmarkStateBytes(b *testing.B) {
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stateBytes("state.json", r, defaultTable); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRecord: what a read of bytes a Machine has not seen
// spends after its system calls.
func BenchmarkDecodeRecord(b *testing.B) {
	data, err := benchRecord().fileBytes()
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRecord(data, defaultTable); err != nil {
			b.Fatal(err)
		}
	}
}
