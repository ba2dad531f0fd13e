package config

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPageOrigins(t *testing.T) {
	addrs := []netip.Addr{
		netip.MustParseAddr("10.0.0.5"),
		netip.MustParseAddr("2001:db8::5"),
		netip.MustParseAddr("fe80::1"),          // link-local: browsers take no such URL
		netip.MustParseAddr("fe80::2%eth0"),     // zoned, likewise
		netip.MustParseAddr("::ffff:192.0.2.7"), // an IPv4 address, mapped
		netip.MustParseAddr("127.0.0.1"),        // already there
		netip.MustParseAddr("0.0.0.0"),          // never an origin
		netip.MustParseAddr("2001:db8:0::5"),    // twice, spelled otherwise
	}
	both := func(hostports ...string) []string {
		var out []string
		for _, hp := range hostports {
			out = append(out, "http://"+hp, "https://"+hp)
		}
		return out
	}
	loop := []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080"}
	tests := []struct {
		host     string
		hostname string
		addrs    []netip.Addr
		want     []string
	}{
		{"monitor.example.com", "box", addrs, both("monitor.example.com:8080")},
		{"Monitor.Example.com", "box", nil, both("monitor.example.com:8080")},
		{"10.0.0.5", "box", addrs, both("10.0.0.5:8080")},
		{"2001:db8::5", "box", addrs, both("[2001:db8::5]:8080")},
		{"127.0.0.1", "box", addrs, both("127.0.0.1:8080", "localhost:8080", "[::1]:8080")},
		{"::1", "box", addrs, both("[::1]:8080", "localhost:8080", "127.0.0.1:8080")},
		{"127.0.0.2", "box", addrs, both(append([]string{"127.0.0.2:8080"}, loop...)...)},
		{"localhost", "box", addrs, both(loop...)},
		{"", "", nil, both(loop...)},
		{"", "not a name!", nil, both(loop...)},
		{"0.0.0.0", "Box", []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::5")},
			both(append(loop, "box:8080", "10.0.0.5:8080", "[2001:db8::5]:8080")...)},
		{"::", "box", addrs, both(append(loop, "box:8080", "10.0.0.5:8080", "[2001:db8::5]:8080", "192.0.2.7:8080")...)},
	}
	for _, tt := range tests {
		d := DefaultDaemon()
		d.HBDHost, d.HBDPort = tt.host, 8080
		if got := d.PageOrigins(tt.hostname, tt.addrs); !slices.Equal(got, tt.want) {
			t.Errorf("hbd_host %q, hostname %q:\ngot  %q\nwant %q", tt.host, tt.hostname, got, tt.want)
		}
	}
	// Every page origin is one ws_origins would accept.
	d := DefaultDaemon()
	for _, o := range d.PageOrigins("box", addrs) {
		if err := checkOrigin(o); err != nil {
			t.Errorf("page origin %q: %v", o, err)
		}
	}
}
