package clusterwire

import (
	"bytes"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleFleet() Fleet {
	return Fleet{
		Origin: "127.0.0.11:51410",
		Hosts: []FleetHost{
			{Name: "web1", State: 1, Dyn: true, Ver: 2, LastSeen: 1_800_000_000_123_456_789, Interval: 10e9, AgentVersion: "0.1.0",
				Conns: []FleetConn{
					{Family: 0, Addr: netip.MustParseAddrPort("127.0.0.1:40000"), Up: true, HasRTT: true, LastSeen: 1_800_000_000e9,
						RTT: 420e3, SRTT: 450e3, LossPct: 1.25, RTTQuantiles: [3]uint32{420, 900, 1200},
						Suspicion: 1<<15 | 613, PhiMean: 10.02, PhiStd: 1.5},
					{Family: 1, Addr: netip.MustParseAddrPort("[::1]:40001"), LastSeen: 1},
				},
				Alerts: []FleetAlert{{Path: "heartbeat", Level: 2, Since: 1_799_999_000e9, JSONOpen: []byte(`{"host":"web1","path":"heartbeat"`)}}},
			{Name: "never", State: 4},
		},
		Removed: []string{"gone1", "gone.example.com"},
	}
}

func TestFleetRoundTrip(t *testing.T) {
	for _, in := range []Fleet{sampleFleet(), {Origin: "a:1"}} {
		k, body, err := ParseHeader(AppendFleet(nil, &in))
		if err != nil || k != KindFleet {
			t.Fatalf("ParseHeader: %v, %v", k, err)
		}
		got, err := DecodeFleet(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("got  %+v\nwant %+v", got, in)
		}
	}
}

func TestFleetRequestRoundTrip(t *testing.T) {
	k, body, err := ParseHeader(AppendFleetRequest(nil, "127.0.0.12:51410"))
	if err != nil || k != KindFleetRequest {
		t.Fatalf("ParseHeader: %v, %v", k, err)
	}
	if o, err := DecodeFleetRequest(body); err != nil || o != "127.0.0.12:51410" {
		t.Fatalf("DecodeFleetRequest = %q, %v", o, err)
	}
}

// Every truncation of a good frame, and a frame claiming more hosts than
// allowed or than it holds, is an error that yields no hosts.
func TestFleetBadFrames(t *testing.T) {
	in := sampleFleet()
	frame := AppendFleet(nil, &in)
	for n := headerLen; n < len(frame); n++ {
		if f, err := DecodeFleet(frame[headerLen:n]); err == nil || len(f.Hosts) != 0 {
			t.Fatalf("truncated to %d of %d bytes: %v, %d hosts", n, len(frame), err, len(f.Hosts))
		}
	}
	many := AppendHeader(nil, KindFleet)
	many = appendString(many, "a:1")
	many = append(many, 0xff, 0xff, 0x03) // 65535 hosts
	if _, err := DecodeFleet(many[headerLen:]); err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Fatalf("a frame of 65535 hosts: %v", err)
	}
	lie := append(AppendHeader(nil, KindFleet), 1, 'a', 10) // 10 hosts in no bytes
	if _, err := DecodeFleet(lie[headerLen:]); err == nil {
		t.Fatal("a count beyond the body decoded")
	}
	trailing := append(bytes.Clone(frame), 0)
	if _, err := DecodeFleet(trailing[headerLen:]); err == nil {
		t.Fatal("trailing bytes decoded")
	}
}

func TestQueryRoundTrip(t *testing.T) {
	q := Query{Origin: "127.0.0.11:51410", URI: "/api/0/hosts/web1/plugins/cpu?limit=5"}
	k, body, err := ParseHeader(AppendQuery(nil, &q))
	if err != nil || k != KindQuery {
		t.Fatalf("ParseHeader: %v, %v", k, err)
	}
	if got, err := DecodeQuery(body); err != nil || got != q {
		t.Fatalf("DecodeQuery = %+v, %v", got, err)
	}
	r := QueryReply{Status: 404, ContentType: "application/json", Headers: [][2]string{{"X-Total-Count", "3"}}, Body: []byte(`{"error":"x"}`)}
	k, body, err = ParseHeader(AppendQueryReply(nil, &r))
	if err != nil || k != KindQueryReply {
		t.Fatalf("ParseHeader: %v, %v", k, err)
	}
	if got, err := DecodeQueryReply(body); err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("DecodeQueryReply = %+v, %v", got, err)
	}
	for _, bad := range []QueryReply{
		{Status: 99},
		{Status: 200, ContentType: "text/plain\r\nSet-Cookie: x"},
		{Status: 200, Headers: [][2]string{{"X-A", "b\nc"}}},
		{Status: 200, Headers: [][2]string{{"", "b"}}},
	} {
		_, body, _ := ParseHeader(AppendQueryReply(nil, &bad))
		if _, err := DecodeQueryReply(body); err == nil {
			t.Errorf("reply %+v decoded", bad)
		}
	}
	_, body, _ = ParseHeader(AppendQuery(nil, &Query{Origin: "a:1", URI: "api/0/hosts"}))
	if _, err := DecodeQuery(body); err == nil {
		t.Error("a relative URI decoded")
	}
}

func FuzzFleet(f *testing.F) {
	in := sampleFleet()
	f.Add(AppendFleet(nil, &in))
	f.Add(AppendFleetRequest(nil, "a:1"))
	f.Add([]byte("HC\x01\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, body, err := ParseHeader(b)
		if err != nil {
			return
		}
		switch k {
		case KindFleet:
			got, err := DecodeFleet(body)
			if err != nil {
				if len(got.Hosts) != 0 || got.Origin != "" {
					t.Fatal("a bad frame returned hosts")
				}
				return
			}
			if len(got.Hosts) > MaxFleetHosts || len(got.Removed) > MaxFleetHosts {
				t.Fatalf("%d hosts, %d removed: beyond the bounds", len(got.Hosts), len(got.Removed))
			}
			// What decodes re-encodes to the same.
			_, body2, _ := ParseHeader(AppendFleet(nil, &got))
			again, err := DecodeFleet(body2)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-encoded frame: %v", err)
			}
		case KindFleetRequest:
			_, _ = DecodeFleetRequest(body)
		}
	})
}

func FuzzQuery(f *testing.F) {
	f.Add(AppendQuery(nil, &Query{Origin: "a:1", URI: "/api/0/hosts/x"}))
	f.Add(AppendQueryReply(nil, &QueryReply{Status: 200, ContentType: "application/json", Headers: [][2]string{{"A", "b"}}, Body: []byte("{}")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, body, err := ParseHeader(b)
		if err != nil {
			return
		}
		switch k {
		case KindQuery:
			if q, err := DecodeQuery(body); err == nil && (q.URI == "" || q.URI[0] != '/') {
				t.Fatalf("query %+v decoded", q)
			}
		case KindQueryReply:
			r, err := DecodeQueryReply(body)
			if err != nil {
				return
			}
			if r.Status < 100 || r.Status > 599 || !printable(r.ContentType) {
				t.Fatalf("reply %+v decoded", r)
			}
			for _, h := range r.Headers {
				if h[0] == "" || !printable(h[0]) || !printable(h[1]) {
					t.Fatalf("header %q decoded", h)
				}
			}
		}
	})
}

// A detector model that is not a number, or a negative deviation, is a
// bad frame.
func TestFleetBadDetectorModel(t *testing.T) {
	for _, c := range []FleetConn{{Suspicion: 1, PhiStd: -1}, {PhiMean: float32(nan()), PhiStd: 1}} {
		in := Fleet{Origin: "a:1", Hosts: []FleetHost{{Name: "h", Conns: []FleetConn{c}}}}
		if f, err := DecodeFleet(AppendFleet(nil, &in)[headerLen:]); err == nil || len(f.Hosts) != 0 {
			t.Errorf("model %g / %g: decoded %+v, %v", c.PhiMean, c.PhiStd, f, err)
		}
	}
}

func nan() float64 { return math.NaN() }
