package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// kp builds a key path: strings are table keys, ints are array indexes.
func kp(parts ...any) keyPath {
	var p keyPath
	for _, x := range parts {
		switch v := x.(type) {
		case string:
			p = p.key(v)
		case int:
			p = p.at(v)
		}
	}
	return p
}

func TestScanKeyLines(t *testing.T) {
	t.Parallel()
	type want struct {
		path keyPath
		line int // 0 = must not be found
	}
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"top-level keys", "a = 1\n\n  b = \"x\" # c = 3\n", []want{
			{kp("a"), 1}, {kp("b"), 3}, {kp("c"), 0},
		}},
		{"tables", "x = 1\n[t]\nk = 2\n[u.v]\nk = 3\n", []want{
			{kp("x"), 1}, {kp("t"), 2}, {kp("t", "k"), 3}, {kp("u"), 4}, {kp("u", "v"), 4}, {kp("u", "v", "k"), 5},
		}},
		{"arrays of tables", "[[exec]]\nname = \"a\"\n\n[[exec]]\nname = \"b\"\ntimeout = \"1s\"\n", []want{
			{kp("exec"), 1}, {kp("exec", 0), 1}, {kp("exec", 0, "name"), 2},
			{kp("exec", 1), 4}, {kp("exec", 1, "name"), 5}, {kp("exec", 1, "timeout"), 6},
		}},
		{"sub-table of an array element", "[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2\n", []want{
			{kp("a", 0, "b", "c"), 3}, {kp("a", 1, "b"), 5}, {kp("a", 1, "b", "c"), 6},
		}},
		{"dotted and quoted keys", "plugins.cpu_monitor.enabled = false\n\"web1.example.com\" = 1\n'lit.key' . x = 2\n[host_keys]\n\"a\\u0062c\" = \"k\"\n", []want{
			{kp("plugins"), 1}, {kp("plugins", "cpu_monitor"), 1}, {kp("plugins", "cpu_monitor", "enabled"), 1},
			{kp("web1.example.com"), 2}, {kp("lit.key", "x"), 3}, {kp("host_keys", "abc"), 5},
			{kp("web1"), 0},
		}},
		{"multi-line arrays", "w = [\n  \"a\", # one\n  \"b\",\n\n  [1, 2],\n]\nnext = 1\n", []want{
			{kp("w"), 1}, {kp("w", 0), 2}, {kp("w", 1), 3}, {kp("w", 2), 5}, {kp("w", 2, 1), 5}, {kp("next"), 7},
		}},
		{"multi-line strings hide their content", "s = \"\"\"\nfake = 1\n[fake]\n\"\"\"\nl = '''\nx = 2\n'''\nreal = 3\n", []want{
			{kp("s"), 1}, {kp("fake"), 0}, {kp("x"), 0}, {kp("l"), 5}, {kp("real"), 8},
		}},
		{"multi-line string with quotes and escapes", "s = \"\"\"a\\\" \"\" \\\n  b\"\"\"\"\"\nt = 1\n", []want{
			{kp("t"), 3},
		}},
		{"inline tables", "p = { a = 1, b = { c = [\"x\", \"y\"] } }\ne = [ { n = 1 },\n  { n = 2 } ]\n", []want{
			{kp("p", "a"), 1}, {kp("p", "b", "c", 1), 1}, {kp("e", 0, "n"), 2}, {kp("e", 1, "n"), 3},
		}},
		{"strings with brackets and hashes", "a = \"[x] # y = 1\"\nb = 'c = d'\nc = 1\n", []want{
			{kp("a"), 1}, {kp("y"), 0}, {kp("b"), 2}, {kp("c"), 3},
		}},
		{"date-times and CRLF", "d = 1979-05-27 07:32:00Z\r\ne = 1\r\n", []want{
			{kp("d"), 1}, {kp("e"), 2},
		}},
		{"byte order mark", "\xef\xbb\xbfa = 1\n", []want{{kp("a"), 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The scanner only ever sees documents the parser accepted.
			var tree map[string]any
			if _, err := toml.Decode(tt.src, &tree); err != nil {
				t.Fatalf("test document is not valid TOML: %v", err)
			}
			got := scanKeyLines([]byte(tt.src))
			for _, w := range tt.want {
				if line := got[w.path.canon()]; line != w.line {
					t.Errorf("%s: line %d, want %d (all: %v)", w.path, line, w.line, got)
				}
			}
		})
	}
}

func TestKeyPathString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    keyPath
		want string
	}{
		{kp("hbd_port"), "hbd_port"},
		{kp("exec", 1, "timeout"), "exec[1].timeout"},
		{kp("host_keys", "web1.example.com"), `host_keys."web1.example.com"`},
		{kp("watchhosts", 0), "watchhosts[0]"},
		{kp(""), `""`},
		{kp("a", 0, 1), "a[0][1]"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	// A quoted key that looks like a path must not collide with the path.
	if kp("a.b").canon() == kp("a", "b").canon() || kp("a[0]").canon() == kp("a", 0).canon() {
		t.Error("canon() is ambiguous")
	}
}
