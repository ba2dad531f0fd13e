package config

import (
	"fmt"
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
