package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadVersion(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want buildVersion
		line string
	}{
		{"no build information", nil, buildVersion{}, "lifecyclectl (version unknown: the binary holds no build information)"},
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Path: "github.com/iai-mcp/lifecycle", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "arm64"}}},
			buildVersion{Module: "github.com/iai-mcp/lifecycle", Version: "v1.2.3", Go: "go1.26.8", Platform: "darwin/arm64"},
			"lifecyclectl v1.2.3 (github.com/iai-mcp/lifecycle; go1.26.8 darwin/arm64)"},
		{"a build in a modified checkout", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Path: "github.com/iai-mcp/lifecycle", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3372c20d"}, {Key: "vcs.time", Value: "2026-11-30T14:00:00Z"},
				{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}},
			buildVersion{Module: "github.com/iai-mcp/lifecycle", Version: "(devel)", Commit: "3372c20d", CommitTime: "2026-11-30T14:00:00Z",
				Modified: &yes, Go: "go1.26.8", Platform: "linux/amd64"},
			"lifecyclectl (devel) (github.com/iai-mcp/lifecycle, commit 3372c20d of 2026-11-30T14:00:00Z, modified; go1.26.8 linux/amd64)"},
		{"a clean checkout", &debug.BuildInfo{Main: debug.Module{Path: "m", Version: "v0.0.0-20261130140000-3372c20d0000"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3372c20d"}, {Key: "vcs.modified", Value: "false"}}},
			buildVersion{Module: "m", Version: "v0.0.0-20261130140000-3372c20d0000", Commit: "3372c20d", Modified: &no},
			"lifecyclectl v0.0.0-20261130140000-3372c20d0000 (m, commit 3372c20d)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := readVersion(tt.bi, tt.bi != nil)
			require.Equal(t, tt.want, v)
			require.Equal(t, tt.line, v.line())
		})
	}
}
