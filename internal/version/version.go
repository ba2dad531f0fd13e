// Package version tells which build of hbd is running: the version, the
// commit, the build date and the Go toolchain, for -version and the
// /metrics build info.
//
// Two sources, the first that knows wins:
//
//   - values set at link time with -ldflags -X (the Makefile passes the
//     output of `git describe --tags --always --dirty`, the commit and the
//     date, so packages and container images name a release);
//   - what the Go toolchain records in the binary (runtime/debug
//     ReadBuildInfo): the module version for `go install ...@v1.2.3`, and
//     vcs.revision, vcs.time and vcs.modified for a build in a checkout
//     with VCS stamping on.
//
// Whatever neither knows is "unknown", never empty, so a bug report always
// shows which parts were missing.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker: -X github.com/hbd-project/hbd/internal/version.version=v1.2.3
// (and .commit, .date). Empty in a plain `go build`.
var (
	version string
	commit  string
	date    string
)

const unknown = "unknown"

// Info describes one build.
type Info struct {
	Version   string // e.g. v1.2.3, v1.2.3-4-gabcdef0-dirty, or "unknown"
	Commit    string // full or abbreviated revision, or "unknown"
	Date      string // build (or commit) time, RFC 3339, or "unknown"
	Modified  bool   // built from a tree with uncommitted changes (vcs.modified)
	GoVersion string // runtime.Version() of the toolchain that built it
	Platform  string // GOOS/GOARCH
}

// Get returns this binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(bi, version, commit, date)
}

// resolve merges the link-time values (preferred) with the build info
// (which may be nil).
func resolve(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) Info {
	in := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var vcsRev, vcsTime, modVersion string
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		// "(devel)" is what a build in the main module without VCS
		// stamping says: no version at all.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			modVersion = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	in.Version = first(ldVersion, modVersion)
	in.Commit = first(ldCommit, vcsRev)
	in.Date = first(ldDate, vcsTime)
	// git describe --dirty already says so; with build info only, the
	// module version of a dirty tree ends in "+dirty" (Go 1.24+).
	if strings.HasSuffix(in.Version, "-dirty") || strings.HasSuffix(in.Version, "+dirty") {
		in.Modified = true
	}
	return in
}

func first(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return unknown
}

// String is the -version text, the layout Prometheus' exporters use:
//
//	hbd version v1.2.3
//	  commit:     0123abc (modified)
//	  build date: 2026-12-03T11:35:56Z
//	  go version: go1.26.0
//	  platform:   linux/amd64
func (in Info) String(program string) string {
	c := in.Commit
	if in.Modified {
		c += " (modified)"
	}
	return fmt.Sprintf("%s version %s\n  commit:     %s\n  build date: %s\n  go version: %s\n  platform:   %s\n",
		program, in.Version, c, in.Date, in.GoVersion, in.Platform)
}
