package config

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Cluster is the [cluster] table: this daemon as one member of a cluster
// of daemons that act as one (README "Running several daemons"). Without
// the table (Provider "") the daemon runs alone, exactly as before.
// Every key needs a restart.
type Cluster struct {
	// Name is the cluster's name; members of different names ignore each
	// other. Required.
	Name string `toml:"name"`
	// Listen is the host:port of this member's remote (gRPC) listener,
	// which the other members dial. Required.
	Listen string `toml:"listen"`
	// Advertise is the host:port the other members dial to reach Listen;
	// "" = Listen, which must then name an address (not 0.0.0.0 or ::).
	// Hosts are placed by hashing it: every member must advertise the
	// address the others know it by.
	Advertise string `toml:"advertise"`
	// Provider finds the members: "static" (protoactor's automanaged
	// provider: every member polls every address of Peers) or "etcd"
	// (members register in etcd under EtcdPrefix). Required.
	Provider string `toml:"provider"`
	// Peers are the health endpoints (health_listen) of every member, this
	// one included. static only.
	Peers []string `toml:"peers"`
	// HealthListen is where this member answers the static provider's
	// polls (GET /_health); one of Peers. static only.
	HealthListen string `toml:"health_listen"`
	// Refresh is how often the static provider polls every peer: a member
	// that stopped answering is gone after at most this long. Default 1s,
	// between 0.5s and 10s.
	Refresh Duration `toml:"refresh"`
	// EtcdEndpoints are the etcd client endpoints (host:port or
	// http://host:port). etcd only.
	EtcdEndpoints []string `toml:"etcd_endpoints"`
	// EtcdPrefix is the key prefix the members register under; default
	// "/hbd".
	EtcdPrefix string `toml:"etcd_prefix"`
	// ReplicateEvery is how often each host's state is copied to the
	// member that takes it over if its owner dies (alert changes go at
	// once). Default 2s, between 100ms and 1m.
	ReplicateEvery Duration `toml:"replicate_every"`
	// FleetEvery is how often each member sends the others the hosts that
	// changed, for the API's cluster-wide answers. Default 1s, between
	// 100ms and 1m.
	FleetEvery Duration `toml:"fleet_every"`
}

// Cluster providers.
const (
	ClusterStatic = "static"
	ClusterEtcd   = "etcd"
)

func defaultCluster() Cluster {
	return Cluster{
		Refresh:        Duration{time.Second},
		EtcdPrefix:     "/hbd",
		ReplicateEvery: Duration{2 * time.Second},
		FleetEvery:     Duration{time.Second},
	}
}

// Enabled reports whether the daemon runs as a cluster member.
func (c *Cluster) Enabled() bool { return c.Provider != "" }

// AdvertiseAddr is the address the other members reach this one at:
// Advertise, or Listen when it is empty.
func (c *Cluster) AdvertiseAddr() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	return c.Listen
}

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// clusterKeys are the keys of [cluster], for telling whether the table is
// in the file.
var clusterKeys = []string{"name", "listen", "advertise", "provider", "peers", "health_listen", "refresh",
	"etcd_endpoints", "etcd_prefix", "replicate_every", "fleet_every"}

func (c *Cluster) validate(r *report, p keyPath) {
	written := false
	for _, k := range clusterKeys {
		written = written || r.inFile(p.key(k))
	}
	if !written && !c.Enabled() {
		return
	}
	switch c.Provider {
	case ClusterStatic, ClusterEtcd:
	case "":
		r.invalidAt(p, p.key("provider"), `is required in [cluster]: "static" (a fixed list of peers) or "etcd"`)
	default:
		r.invalid(p.key("provider"), `must be "static" or "etcd", got %q`, c.Provider)
	}
	switch {
	case c.Name == "":
		r.invalidAt(p, p.key("name"), "is required in [cluster]: the cluster's name, the same on every member")
	case !clusterNameRE.MatchString(c.Name):
		r.invalid(p.key("name"), "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", c.Name)
	}
	if c.Listen == "" {
		r.invalidAt(p, p.key("listen"), `is required in [cluster]: host:port of this member's listener for the other members, e.g. "10.0.0.11:50010"`)
	} else if hostPort(r, p.key("listen"), c.Listen) && c.Advertise == "" && unspecified(c.Listen) {
		r.invalid(p.key("listen"), "is %q, which the other members cannot dial: listen on an address or set advertise", c.Listen)
	}
	if c.Advertise != "" && hostPort(r, p.key("advertise"), c.Advertise) && unspecified(c.Advertise) {
		r.invalid(p.key("advertise"), "must be an address the other members can dial, not %q", c.Advertise)
	}
	durationRange(r, p.key("refresh"), c.Refresh, 500*time.Millisecond, 10*time.Second)
	durationRange(r, p.key("replicate_every"), c.ReplicateEvery, 100*time.Millisecond, time.Minute)
	durationRange(r, p.key("fleet_every"), c.FleetEvery, 100*time.Millisecond, time.Minute)
	switch c.Provider {
	case ClusterStatic:
		c.validateStatic(r, p)
	case ClusterEtcd:
		c.validateEtcd(r, p)
	}
}

func (c *Cluster) validateStatic(r *report, p keyPath) {
	if c.HealthListen == "" {
		r.invalidAt(p.key("provider"), p.key("health_listen"), `is required with provider "static": host:port where this member answers the others' polls, e.g. "10.0.0.11:50011"`)
	} else if hostPort(r, p.key("health_listen"), c.HealthListen) {
		if unspecified(c.HealthListen) {
			r.invalid(p.key("health_listen"), "must be one address, not %q: it is also this member's entry in peers", c.HealthListen)
		}
		if c.HealthListen == c.Listen {
			r.invalid(p.key("health_listen"), "must differ from listen, both are %q", c.Listen)
		}
	}
	if len(c.Peers) == 0 {
		r.invalidAt(p.key("provider"), p.key("peers"), `is required with provider "static": every member's health_listen, this one's included`)
		return
	}
	seen := map[string]int{}
	self := false
	for i, peer := range c.Peers {
		ip := p.key("peers").at(i)
		if !hostPort(r, ip, peer) {
			continue
		}
		if j, dup := seen[peer]; dup {
			r.invalid(ip, "duplicate peer %q (also peers[%d])", peer, j)
			continue
		}
		seen[peer] = i
		self = self || peer == c.HealthListen
	}
	if !self && c.HealthListen != "" && r.decoded(p.key("peers"), p.key("health_listen")) {
		r.invalid(p.key("peers"), "must include this member's health_listen %q: every member polls the same list", c.HealthListen)
	}
}

func (c *Cluster) validateEtcd(r *report, p keyPath) {
	if len(c.EtcdEndpoints) == 0 {
		r.invalidAt(p.key("provider"), p.key("etcd_endpoints"), `is required with provider "etcd", e.g. ["127.0.0.1:2379"]`)
	}
	for i, e := range c.EtcdEndpoints {
		ip := p.key("etcd_endpoints").at(i)
		if u, err := url.Parse(e); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			if u.Host == "" || u.Port() == "" {
				r.invalid(ip, "must be host:port or http(s)://host:port, got %q", e)
			}
			continue
		}
		hostPort(r, ip, e)
	}
	if !strings.HasPrefix(c.EtcdPrefix, "/") || len(c.EtcdPrefix) > 256 || strings.ContainsAny(c.EtcdPrefix, "\x00 ") {
		r.invalid(p.key("etcd_prefix"), `must start with "/", have no spaces and be at most 256 bytes, got %q`, c.EtcdPrefix)
	}
}

// hostPort checks that s is host:port with an IP or host name and a port
// 1..65535, and says so at p if not.
func hostPort(r *report, p keyPath, s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		r.invalid(p, "must be host:port, got %q", s)
		return false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		r.invalid(p, "port must be between 1 and 65535, got %q", port)
		return false
	}
	if _, err := netip.ParseAddr(host); err != nil && !ValidHostName(host) {
		r.invalid(p, "host must be an IP address or a host name, got %q", host)
		return false
	}
	return true
}

// unspecified reports whether host:port s names every interface.
func unspecified(s string) bool {
	host, _, _ := net.SplitHostPort(s)
	a, err := netip.ParseAddr(host)
	return host == "" || (err == nil && a.IsUnspecified())
}
