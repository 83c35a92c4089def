package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

const versionDetails = `Prints the version this binary was built from, as the Go toolchain recorded
it: the module's version (a release tag for "go install ...@v1.2.3", a
pseudo-version or "(devel)" for a build in a checkout), the commit, its
time and whether the tree had uncommitted changes (when built in a git
checkout), and the Go version and platform. "lifecyclectl --version" is the
same. With --json, one object: {"module":...,"version":...,"commit":...,
"commit_time":...,"modified":...,"go":...,"platform":...}; what the build
did not record is left out.
`

type versionCmd struct{ json bool }

func (c *versionCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.json, "json", false, "print the version as one JSON object")
}

// buildVersion is what a binary's build information says of its version.
type buildVersion struct {
	Module     string `json:"module,omitempty"`
	Version    string `json:"version,omitempty"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   *bool  `json:"modified,omitempty"`
	Go         string `json:"go,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// readVersion reads the version from the build information; ok is false for
// a binary built without it.
func readVersion(bi *debug.BuildInfo, ok bool) buildVersion {
	if !ok || bi == nil {
		return buildVersion{}
	}
	v := buildVersion{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			m := s.Value == "true"
			v.Modified = &m
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}

// line is the version as one line: "lifecyclectl VERSION (MODULE, commit
// C of T, modified; GO PLATFORM)".
func (v buildVersion) line() string {
	if v.Module == "" && v.Version == "" {
		return progName + " (version unknown: the binary holds no build information)"
	}
	version := v.Version
	if version == "" {
		version = "(devel)"
	}
	var parts []string
	if v.Module != "" {
		parts = append(parts, v.Module)
	}
	if v.Commit != "" {
		c := "commit " + v.Commit
		if v.CommitTime != "" {
			c += " of " + v.CommitTime
		}
		if v.Modified != nil && *v.Modified {
			c += ", modified"
		}
		parts = append(parts, c)
	}
	tail := strings.TrimSpace(v.Go + " " + v.Platform)
	out := progName + " " + version
	if len(parts) > 0 || tail != "" {
		out += " (" + strings.Join(parts, ", ")
		if tail != "" {
			if len(parts) > 0 {
				out += "; "
			}
			out += tail
		}
		out += ")"
	}
	return out
}

func (c *versionCmd) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("version", "unexpected argument %q", args[0])
	}
	v := readVersion(debug.ReadBuildInfo())
	if c.json {
		return json.NewEncoder(e.out).Encode(v)
	}
	_, err := fmt.Fprintln(e.out, v.line())
	return err
}
