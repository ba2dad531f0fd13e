package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Deadman is the [deadman] table: the daemon's own outbound heartbeat, so
// that someone notices when hbd itself dies. Either target, or both, may be
// set; with neither the daemon sends nothing.
//
//   - URL gets a request every Interval, as healthchecks.io-style services
//     and Alertmanager Watchdog receivers expect; they alert when the
//     requests stop.
//   - Peer is another hbd's UDP address: the daemon sends it signed
//     heartbeats as an agent would, with the fleet key, so two daemons can
//     watch each other.
//
// LoadDaemon upper-cases Method and, when timeout is not in the file,
// shortens Timeout to half of Interval if that is less than 10s.
type Deadman struct {
	URL    string `toml:"url"`    // http or https; "" = no URL pings
	Method string `toml:"method"` // GET (default) or POST; POST sends an empty body
	// Interval is how often both targets are pinged; default 1m, between
	// 100ms and 24h.
	Interval Duration `toml:"interval"`
	// Timeout bounds one URL request, and how long the peer's ACK is
	// awaited; default 10s, less than Interval.
	Timeout Duration `toml:"timeout"`
	Peer    string   `toml:"peer"` // host:port of another hbd's udp_port; "" = none
	// Name is the host name the peer sees; "" = this machine's host name.
	Name string `toml:"name"`
}

// Deadman defaults and limits.
const (
	DefaultDeadmanInterval = time.Minute
	DefaultDeadmanTimeout  = 10 * time.Second
	minDeadmanInterval     = 100 * time.Millisecond
	maxDeadmanInterval     = 24 * time.Hour
)

func defaultDeadman() Deadman {
	return Deadman{Method: "GET", Interval: Duration{DefaultDeadmanInterval}, Timeout: Duration{DefaultDeadmanTimeout}}
}

func deadmanMethods() []string { return []string{"GET", "POST"} }

// Enabled reports whether the daemon has anything to ping.
func (d *Deadman) Enabled() bool { return d.URL != "" || d.Peer != "" }

// complete normalises method and derives the timeout default from the
// interval (see Deadman).
func (d *Deadman) complete(r *report, p keyPath) {
	if up := strings.ToUpper(d.Method); slices.Contains(deadmanMethods(), up) {
		d.Method = up
	}
	if !r.isSet(p.key("timeout")) && d.Interval.Duration > 0 && d.Interval.Duration/2 < d.Timeout.Duration {
		// A short interval is a test or a tight watch; a default timeout
		// longer than it would only be an error to fix.
		d.Timeout = Duration{d.Interval.Duration / 2}
	}
}

func (d *Deadman) validate(r *report, p keyPath) {
	up, pp := p.key("url"), p.key("peer")
	if !d.Enabled() && r.inFile(p) {
		r.invalid(p, `needs url, peer or both: the URL to ping (e.g. "https://hc-ping.com/<uuid>") or another hbd's UDP address (e.g. "hbd2.example.com:50003")`)
	}
	if d.URL != "" {
		if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.invalid(up, "must be an absolute http or https URL, got %q", d.URL)
		}
	}
	mp := p.key("method")
	switch {
	case !slices.Contains(deadmanMethods(), strings.ToUpper(d.Method)):
		r.invalid(mp, "must be GET or POST, got %q", d.Method)
	case d.URL == "" && r.inFile(mp):
		r.invalid(mp, "is set but url is empty, so it would never be used")
	}
	if d.Peer != "" && !validHostPort(d.Peer) {
		r.invalid(pp, `must be host:port of another hbd's udp_port, e.g. "hbd2.example.com:50003" or "[2001:db8::3]:50003", got %q`, d.Peer)
	}
	np := p.key("name")
	switch {
	case d.Name != "" && !ValidHostName(d.Name):
		r.invalid(np, "invalid host name %q: %s", d.Name, hostNameRule)
	case d.Name != "" && d.Peer == "":
		r.invalid(np, "is set but peer is empty, so it would never be used")
	}

	ip, tp := p.key("interval"), p.key("timeout")
	durationRange(r, ip, d.Interval, minDeadmanInterval, maxDeadmanInterval)
	switch {
	case d.Timeout.Duration <= 0:
		r.invalid(tp, "must be greater than 0, got %s", fmtDuration(d.Timeout.Duration))
	case d.Timeout.Duration >= d.Interval.Duration && r.decoded(ip):
		// One ping must be over before the next is due.
		r.invalid(tp, "must be less than interval (%s), got %s", fmtDuration(d.Interval.Duration), fmtDuration(d.Timeout.Duration))
	}
}
