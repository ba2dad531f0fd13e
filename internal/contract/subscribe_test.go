package contract

import (
	"strings"
	"testing"
)

// The decoding half of the broadcaster's subscription cases: the same
// messages and error texts (actors/broadcast's TestParseSubscription checks
// the globs and types).
func TestDecodeSubscription(t *testing.T) {
	tests := []struct {
		msg          string
		hosts, types string
		wantErr      string
	}{
		{msg: `{"subscribe":{}}`},
		{msg: `{"subscribe":{"hosts":null,"types":null}}`},
		{msg: ` {"subscribe":{"hosts":["web*","db0?"]}} `, hosts: "web*,db0?"},
		{msg: `{"subscribe":{"types":["host","alert"]}}`, types: "host,alert"},
		{msg: ``, wantErr: "cannot decode message: EOF"},
		{msg: `[]`, wantErr: "cannot decode message: json: cannot unmarshal array into Go value of type contract.clientMessage"},
		{msg: `{"subscribe":{"hosts":[1]}}`, wantErr: "cannot decode message: json: cannot unmarshal number into Go struct field .subscribe.hosts of type string"},
		{msg: `{"subscribe":{},"extra":1}`, wantErr: `cannot decode message: json: unknown field "extra"`},
		{msg: `{"subscribe":{"host":["web01"]}}`, wantErr: `cannot decode message: json: unknown field "host"`},
		{msg: `{"subscribe":{}}x`, wantErr: "cannot decode message: data after the JSON object"},
		{msg: `{}`, wantErr: `message has no "subscribe" object`},
	}
	for _, tt := range tests {
		s, err := DecodeSubscription([]byte(tt.msg))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("DecodeSubscription(%s) error = %v, want %q", tt.msg, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodeSubscription(%s): %v", tt.msg, err)
			continue
		}
		if strings.Join(s.Hosts, ",") != tt.hosts || strings.Join(s.Types, ",") != tt.types {
			t.Errorf("DecodeSubscription(%s) = %v/%v, want %s/%s", tt.msg, s.Hosts, s.Types, tt.hosts, tt.types)
		}
	}
}

func TestHostName(t *testing.T) {
	tests := []struct {
		obj  string
		want string
		ok   bool
	}{
		{`{"name":"web01","dyn":false}`, "web01", true},
		{`{"name":"we\"b","dyn":false}`, `we"b`, true},
		{`{"name":"caf\u00e9"}`, "café", true},
		{`{"dyn":true,"name":"db01"}`, "db01", true},
		{`{"dyn":true}`, "", false},
		{`{"name":"unterminated`, "", false},
		{`not json`, "", false},
	}
	for _, tt := range tests {
		got, ok := HostName([]byte(tt.obj))
		if got != tt.want || ok != tt.ok {
			t.Errorf("HostName(%s) = %q, %v; want %q, %v", tt.obj, got, ok, tt.want, tt.ok)
		}
	}
	for _, h := range []*Host{web01(), db01(), {Name: `a"b\c`}} {
		if got, ok := HostName(EncodeHost(h)); !ok || got != h.Name {
			t.Errorf("HostName of %q's object: %q, %v", h.Name, got, ok)
		}
	}
}
