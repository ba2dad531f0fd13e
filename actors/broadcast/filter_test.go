package broadcast

import (
	"path"
	"strings"
	"testing"
)

func TestParseSubscription(t *testing.T) {
	tests := []struct {
		msg     string
		hosts   []string
		types   uint8
		wantErr string
	}{
		{msg: `{"subscribe":{}}`},
		{msg: `{"subscribe":{"hosts":null,"types":null}}`},
		{msg: ` {"subscribe":{"hosts":["web*","db0?"]}} `, hosts: []string{"web*", "db0?"}},
		{msg: `{"subscribe":{"types":["host","plugin","alert","message"]}}`, types: typeHost | typePlugin | typeAlert | typeMessage},
		{msg: `{"subscribe":{"types":["alert","alert"]}}`, types: typeAlert},
		{msg: ``, wantErr: "cannot decode"},
		{msg: `[]`, wantErr: "cannot decode"},
		{msg: `{"subscribe":{"types":["snapshot"]}}`, wantErr: `unknown type "snapshot"`},
		{msg: `{"subscribe":{"hosts":["[a-"]}}`, wantErr: "invalid host pattern"},
		{msg: `{"subscribe":{"hosts":["web\\"]}}`, wantErr: "invalid host pattern"},
		{msg: `{"subscribe":{"hosts":[1]}}`, wantErr: "cannot decode"},
		{msg: `{"subscribe":{},"extra":1}`, wantErr: `unknown field "extra"`},
		{msg: `{"subscribe":{}}x`, wantErr: "data after"},
		{msg: `{"subscribe":{"hosts":[` + strings.Repeat(`"a",`, maxPatterns) + `"a"]}}`, wantErr: "too many host patterns"},
	}
	for _, tt := range tests {
		f, err := parseSubscription([]byte(tt.msg))
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
		if strings.Join(f.hosts, ",") != strings.Join(tt.hosts, ",") || f.types != tt.types {
			t.Errorf("parseSubscription(%s) = %v/%b, want %v/%b", tt.msg, f.hosts, f.types, tt.hosts, tt.types)
		}
	}
}

func TestFilterWants(t *testing.T) {
	web := &filter{hosts: []string{"web*"}}
	alerts := &filter{types: typeAlert | typeHost}
	both := &filter{hosts: []string{"web0[1-2]", "db01"}, types: typePlugin}
	tests := []struct {
		f          *filter
		typ, host  string
		wantResult bool
	}{
		{&filter{}, "host", "web01", true},
		{&filter{}, "message", "", true},
		{&filter{}, "future-type", "web01", true},
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
		if got := tt.f.wants(tt.typ, tt.host); got != tt.wantResult {
			t.Errorf("%+v.wants(%q, %q) = %v, want %v", *tt.f, tt.typ, tt.host, got, tt.wantResult)
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
		got, ok := hostName([]byte(tt.obj))
		if got != tt.want || ok != tt.ok {
			t.Errorf("hostName(%s) = %q, %v; want %q, %v", tt.obj, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClientQueueBounds(t *testing.T) {
	frame := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name      string
		maxFrames int
		maxBytes  int
		push      []int  // frame sizes; negative means a snapshot (not counted in bytes)
		accepted  []bool // per push
	}{
		{"frame bound", 3, 1 << 20, []int{1, 1, 1, 1}, []bool{true, true, true, false}},
		{"byte bound", 100, 10, []int{4, 4, 3, 2}, []bool{true, true, false, true}},
		{"snapshot does not count bytes", 100, 10, []int{-50, 10, 1}, []bool{true, true, false}},
		{"snapshot counts as a frame", 2, 10, []int{-50, 1, 1}, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{maxFrames: tt.maxFrames, maxBytes: tt.maxBytes, wake: make(chan struct{}, 1)}
			for i, n := range tt.push {
				counted := n >= 0
				if !counted {
					n = -n
				}
				if got := c.enqueue(frame(n), counted); got != tt.accepted[i] {
					t.Fatalf("push %d (%d bytes, counted %v) = %v, want %v", i, n, counted, got, tt.accepted[i])
				}
			}
		})
	}
}

func TestClientQueueOrderAndReuse(t *testing.T) {
	c := &client{maxFrames: 4, maxBytes: 1 << 20, wake: make(chan struct{}, 1)}
	next := 0
	// Keep the queue partly full for many rounds, so that the written
	// prefix is reused, and check FIFO order and the byte count throughout.
	for round := range 100 {
		for c.enqueue([]byte{byte(round), byte(next)}, true) {
			next++
		}
		frames, bytes := c.pending()
		if frames != 4 || bytes != 8 {
			t.Fatalf("round %d: pending = %d frames %d bytes, want 4, 8", round, frames, bytes)
		}
		for range 3 {
			f, st := c.next()
			if st != stateOpen || f == nil {
				t.Fatalf("round %d: next = %v, %v", round, f, st)
			}
		}
		if cap(c.queue) > 8 {
			t.Fatalf("round %d: queue grew to capacity %d with at most 4 waiting", round, cap(c.queue))
		}
	}
	var last byte
	for i := 0; ; i++ {
		f, _ := c.next()
		if f == nil {
			break
		}
		if i > 0 && f[1] != last+1 {
			t.Fatalf("frame %d out of order: %d after %d", i, f[1], last)
		}
		last = f[1]
	}
	if frames, bytes := c.pending(); frames != 0 || bytes != 0 {
		t.Errorf("pending after draining = %d, %d", frames, bytes)
	}
	c.markDead()
	if !c.enqueue([]byte("x"), true) {
		t.Error("a dead client must accept and drop frames, not ask to be cut off again")
	}
	if f, st := c.next(); f != nil || st != stateDead {
		t.Errorf("next on a dead client = %v, %v", f, st)
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
		flt, err := parseSubscription(msg)
		if err != nil {
			if flt != nil {
				t.Fatal("filter returned with an error")
			}
			return
		}
		for _, p := range flt.hosts {
			if _, err := path.Match(p, "web01"); err != nil {
				t.Fatalf("accepted invalid pattern %q", p)
			}
		}
		if flt.types&^(typeHost|typePlugin|typeAlert|typeMessage) != 0 {
			t.Fatalf("types %b has unknown bits", flt.types)
		}
		flt.wants("host", "web01") // must not panic
	})
}
