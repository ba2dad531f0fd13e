package bench

import (
	"net/netip"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	lo4 := netip.MustParseAddrPort("127.0.0.1:50003")
	lo6 := netip.MustParseAddrPort("[::1]:50003")
	tests := []struct {
		name    string
		targets []netip.AddrPort
		urls    []string
		ok      bool
	}{
		{"loopback targets and URLs", []netip.AddrPort{lo4, lo6}, []string{"http://127.0.0.1:50004", "ws://[::1]:50005/hbd", ""}, true},
		{"127/8 is loopback", []netip.AddrPort{netip.MustParseAddrPort("127.3.4.5:1")}, nil, true},
		{"mapped loopback", []netip.AddrPort{netip.MustParseAddrPort("[::ffff:127.0.0.1]:1")}, nil, true},
		{"remote target", []netip.AddrPort{lo4, netip.MustParseAddrPort("192.0.2.7:50003")}, nil, false},
		{"unspecified target", []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:50003")}, nil, false},
		{"remote HTTP", []netip.AddrPort{lo4}, []string{"http://192.0.2.7:50004"}, false},
		{"remote WebSocket", []netip.AddrPort{lo4}, []string{"", "ws://[2001:db8::1]:50005/hbd"}, false},
		{"garbage URL", []netip.AddrPort{lo4}, []string{"http://"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLoopback(t.Context(), tt.targets, tt.urls)
			if (err == nil) != tt.ok {
				t.Errorf("CheckLoopback = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestResolveTargets(t *testing.T) {
	got, err := ResolveTargets(t.Context(), []string{"127.0.0.1:50003", "[::1]:50003"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != netip.MustParseAddrPort("127.0.0.1:50003") || got[1] != netip.MustParseAddrPort("[::1]:50003") {
		t.Fatalf("got %v", got)
	}
	if _, err := ResolveTargets(t.Context(), []string{"127.0.0.1"}); err == nil {
		t.Error("an address without a port was accepted")
	}
}
