package ws

import (
	"path"
	"slices"
	"strings"
	"testing"
)

func TestParseSubscription(t *testing.T) {
	tests := []struct {
		msg     string
		hosts   []string
		types   []string
		wantErr string
	}{
		{msg: `{"subscribe":{}}`},
		{msg: `{"subscribe":{"hosts":null,"types":null}}`},
		{msg: ` {"subscribe":{"hosts":["web*","db0?"]}} `, hosts: []string{"web*", "db0?"}},
		{msg: `{"subscribe":{"types":["host","plugin","alert","message"]}}`, types: []string{"host", "plugin", "alert", "message"}},
		{msg: `{"subscribe":{"types":["alert","alert"]}}`, types: []string{"alert"}},
		{msg: ``, wantErr: "cannot decode"},
		{msg: `[]`, wantErr: "cannot decode"},
		{msg: `{"subscribe":{"types":["snapshot"]}}`, wantErr: `unknown type "snapshot"`},
		{msg: `{"subscribe":{"hosts":["[a-"]}}`, wantErr: "invalid host pattern"},
		{msg: `{"subscribe":{"hosts":["web\\"]}}`, wantErr: "invalid host pattern"},
		{msg: `{"subscribe":{"hosts":[1]}}`, wantErr: "cannot decode"},
		{msg: `{"subscribe":{},"extra":1}`, wantErr: `unknown field "extra"`},
		{msg: `{"subscribe":{}}x`, wantErr: "data after"},
		{msg: `{"subscribe":{"hosts":[` + strings.Repeat(`"a",`, DefaultMaxGlobs-1) + `"a"]}}`, hosts: slices.Repeat([]string{"a"}, DefaultMaxGlobs)},
		{msg: `{"subscribe":{"hosts":[` + strings.Repeat(`"a",`, DefaultMaxGlobs) + `"a"]}}`, wantErr: "too many host patterns: 65 (at most 64)"},
		{msg: `{"subscribe":{"hosts":["` + strings.Repeat("a", 512) + `"]}}`, hosts: []string{strings.Repeat("a", 512)}},
		{msg: `{"subscribe":{"hosts":["` + strings.Repeat("a", 513) + `"]}}`, wantErr: "host pattern of 513 bytes is too long (at most 512)"},
	}
	for _, tt := range tests {
		f, err := parseSubscription([]byte(tt.msg), DefaultMaxGlobs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSubscription(%s) error = %v, want %q", tt.msg, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSubscription(%s): %v", tt.msg, err)
			continue
		}
		if !slices.Equal(f.Hosts(), tt.hosts) || !slices.Equal(f.Types(), tt.types) {
			t.Errorf("parseSubscription(%s) = %v/%v, want %v/%v", tt.msg, f.Hosts(), f.Types(), tt.hosts, tt.types)
		}
	}
}

func FuzzParseSubscription(f *testing.F) {
	for _, s := range []string{
		`{"subscribe":{"hosts":["web*"],"types":["host","alert"]}}`,
		`{"subscribe":{}}`,
		`{"subscribe":{"hosts":["[a-"]}}`,
		`{}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		flt, err := parseSubscription(msg, DefaultMaxGlobs)
		if err != nil {
			if flt != nil {
				t.Fatal("filter returned with an error")
			}
			return
		}
		for _, p := range flt.Hosts() {
			if _, err := path.Match(p, "web01"); err != nil {
				t.Fatalf("accepted invalid pattern %q", p)
			}
		}
		for _, typ := range flt.Types() {
			if !slices.Contains([]string{"host", "plugin", "alert", "message"}, typ) {
				t.Fatalf("types %v has an unknown type", flt.Types())
			}
		}
		flt.Wants("host", "web01") // must not panic
	})
}
