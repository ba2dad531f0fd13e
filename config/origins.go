package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// validateOrigins checks cors_origins or ws_origins: each entry "*" or an
// origin as browsers send it in the Origin header.
func validateOrigins(r *report, p keyPath, origins []string) {
	seen := map[string]int{}
	for i, o := range origins {
		ep := p.at(i)
		if o != "*" {
			if err := checkOrigin(o); err != nil {
				r.invalid(ep, "%s", err.Error())
				continue
			}
		}
		// Browsers send scheme and host in lower case.
		k := strings.ToLower(o)
		if j, dup := seen[k]; dup {
			r.invalid(ep, "duplicate origin %q (also %s[%d])", o, p.String(), j)
			continue
		}
		seen[k] = i
	}
}

// checkOrigin accepts scheme://host[:port] with an http or https scheme,
// which is what the Origin header holds; it is compared as a string, so
// anything more (a path, even "/") would never match.
func checkOrigin(o string) error {
	const want = `want "*" or scheme://host[:port], e.g. "https://grafana.example.com"`
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("invalid origin %q: %s", o, want)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fmt.Errorf("invalid origin %q: the scheme must be http or https", o)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(o, "#") {
		return fmt.Errorf("invalid origin %q: an origin has no user, path, query or fragment (not even a trailing \"/\"): %s", o, want)
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("invalid origin %q: only IPv6 addresses go in brackets", o)
		}
	} else if _, err := netip.ParseAddr(host); err != nil && !ValidHostName(host) {
		return fmt.Errorf("invalid origin %q: bad host %q", o, host)
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid origin %q: the port must be between 1 and 65535", o)
		}
	}
	return nil
}

// PageOrigins returns the origins of the daemon's own pages (/live,
// /plugins, /alerts, served on hbd_port), which may open the WebSocket
// stream besides ws_origins: hbd_host on hbd_port, by http and https.
//
//   - hbd_host a loopback address or "localhost": also localhost,
//     127.0.0.1 and [::1].
//   - hbd_host empty or 0.0.0.0 or :: (all interfaces): the loopback names,
//     and the machine's own names, which a browser elsewhere uses to reach
//     it: hostname (if it is a valid host name) and the addresses in addrs
//     (link-local ones left out: browsers do not take them in URLs).
//
// None comes from a request. The request's Host header carries whatever
// name the visitor's browser resolved, and DNS rebinding lets an attacker
// point a name of theirs at this daemon; only names the operator or the
// machine chose are trusted. Any other name the pages are reached by (a
// DNS alias, a reverse proxy) goes in ws_origins.
func (d *Daemon) PageOrigins(hostname string, addrs []netip.Addr) []string {
	host := strings.ToLower(d.HBDHost)
	var names []string
	loopback, all := host == "localhost", host == ""
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		loopback, all = a.IsLoopback(), a.IsUnspecified()
		if !all {
			names = append(names, a.String())
		}
	} else if host != "" {
		names = append(names, host)
	}
	if loopback || all {
		names = append(names, "localhost", "127.0.0.1", "::1")
	}
	if all {
		if h := strings.ToLower(hostname); ValidHostName(h) {
			names = append(names, h)
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.IsValid() && !a.IsLinkLocalUnicast() && !a.IsUnspecified() && a.Zone() == "" {
				names = append(names, a.String())
			}
		}
	}
	port := strconv.Itoa(d.HBDPort)
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		hp := net.JoinHostPort(n, port)
		for _, scheme := range []string{"http", "https"} {
			if o := scheme + "://" + hp; !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}
