package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/hbd-project/hbd", Version: "v0.0.0-20261203113556-1af52cf7e1d2+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "1af52cf7e1d2aaaa"},
			{Key: "vcs.time", Value: "2026-12-03T11:35:56Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                 string
		bi                   *debug.BuildInfo
		ldVer, ldCom, ldDate string
		want                 Info
	}{
		{name: "nothing known", bi: nil,
			want: Info{Version: unknown, Commit: unknown, Date: unknown, GoVersion: runtime.Version()}},
		{name: "plain go build without VCS stamping", bi: &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: unknown, Commit: unknown, Date: unknown, GoVersion: "go1.99.1"}},
		{name: "VCS stamping only", bi: vcs,
			want: Info{Version: "v0.0.0-20261203113556-1af52cf7e1d2+dirty", Commit: "1af52cf7e1d2aaaa", Date: "2026-12-03T11:35:56Z", Modified: true, GoVersion: "go1.99.1"}},
		{name: "go install of a release", bi: &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.4.0"}},
			want: Info{Version: "v1.4.0", Commit: unknown, Date: unknown, GoVersion: "go1.99.1"}},
		{name: "ldflags win over build info", bi: vcs, ldVer: "v1.2.3", ldCom: "deadbeef", ldDate: "2026-01-02T03:04:05Z",
			// vcs.modified still says the tree was dirty.
			want: Info{Version: "v1.2.3", Commit: "deadbeef", Date: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99.1"}},
		{name: "git describe --dirty", bi: nil, ldVer: "v1.2.3-4-gabcdef0-dirty", ldCom: " abcdef0 ",
			want: Info{Version: "v1.2.3-4-gabcdef0-dirty", Commit: "abcdef0", Date: unknown, Modified: true, GoVersion: runtime.Version()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.bi, tc.ldVer, tc.ldCom, tc.ldDate)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("resolve = %+v\nwant      %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	in := Info{Version: "v1.2.3", Commit: "abc", Date: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99.1", Platform: "linux/arm64"}
	want := "hbd-agent version v1.2.3\n  commit:     abc (modified)\n  build date: 2026-01-02T03:04:05Z\n  go version: go1.99.1\n  platform:   linux/arm64\n"
	if got := in.String("hbd-agent"); got != want {
		t.Errorf("String =\n%s\nwant\n%s", got, want)
	}
}

// A test binary has build info of its own: Get must read it, not fail.
func TestGetReadsThisBinary(t *testing.T) {
	in := Get()
	if in.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want %q", in.GoVersion, runtime.Version())
	}
	if in.Version == "" || in.Commit == "" || in.Date == "" || !strings.Contains(in.Platform, "/") {
		t.Errorf("Get = %+v: a field is empty", in)
	}
}
