package contract

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAppendUnixTime(t *testing.T) {
	if got := string(appendUnixTime(nil, time.Time{})); got != "null" {
		t.Fatalf("zero time: %s", got)
	}
	ts := time.Unix(1711234567, 123456789)
	if got := string(appendUnixTime(nil, ts)); got != "1711234567.123" {
		t.Fatalf("got %s, want 1711234567.123", got)
	}
	if got := string(appendMillis(nil, 1500*time.Microsecond)); got != "1.500" {
		t.Fatalf("got %s, want 1.500", got)
	}
}

func TestAppendFloatNotANumber(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendFloat(nil, f)); got != "null" {
			t.Errorf("%v: %s, want null", f, got)
		}
	}
	if got := string(appendFloat(nil, 95.5)); got != "95.5" {
		t.Errorf("95.5: %s", got)
	}
}

// EncodeHostFrame gives the bytes of HostFrame(EncodeHost(h)) and of
// EncodeHost(h), the object sharing the frame's buffer; addresses come
// out as netip writes them, the zero one as "invalid AddrPort".
func TestEncodeHostFrame(t *testing.T) {
	odd := web01()
	odd.Conns = []Conn{
		{Family: "ipv6", Address: netip.MustParseAddrPort("[::ffff:192.0.2.1]:1")},
		{Family: "ipv6", Address: netip.MustParseAddrPort("[fe80::1%eth0]:65535")},
		{Family: "ipv4"},
	}
	for _, h := range []*Host{web01(), db01(), odd} {
		frame, obj := EncodeHostFrame(h)
		if want := EncodeHost(h); string(obj) != string(want) {
			t.Errorf("object %s, want %s", obj, want)
		}
		if want := HostFrame(EncodeHost(h)); string(frame) != string(want) {
			t.Errorf("frame %s, want %s", frame, want)
		}
		for _, c := range h.Conns {
			if want := `"address":"` + c.Address.String() + `"`; !strings.Contains(string(obj), want) {
				t.Errorf("%s lacks %s", obj, want)
			}
		}
	}
}

// TestHostSizeHint: a host object with every field at its widest but
// for pathological ones (a global IPv6 address, RTTs of minutes, the
// longest name and agent version; not an address with a zone, or a
// string that needs escapes) fits hostSize: encoding it allocates once.
func TestHostSizeHint(t *testing.T) {
	far := time.Unix(99999999999, 999_000_000)
	wide := Conn{Family: "ipv6", Address: netip.MustParseAddrPort("[2001:db8:1234:5678:9abc:def0:1234:5678]:65535"), LastSeen: far, Up: true,
		RTT: 999 * time.Second, SmoothedRTT: 999 * time.Second, HasRTT: true, LossPct: 33.33,
		RTTQuantiles: [3]uint32{999_999_999, 999_999_999, 999_999_999}, Suspicion: MakeSuspicion(327.123456, true, true)}
	for n := range 3 {
		h := &Host{Name: strings.Repeat("h", 64), Ver: 2, State: "DEGRADED", LastSeen: far, Interval: time.Hour + time.Millisecond,
			AgentVersion: strings.Repeat("v", 255), Conns: slices.Repeat([]Conn{wide}, n)}
		if got := len(AppendHost(nil, h)); got > hostSize(h) {
			t.Errorf("%d connections: %d bytes, hostSize %d", n, got, hostSize(h))
		}
		if allocs := testing.AllocsPerRun(10, func() { EncodeHost(h) }); allocs != 1 {
			t.Errorf("%d connections: EncodeHost allocates %v times, want 1", n, allocs)
		}
	}
}
