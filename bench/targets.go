package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

// ResolveTargets turns "host:port" strings into addresses. A name resolves
// to its first address; give an IPv4 and an IPv6 literal to test both
// families.
func ResolveTargets(ctx context.Context, addrs []string) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			out = append(out, ap)
			continue
		}
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve target %q: %w", a, err)
		}
		ap := ua.AddrPort()
		out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return out, nil
}

// CheckLoopback returns an error naming the first target or URL that is
// not on this machine's loopback interface. Names in URLs are resolved and
// every address they resolve to must be loopback. The harness refuses
// remote targets unless told otherwise, because a load test aimed at the
// wrong address is a denial-of-service attack on it.
func CheckLoopback(ctx context.Context, targets []netip.AddrPort, urls []string) error {
	for _, t := range targets {
		if !t.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("target %s is not a loopback address (use -allow-remote to load a remote daemon)", t)
		}
	}
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return fmt.Errorf("invalid URL %q", raw)
		}
		host := u.Hostname()
		if a, err := netip.ParseAddr(host); err == nil {
			if !a.Unmap().IsLoopback() {
				return fmt.Errorf("URL %s is not on a loopback address (use -allow-remote to load a remote daemon)", raw)
			}
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("cannot resolve %s: %w", raw, err)
		}
		for _, a := range ips {
			if !a.Unmap().IsLoopback() {
				return fmt.Errorf("URL %s resolves to %s, not a loopback address (use -allow-remote to load a remote daemon)", raw, a)
			}
		}
	}
	return nil
}
