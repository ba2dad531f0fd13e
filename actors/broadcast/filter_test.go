package broadcast

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

// newFilter builds a filter as NewFilter does.
func newFilter(types uint8, hosts ...string) *Filter {
	f := &Filter{types: types}
	if len(hosts) > 0 {
		f.hosts = hosts
	}
	for _, h := range hosts {
		f.globs = append(f.globs, compileGlob(h))
	}
	return f
}

func TestFilterWants(t *testing.T) {
	web := newFilter(0, "web*")
	alerts := newFilter(typeAlert | typeHost)
	both := newFilter(typePlugin, "web0[1-2]", "db01")
	tests := []struct {
		f          *Filter
		typ, host  string
		wantResult bool
	}{
		{&Filter{}, "host", "web01", true},
		{&Filter{}, "message", "", true},
		{&Filter{}, "future-type", "web01", true},
		{web, "plugin", "web01", true},
		{web, "plugin", "db01", false},
		{web, "message", "", false},
		{web, "plugin", "web01.example.com", true},
		{alerts, "alert", "db01", true},
		{alerts, "host", "db01", true},
		{alerts, "plugin", "db01", false},
		{alerts, "future-type", "db01", false},
		{both, "plugin", "web02", true},
		{both, "plugin", "web03", false},
		{both, "plugin", "db01", true},
		{both, "alert", "db01", false},
	}
	for _, tt := range tests {
		if got := tt.f.Wants(tt.typ, tt.host); got != tt.wantResult {
			t.Errorf("%+v.Wants(%q, %q) = %v, want %v", *tt.f, tt.typ, tt.host, got, tt.wantResult)
		}
	}
}

// globCases are patterns and names whose results must equal path.Match's.
var globCases = struct{ patterns, names []string }{
	patterns: []string{
		"web*", "*", "**", "*01", "w*b*1", "web0?", "?", "[a-c]*", "[^a-c]*", "[\\]a]*", "[\\-]", "\\*", "a\\*b",
		"*.example.com", "*[0-9]", "[!]", "[a-]]", "*/*", "a/*", "*a*a*a*b", "[é-ü]x", "?x", "*x*", "web[0-9][0-9]",
		"[*]", "[*]*", "\\[a*", "caf\\é", "ab[", "a*b*c*d*e*f",
	},
	names: []string{
		"", "web", "web01", "web01.example.com", "db01", "a", "b", "]", "-", "*", "a*b", "axb", "a/b", "/", "éx", "üx",
		"ax", "aaaaaaaaab", "aaaaaaaaa", "abcdef", "xabcdefx", "web99", "[abc", "café",
	},
}

func TestGlobMatchesLikePathMatch(t *testing.T) {
	for _, p := range globCases.patterns {
		if _, err := path.Match(p, ""); err != nil {
			if _, perr := NewFilter([]string{p}, nil); perr == nil {
				t.Errorf("pattern %q: path.Match refuses it (%v), NewFilter accepts it", p, err)
			}
			continue
		}
		g := compileGlob(p)
		for _, n := range globCases.names {
			want, _ := path.Match(p, n)
			if got := g.match(n); got != want {
				t.Errorf("glob %q on %q = %v, path.Match says %v", p, n, got, want)
			}
		}
	}
}

func FuzzGlob(f *testing.F) {
	for _, p := range globCases.patterns {
		for _, n := range globCases.names[:8] {
			f.Add(p, n)
		}
	}
	f.Fuzz(func(t *testing.T, p, name string) {
		if _, err := path.Match(p, ""); err != nil {
			return
		}
		want, _ := path.Match(p, name)
		g := compileGlob(p)
		if got := g.match(name); got != want {
			t.Fatalf("glob %q on %q = %v, path.Match says %v", p, name, got, want)
		}
	})
}

// BenchmarkGlob compares the compiled glob with path.Match on realistic
// host names, for an ordinary glob and for long ones chosen to be costly.
// go test -run XXX -bench Glob ./actors/broadcast
func BenchmarkGlob(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("web-%04d.dc1.example.com", i)
	}
	for _, p := range []struct{ name, glob string }{
		{"ordinary", "web-00*"},
		{"star-literal-500", "*" + strings.Repeat("web-0", 100)},
		{"stars-500", strings.Repeat("*e", 250)},
	} {
		g := compileGlob(p.glob)
		b.Run(p.name+"/compiled", func(b *testing.B) {
			for range b.N {
				for _, n := range names {
					g.match(n)
				}
			}
		})
		b.Run(p.name+"/path.Match", func(b *testing.B) {
			for range b.N {
				for _, n := range names {
					_, _ = path.Match(p.glob, n)
				}
			}
		})
	}
}
