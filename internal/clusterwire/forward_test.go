package clusterwire

import (
	"net/netip"
	"reflect"
	"testing"
)

func forwardFrame(origin string, fs []Forwarded) []byte {
	var entries []byte
	for i := range fs {
		entries = AppendForwardEntry(entries, &fs[i])
	}
	return AppendForward(nil, origin, len(fs), entries)
}

func TestForwardRoundTrip(t *testing.T) {
	in := []Forwarded{
		{Socket: 0, Recv: 1_700_000_000_123_456_789, From: netip.MustParseAddrPort("127.0.0.1:40000"), Raw: []byte("HB datagram")},
		{Socket: 1, Recv: -5, From: netip.MustParseAddrPort("[2001:db8::1]:1"), Raw: []byte{}},
		{Socket: 2, Recv: 0, Raw: make([]byte, MaxDatagram)},
	}
	k, body, err := ParseHeader(forwardFrame("127.0.0.11:51310", in))
	if err != nil || k != KindForward {
		t.Fatalf("ParseHeader: %v, %v", k, err)
	}
	var got []Forwarded
	err = DecodeForward(body, func(origin string, f *Forwarded) {
		if origin != "127.0.0.11:51310" {
			t.Errorf("origin %q", origin)
		}
		got = append(got, *f)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %+v\nwant %+v", got, in)
	}
}

func TestAcksRoundTrip(t *testing.T) {
	in := []AckEntry{
		{Socket: 1, To: netip.MustParseAddrPort("127.0.0.1:5"), Host: "web1", V1: true, Seq: 1 << 60, Sent: 12345, Recv: 67890},
		{Socket: 0, To: netip.MustParseAddrPort("[::1]:50003"), Host: "db_2", Seq: 0, Sent: -1, Recv: 1},
	}
	var entries []byte
	for i := range in {
		entries = AppendAckEntry(entries, &in[i])
	}
	k, body, err := ParseHeader(AppendAcks(nil, len(in), entries))
	if err != nil || k != KindAcks {
		t.Fatalf("ParseHeader: %v, %v", k, err)
	}
	var got []AckEntry
	if err := DecodeAcks(body, func(a *AckEntry) { got = append(got, *a) }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %+v\nwant %+v", got, in)
	}
}

// A bad frame is an error and applies nothing, not even its good entries.
func TestForwardBadFrames(t *testing.T) {
	good := forwardFrame("a:1", []Forwarded{{Raw: []byte("x")}, {Raw: []byte("y")}})
	_, body, _ := ParseHeader(good)
	for name, b := range map[string][]byte{
		"truncated":   body[:len(body)-1],
		"extra":       append(append([]byte{}, body...), 0),
		"count":       append(appendString(nil, "a:1"), 0xff, 0xff, 0x01),
		"addr length": append(appendString(nil, "a:1"), 1, 0, 0, 7),
		"long origin": append(appendString(nil, string(make([]byte, 300))), 0),
	} {
		applied := 0
		if err := DecodeForward(b, func(string, *Forwarded) { applied++ }); err == nil || applied != 0 {
			t.Errorf("%s: err %v, %d applied", name, err, applied)
		}
	}
}

func FuzzForward(f *testing.F) {
	f.Add(forwardFrame("127.0.0.11:51310", []Forwarded{{Socket: 1, Recv: 9, From: netip.MustParseAddrPort("127.0.0.1:9"), Raw: []byte("d")}}))
	f.Add([]byte("HC\x01\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, body, err := ParseHeader(b)
		if err != nil || k != KindForward {
			return
		}
		var got []Forwarded
		var origin string
		if DecodeForward(body, func(o string, f *Forwarded) { origin = o; got = append(got, *f) }) != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := forwardFrame(origin, got)
		_, body2, _ := ParseHeader(again)
		var got2 []Forwarded
		if err := DecodeForward(body2, func(_ string, f *Forwarded) { got2 = append(got2, *f) }); err != nil || len(got2) != len(got) {
			t.Fatalf("re-encoded frame: %v, %d of %d entries", err, len(got2), len(got))
		}
	})
}

func FuzzAcks(f *testing.F) {
	e := AppendAckEntry(nil, &AckEntry{Socket: 1, To: netip.MustParseAddrPort("127.0.0.1:5"), Host: "h", Seq: 3, Sent: 4, Recv: 5})
	f.Add(AppendAcks(nil, 1, e))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, body, err := ParseHeader(b)
		if err != nil || k != KindAcks {
			return
		}
		n := 0
		if DecodeAcks(body, func(a *AckEntry) {
			n++
			if len(a.Host) > maxName || a.Socket > 255 {
				t.Fatalf("entry out of bounds: %+v", a)
			}
		}) != nil && n != 0 {
			t.Fatal("a bad frame applied entries")
		}
	})
}
