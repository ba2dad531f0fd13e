package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Daemon is the configuration of the hbd daemon (hbd.toml).
type Daemon struct {
	File string `toml:"-"` // path it was loaded from; "" for defaults

	HBDHost string `toml:"hbd_host"` // HTTP listen address; "" = all interfaces
	HBDPort int    `toml:"hbd_port"` // HTTP API and pages; default 50004
	WSPort  int    `toml:"ws_port"`  // WebSocket listener; default 50005; 0 = no separate listener
	WSSPort int    `toml:"wss_port"` // TLS WebSocket listener; 0 = off

	// CertPath, WSSPem and WSSKey are required when wss_port != 0, and the
	// files must exist. WSSPem and WSSKey are relative to CertPath unless
	// absolute; use WSSPemPath and WSSKeyPath to open them.
	CertPath string `toml:"cert_path"`
	WSSPem   string `toml:"wss_pem"`
	WSSKey   string `toml:"wss_key"`

	// UDPHost is where heartbeats are received: "" = all interfaces, IPv4
	// and IPv6; otherwise an IP literal or a host name, which the daemon
	// resolves when it starts.
	UDPHost       string `toml:"udp_host"`
	UDPPort       int    `toml:"udp_port"`        // default 50003
	UDPRecvBuffer int    `toml:"udp_recv_buffer"` // socket receive buffer in bytes; default 16 MiB, min 64 KiB

	History       int      `toml:"history"`        // samples kept per plugin per host; 1..100000, default 100
	WatchHosts    []string `toml:"watchhosts"`     // hosts expected to report (UNKNOWN until they do)
	AcceptDynamic bool     `toml:"accept_dynamic"` // register hosts not in watchhosts on their first valid datagram; default true
	DownAfter     int      `toml:"down_after"`     // missed heartbeat intervals before a host is DOWN; 1..1000, default 3
	MaxClockSkew  Duration `toml:"max_clock_skew"` // accepted difference between agent and daemon clocks; default 5m

	KeyFile  string            `toml:"key_file"`  // shared HMAC key; "" = <data dir>/hbd.key, created on first start
	HostKeys map[string]string `toml:"host_keys"` // optional per-host key files: host name -> key file path
	DataDir  string            `toml:"data_dir"`  // "" = DefaultDataDir()
	LogLevel string            `toml:"log_level"` // debug, info, warn or error; default info

	// AlertDynamic extends threshold rules without hosts to dynamic hosts
	// (those not in watchhosts); default false, so a host that registers
	// itself cannot page anyone about its samples until it is declared.
	// The heartbeat alert (a host that stops reporting) covers every host
	// either way.
	AlertDynamic bool        `toml:"alert_dynamic"`
	Thresholds   []Threshold `toml:"threshold"` // [[threshold]] rules, in file order
	Notify       []Notify    `toml:"notify"`    // [[notify]] channels, in file order
	Journal      Journal     `toml:"journal"`   // [journal]: the message journal file
	Alerting     Alerting    `toml:"alerting"`  // [alerting]: flap detection
	State        State       `toml:"state"`     // [state]: durable host state
	Deadman      Deadman     `toml:"deadman"`   // [deadman]: the daemon's own outbound heartbeat
	Limits       Limits      `toml:"limits"`    // [limits]: caps on what one agent can make the daemon keep
	Runtime      Runtime     `toml:"runtime"`   // [runtime]: the Go runtime's memory and GC settings
	Liveness     Liveness    `toml:"liveness"`  // [liveness]: how a silent connection is detected (fixed or adaptive)

	// CORSOrigins are the origins allowed to read the HTTP API from a
	// browser: "*" or "scheme://host[:port]". Empty (the default) sends no
	// CORS headers.
	CORSOrigins []string `toml:"cors_origins"`
	// WSOrigins are the Origin headers accepted on WebSocket upgrades, same
	// syntax, besides the daemon's own pages (see PageOrigins). Empty (the
	// default) accepts only those, which stops other sites from reading
	// the feed through a visitor's browser.
	WSOrigins []string `toml:"ws_origins"`
	// WebSocket is [websocket]: limits on each WebSocket client.
	WebSocket WebSocket `toml:"websocket"`

	// API is the [api] table: authentication, TLS, profiling and limits
	// of the HTTP listeners.
	API API `toml:"api"`

	// Cluster is the [cluster] table: this daemon as a member of a
	// cluster. Absent, the daemon runs alone.
	Cluster Cluster `toml:"cluster"`

	// Maintenance is the [[maintenance]] windows, in file order:
	// recurring silences (see Maintenance).
	Maintenance []Maintenance `toml:"maintenance"`
	// Dependencies are the [[dependencies]] rules: which hosts depend on
	// which (see Dependency), in file order.
	Dependencies []Dependency `toml:"dependencies"`
}

// Default ports and sizes of the daemon.
const (
	DefaultHBDPort       = 50004
	DefaultWSPort        = 50005
	DefaultUDPPort       = 50003
	DefaultUDPRecvBuffer = 16 << 20 // bytes
)

// logLevels are the accepted log_level values, in increasing severity.
func logLevels() []string { return []string{"debug", "info", "warn", "error"} }

// DefaultDaemon returns the daemon configuration used when no file is given;
// a file overrides it key by key.
func DefaultDaemon() Daemon {
	return Daemon{
		HBDPort:       DefaultHBDPort,
		WSPort:        DefaultWSPort,
		UDPPort:       DefaultUDPPort,
		UDPRecvBuffer: DefaultUDPRecvBuffer,
		History:       100,
		AcceptDynamic: true,
		DownAfter:     3,
		MaxClockSkew:  Duration{5 * time.Minute},
		LogLevel:      "info",
		Journal:       defaultJournal(),
		Alerting:      defaultAlerting(),
		State:         defaultState(),
		Deadman:       defaultDeadman(),
		WebSocket:     defaultWebSocket(),
		API:           defaultAPI(),
		Limits:        defaultLimits(),
		Runtime:       defaultRuntime(),
		Cluster:       defaultCluster(),
		Liveness:      defaultLiveness(),
	}
}

// LoadDaemon reads, decodes and validates the daemon config at path. With
// path "" it returns the validated defaults. Problems in the file are
// returned as Errors; a file that cannot be read as a wrapped fs error.
func LoadDaemon(path string) (*Daemon, error) {
	if path == "" {
		return ParseDaemon("", nil)
	}
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return ParseDaemon(path, data)
}

// ParseDaemon is LoadDaemon for a config already in memory; name is used as
// Daemon.File and in error messages. It never panics, whatever data holds.
func ParseDaemon(name string, data []byte) (*Daemon, error) {
	d := DefaultDaemon()
	d.File = name
	r := newReport(name)
	if r.decodeFile(data, &d) {
		d.complete(r)
		d.validate(r)
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks d as LoadDaemon does, for configs built in code. The
// returned Errors have no line numbers. It does not fill in the defaults
// that LoadDaemon derives after decoding (see [Notify]), so a Notify built
// in code must set Name, MinLevel and Timeout itself.
func (d *Daemon) Validate() error {
	r := newReport(d.File)
	d.validate(r)
	return r.result()
}

// ResolvedDataDir is DataDir, or DefaultDataDir() when it is empty.
func (d *Daemon) ResolvedDataDir() string {
	if d.DataDir != "" {
		return d.DataDir
	}
	return DefaultDataDir()
}

// JournalDir is the directory of the journal file: Journal.Dir, or the
// data directory when it is empty.
func (d *Daemon) JournalDir() string {
	if d.Journal.Dir != "" {
		return d.Journal.Dir
	}
	return d.ResolvedDataDir()
}

// complete fills in what decoding cannot: defaults that depend on other
// keys, normalised spellings, and the header lines of the [[threshold]] and
// [[notify]] tables. It only touches keys the file does not set, or values
// that are valid once normalised, so validation still sees what the user
// wrote.
func (d *Daemon) complete(r *report) {
	for i := range d.Thresholds {
		d.Thresholds[i].Line = r.lineOf(top("threshold").at(i))
	}
	for i := range d.Notify {
		d.Notify[i].complete(r, top("notify").at(i), i)
	}
	for i := range d.Maintenance {
		d.Maintenance[i].Line = r.lineOf(top("maintenance").at(i))
	}
	for i := range d.Dependencies {
		d.Dependencies[i].Line = r.lineOf(top("dependencies").at(i))
	}
	d.Deadman.complete(r, top("deadman"))
}

// StateDir is the durable state directory: State.Dir, or "state" inside
// the data directory when it is empty.
func (d *Daemon) StateDir() string {
	if d.State.Dir != "" {
		return d.State.Dir
	}
	return filepath.Join(d.ResolvedDataDir(), "state")
}

// ResolvedKeyFile is KeyFile, or hbd.key in the data directory when it is
// empty.
func (d *Daemon) ResolvedKeyFile() string {
	if d.KeyFile != "" {
		return d.KeyFile
	}
	return filepath.Join(d.ResolvedDataDir(), "hbd.key")
}

// WSSPemPath is the certificate file for wss_port: WSSPem joined to CertPath
// unless absolute.
func (d *Daemon) WSSPemPath() string { return underDir(d.CertPath, d.WSSPem) }

// WSSKeyPath is the private key file for wss_port: WSSKey joined to CertPath
// unless absolute.
func (d *Daemon) WSSKeyPath() string { return underDir(d.CertPath, d.WSSKey) }

func underDir(dir, file string) string {
	if file == "" || filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

func top(name string) keyPath { return keyPath{{name: name}} }

func (d *Daemon) validate(r *report) {
	hostOrIP(r, top("hbd_host"), d.HBDHost)
	hostOrIP(r, top("udp_host"), d.UDPHost)
	portRange(r, top("hbd_port"), d.HBDPort, false)
	portRange(r, top("ws_port"), d.WSPort, true)
	portRange(r, top("wss_port"), d.WSSPort, true)
	portRange(r, top("udp_port"), d.UDPPort, false)

	// The TCP listeners cannot share a port; udp_port may equal any of them.
	tcp := []struct {
		key  string
		port int
	}{{"hbd_port", d.HBDPort}, {"ws_port", d.WSPort}, {"wss_port", d.WSSPort}}
	for i := range tcp {
		for j := i + 1; j < len(tcp); j++ {
			a, b := tcp[i], tcp[j]
			if a.port == 0 || a.port != b.port || !r.decoded(top(a.key), top(b.key)) {
				continue
			}
			// Blame the key the user wrote (the later one if both), since
			// the other may just be a default they did not think of.
			blame, other := b.key, a.key
			if r.isSet(top(a.key)) && (!r.isSet(top(b.key)) || r.lineOf(top(a.key)) > r.lineOf(top(b.key))) {
				blame, other = a.key, b.key
			}
			msg := fmt.Sprintf("%s and %s must differ, both are %d", a.key, b.key, a.port)
			if !r.isSet(top(other)) {
				msg += fmt.Sprintf(" (%s by default)", other)
			}
			r.invalid(top(blame), "%s", msg)
		}
	}

	if d.WSSPort != 0 {
		d.validateTLS(r)
	}

	if d.UDPRecvBuffer < 64<<10 || d.UDPRecvBuffer > 1<<31-1 {
		// The upper bound is what setsockopt's C int can carry.
		r.invalid(top("udp_recv_buffer"), "must be between 65536 (64 KiB) and 2147483647 bytes, got %d", d.UDPRecvBuffer)
	}
	intRange(r, top("history"), d.History, 1, 100000)
	intRange(r, top("down_after"), d.DownAfter, 1, 1000)
	if d.MaxClockSkew.Duration <= 0 {
		r.invalid(top("max_clock_skew"), "must be greater than 0, got %s", fmtDuration(d.MaxClockSkew.Duration))
	}

	seen := map[string]int{}
	for i, h := range d.WatchHosts {
		p := top("watchhosts").at(i)
		if !ValidHostName(h) {
			r.invalid(p, "invalid host name %q: %s", h, hostNameRule)
			continue
		}
		if j, dup := seen[h]; dup {
			r.invalid(p, "duplicate host %q (also watchhosts[%d])", h, j)
			continue
		}
		seen[h] = i
	}
	if !d.AcceptDynamic && len(d.WatchHosts) == 0 && r.decoded(top("watchhosts"), top("accept_dynamic")) {
		r.invalid(top("accept_dynamic"), "is false and watchhosts is empty, so no host could ever report; list hosts in watchhosts or set accept_dynamic = true")
	}

	for _, h := range sortedKeys(d.HostKeys) {
		p := top("host_keys").key(h)
		switch {
		case !ValidHostName(h):
			r.invalid(p, "invalid host name %q: %s", h, hostNameRule)
		case d.HostKeys[h] == "":
			r.invalid(p, "key file path must not be empty")
		}
	}
	logLevel(r, d.LogLevel)

	for i := range d.Thresholds {
		d.Thresholds[i].validate(r, top("threshold").at(i))
	}
	names := map[string]int{}
	for i := range d.Notify {
		d.Notify[i].validate(r, top("notify").at(i), names, i)
	}
	d.Journal.validate(r, top("journal"))
	d.Alerting.validate(r, top("alerting"))
	d.State.validate(r, top("state"))
	d.Deadman.validate(r, top("deadman"))
	d.Limits.validate(r, top("limits"))
	d.Runtime.validate(r, top("runtime"))
	d.validateMetricLengths(r)
	d.Liveness.validate(r, top("liveness"), d.DownAfter)
	validateOrigins(r, top("cors_origins"), d.CORSOrigins)
	validateOrigins(r, top("ws_origins"), d.WSOrigins)
	d.WebSocket.validate(r, top("websocket"))
	d.validateAPI(r)
	d.Cluster.validate(r, top("cluster"))
	d.validateMaintenance(r)
	for i := range d.Dependencies {
		d.Dependencies[i].validate(r, top("dependencies").at(i))
	}
	d.validateDependencyLoops(r)
}

// validateMetricLengths checks that every threshold's metric fits
// [limits] metric_path_length: a longer one could never be tracked.
func (d *Daemon) validateMetricLengths(r *report) {
	if !r.decoded(top("limits").key("metric_path_length")) {
		return
	}
	for i := range d.Thresholds {
		if m := d.Thresholds[i].Metric; len(m) > d.Limits.MetricPathLength {
			r.invalid(top("threshold").at(i).key("metric"), "is %d bytes, longer than [limits] metric_path_length (%d): no alert could be tracked for it", len(m), d.Limits.MetricPathLength)
		}
	}
}

// validateTLS checks that wss_port has its certificate and key. It only
// checks that the files exist; the daemon loads them when it starts.
func (d *Daemon) validateTLS(r *report) {
	files := []struct {
		key, path, what string
	}{
		{"wss_pem", d.WSSPemPath(), "certificate (PEM) file"},
		{"wss_key", d.WSSKeyPath(), "private key file"},
	}
	for _, f := range files {
		p := top(f.key)
		if f.path == "" {
			r.invalidAt(top("wss_port"), p, "required when wss_port is set: the TLS %s, relative to cert_path unless absolute", f.what)
			continue
		}
		st, err := os.Stat(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.invalidAt(top("wss_port"), p, "%s %q does not exist", f.what, f.path)
		case err != nil:
			r.invalidAt(top("wss_port"), p, "cannot use %s %q: %v", f.what, f.path, err)
		case !st.Mode().IsRegular():
			r.invalidAt(top("wss_port"), p, "%s %q is not a regular file", f.what, f.path)
		}
	}
}

func hostOrIP(r *report, p keyPath, s string) {
	if s == "" || ValidHostName(s) {
		return
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return
	}
	r.invalid(p, "must be empty (all interfaces), an IP address or a host name, got %q", s)
}

func portRange(r *report, p keyPath, port int, zeroOff bool) {
	switch {
	case port >= 1 && port <= 65535:
	case zeroOff && port == 0:
	case zeroOff:
		r.invalid(p, "must be 0 (off) or between 1 and 65535, got %d", port)
	default:
		r.invalid(p, "must be between 1 and 65535, got %d", port)
	}
}

func intRange(r *report, p keyPath, v, lo, hi int) {
	if v < lo || v > hi {
		r.invalid(p, "must be between %d and %d, got %d", lo, hi, v)
	}
}

func durationRange(r *report, p keyPath, d Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		r.invalid(p, "must be between %s and %s, got %s", fmtDuration(lo), fmtDuration(hi), fmtDuration(d.Duration))
	}
}

func logLevel(r *report, level string) {
	if !slices.Contains(logLevels(), level) {
		r.invalid(top("log_level"), "must be one of %s, got %q", strings.Join(logLevels(), ", "), level)
	}
}
