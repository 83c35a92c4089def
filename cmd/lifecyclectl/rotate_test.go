package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRotateNamesTheFilesItLeaves: a plain file held open elsewhere (here a
// writer's descriptor) is left, named with the reason, and is not "nothing
// to rotate"; the other old files are rotated; the exit is clean.
func TestRotateNamesTheFilesItLeaves(t *testing.T) {
	for _, tc := range []struct {
		name string
		json bool
	}{
		{"text", false},
		{"json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			require.NoError(t, os.Mkdir(logs, 0o700))
			held := filepath.Join(logs, "lifecycle-events-2020-01-01.jsonl")
			free := filepath.Join(logs, "lifecycle-events-2020-01-02.jsonl")
			for _, p := range []string{held, free} {
				require.NoError(t, os.WriteFile(p, []byte(`{"ts":"2020-01-01T10:00:00+00:00","event":"wrapper_event"}`+"\n"), 0o600))
			}
			// Backdated past the grace period that decides where no lease
			// can tell whether a file is open.
			old := time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC)
			require.NoError(t, os.Chtimes(free, old, old))
			h, err := os.OpenFile(held, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			defer h.Close()

			args := []string{"--dir", dir, "rotate"}
			if tc.json {
				args = append(args, "--json")
			}
			var stdout, stderr bytes.Buffer
			require.Equal(t, exitOK, run(args, &stdout, &stderr), stderr.String())
			require.Empty(t, stderr.String())
			require.FileExists(t, held)
			require.NoFileExists(t, free)
			require.FileExists(t, free+".gz")
			if !tc.json {
				require.Regexp(t, `^rotated `+regexp.QuoteMeta(free)+` -> lifecycle-events-2020-01-02.jsonl.gz\n`+
					`left `+regexp.QuoteMeta(held)+`: [a-z ]+; a later rotation takes it\n$`, stdout.String())
				return
			}
			var out struct {
				Rotated []rotated  `json:"rotated"`
				Left    []leftFile `json:"left"`
			}
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &out))
			require.Equal(t, []rotated{{free, free + ".gz"}}, out.Rotated)
			require.Len(t, out.Left, 1)
			require.Equal(t, held, out.Left[0].File)
			require.NotEmpty(t, out.Left[0].Reason)
		})
	}
}
