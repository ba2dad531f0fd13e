package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hbd-project/hbd/internal/deps"
)

// Agent is the configuration of hbd-agent (hbd-agent.toml).
type Agent struct {
	File string `toml:"-"` // path it was loaded from; "" for defaults
	// Builtins names the built-in plugins, in order: the agent's registry
	// (agent/plugins.Names), handed to DefaultAgent, LoadAgent or
	// ParseAgent. The config keeps no list of its own, so a plugin is
	// added in one place.
	Builtins []string `toml:"-"`

	// Name is the host name the agent reports; default os.Hostname().
	Name string `toml:"name"`
	// Servers are the daemons to report to, each "host", "host:port",
	// "[v6]:port" or an IPv6 literal; the port defaults to 50003. Split them
	// with ParseServer. An entry of several addresses joined by ';' is one
	// cluster ("a:50003;b:50003"): the agent sends to one of its members
	// at a time and fails over to the next when ACKs stop (SplitServers
	// splits it). Default ["localhost:50003"].
	Servers  []string `toml:"servers"`
	Interval Duration `toml:"interval"` // heartbeat period; 1s..1h, default 10s
	// FailoverAfter is how long the member of a cluster entry the agent
	// sends to may leave it without an ACK before the agent moves to the
	// next member; 0 = 2 × Interval (FailoverPeriod). At least
	// 1.5 × Interval, so one lost heartbeat does not move it, and less
	// than 3 × Interval, the daemon's default down_after, so the host
	// moves before it could be called DOWN.
	FailoverAfter Duration `toml:"failover_after"`
	KeyFile       string   `toml:"key_file"`      // "" = hbd.key in DefaultDataDir(), shared with a daemon on the same machine
	ResolveEvery  Duration `toml:"resolve_every"` // how often server names are re-resolved; 1s..24h, default 5m

	// Plugins configures the built-in plugins ([plugins.cpu_monitor] ...);
	// keys must be in Builtins. DefaultAgent fills in every built-in plugin,
	// and a table in the file overrides it key by key.
	Plugins  map[string]Plugin `toml:"plugins"`
	Exec     []Exec            `toml:"exec"` // [[exec]] tables: external commands run as plugins
	LogLevel string            `toml:"log_level"`

	// Parents are the hosts this host depends on (the switch it hangs
	// off, its hypervisor), at most 8: while one is DOWN, this host
	// stopping is UNREACHABLE on the daemon and pages nobody. The daemon
	// merges them after its own [[dependencies]] rules. DeclareParents
	// says the key is in the file: an empty list then withdraws what an
	// earlier run declared; absent, the agent declares nothing.
	Parents        []string `toml:"parents"`
	DeclareParents bool     `toml:"-"`
}

// Plugin configures one built-in plugin.
type Plugin struct {
	Enabled  *bool    `toml:"enabled"`  // default true; a pointer so that "not set" is visible
	Interval Duration `toml:"interval"` // sampling period; 1s..24h, default 30s
}

// Exec is an external command run as a plugin. Its standard output is the
// sample.
type Exec struct {
	Name string `toml:"name"` // required; plugin-name rule; unique; not a built-in plugin's name
	// Command is the program and its arguments: a list, run without a
	// shell; a string, split into words (SplitCommand) and run without a
	// shell; or, with Shell, a string run by /bin/sh -c.
	Command Command `toml:"command" example:"\"/usr/bin/foo -x\" or [\"/usr/bin/foo\", \"-x\"]"`
	Shell   bool    `toml:"shell"` // run Command (a string) with /bin/sh -c
	// Format is how the command's output is read: "json" (one JSON object,
	// the sample) or "nagios" (a monitoring-plugins check: exit status,
	// output line and performance data).
	Format   string   `toml:"format"`
	Interval Duration `toml:"interval"` // 1s..24h, default 30s
	// Timeout bounds one run; default: the smaller of 10s and 80% of
	// Interval. One written in the file must be less than Interval.
	Timeout Duration `toml:"timeout"`
}

// The values of Exec.Format.
const (
	ExecFormatJSON   = "json"
	ExecFormatNagios = "nagios"
)

// ExecFormats lists the valid values of Exec.Format, the default first.
func ExecFormats() []string { return []string{ExecFormatJSON, ExecFormatNagios} }

const (
	defaultPluginInterval = 30 * time.Second
	defaultExecTimeout    = 10 * time.Second
	maxPluginInterval     = 24 * time.Hour
)

func (p *Plugin) setDefaults() {
	on := true
	p.Enabled = &on
	p.Interval = Duration{defaultPluginInterval}
}

func (e *Exec) setDefaults() {
	e.Interval = Duration{defaultPluginInterval}
	e.Format = ExecFormatJSON
}

// defaultExecTimeoutFor is the timeout of an exec plugin that sets none:
// 10s, or 80% of a shorter interval, so that interval = "1s" works as
// written and a run still ends before the next is due.
func defaultExecTimeoutFor(interval time.Duration) time.Duration {
	return min(defaultExecTimeout, interval*8/10)
}

// DefaultAgent returns the agent configuration used when no file is given;
// a file overrides it key by key. Name is os.Hostname(), or "" if that
// fails (validation then asks the user to set name). builtins names the
// built-in plugins; it is copied.
func DefaultAgent(builtins []string) Agent {
	name, err := os.Hostname()
	if err != nil {
		name = ""
	}
	a := Agent{
		Builtins:     slices.Clone(builtins),
		Name:         name,
		Servers:      []string{"localhost:" + strconv.Itoa(DefaultUDPPort)},
		Interval:     Duration{10 * time.Second},
		ResolveEvery: Duration{5 * time.Minute},
		Plugins:      map[string]Plugin{},
		LogLevel:     "info",
	}
	for _, n := range builtins {
		var p Plugin
		p.setDefaults()
		a.Plugins[n] = p
	}
	return a
}

// LoadAgent reads, decodes and validates the agent config at path, whose
// [plugins.NAME] tables must name one of builtins. With path "" it returns
// the validated defaults. Problems in the file are returned as Errors; a
// file that cannot be read as a wrapped fs error.
func LoadAgent(path string, builtins []string) (*Agent, error) {
	if path == "" {
		return ParseAgent("", nil, builtins)
	}
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return ParseAgent(path, data, builtins)
}

// ParseAgent is LoadAgent for a config already in memory; name is used as
// Agent.File and in error messages. It never panics, whatever data holds.
func ParseAgent(name string, data []byte, builtins []string) (*Agent, error) {
	a := DefaultAgent(builtins)
	a.File = name
	r := newReport(name)
	if r.decodeFile(data, &a) {
		a.DeclareParents = r.inFile(top("parents"))
		a.validate(r)
		a.validateParents(r)
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Validate checks a as LoadAgent does, for configs built in code. The
// returned Errors have no line numbers.
func (a *Agent) Validate() error {
	r := newReport(a.File)
	a.validate(r)
	return r.result()
}

// PluginEnabled reports whether the built-in plugin name should run: true
// unless its table sets enabled = false; false for names that are not
// built-in plugins.
func (a *Agent) PluginEnabled(name string) bool {
	if !slices.Contains(a.Builtins, name) {
		return false
	}
	p, ok := a.Plugins[name]
	return !ok || p.Enabled == nil || *p.Enabled
}

// PluginInterval is the sampling period of plugin name: its configured
// interval, or the 30 s default.
func (a *Agent) PluginInterval(name string) time.Duration {
	if p, ok := a.Plugins[name]; ok && p.Interval.Duration > 0 {
		return p.Interval.Duration
	}
	return defaultPluginInterval
}

// FailoverPeriod is FailoverAfter, or twice the heartbeat interval when
// it is not set.
func (a *Agent) FailoverPeriod() time.Duration {
	if a.FailoverAfter.Duration > 0 {
		return a.FailoverAfter.Duration
	}
	return 2 * a.Interval.Duration
}

// SplitServers splits a servers entry into its members: one address for a
// daemon of its own, several for the members of one cluster, written
// "a:50003;b:50003;c:50003". Spaces around each member are dropped; an
// empty member stays, for validation to report.
func SplitServers(entry string) []string {
	members := strings.Split(entry, ";")
	for i, m := range members {
		members[i] = strings.TrimSpace(m)
	}
	return members
}

// ResolvedKeyFile is KeyFile, or hbd.key in DefaultDataDir() when it is
// empty, which is where a daemon on the same machine keeps its key.
func (a *Agent) ResolvedKeyFile() string {
	if a.KeyFile != "" {
		return a.KeyFile
	}
	return filepath.Join(DefaultDataDir(), "hbd.key")
}

// ParseServer splits a servers entry into host and port. It accepts "host",
// "host:port", "[v6]:port", "[v6]" and bare IP literals (IPv6 zones
// included); the port defaults to 50003. The host is returned without
// brackets and is not resolved.
func ParseServer(s string) (host string, port int, err error) {
	if s == "" {
		return "", 0, errors.New("empty server address")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, DefaultUDPPort, nil
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case strings.HasPrefix(s, "["):
		if host, portStr, err = net.SplitHostPort(s); err != nil {
			return "", 0, fmt.Errorf("invalid address %q: write IPv6 with a port as [addr]:port", s)
		}
	case strings.Count(s, ":") == 1:
		host, portStr, _ = strings.Cut(s, ":")
	case strings.Contains(s, ":"):
		return "", 0, fmt.Errorf("invalid address %q: not an IPv6 address, and a port needs [addr]:port", s)
	}
	if strings.HasPrefix(s, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("invalid address %q: only IPv6 addresses go in brackets", s)
		}
	} else if !ValidHostName(host) {
		return "", 0, fmt.Errorf("invalid host name %q: %s", host, hostNameRule)
	}
	port = DefaultUDPPort
	if portStr != "" || strings.HasSuffix(s, ":") {
		port, err = strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("invalid port %q in %q: must be between 1 and 65535", portStr, s)
		}
	}
	return host, port, nil
}

func (a *Agent) validate(r *report) {
	switch name := top("name"); {
	case ValidHostName(a.Name):
	case r.isSet(name):
		r.invalid(name, "invalid host name %q: %s", a.Name, hostNameRule)
	case a.Name == "":
		r.invalid(name, "required: the machine's host name could not be read; set name in the config file")
	default:
		r.invalid(name, "the machine's host name %q is not a valid hbd host name (%s); set name in the config file", a.Name, hostNameRule)
	}

	if len(a.Servers) == 0 && r.decoded(top("servers")) {
		r.invalid(top("servers"), "at least one server is required")
	}
	seen := map[string]int{}
	for i, entry := range a.Servers {
		p := top("servers").at(i)
		members := SplitServers(entry)
		for _, s := range members {
			host, port, err := ParseServer(s)
			if err != nil {
				if len(members) > 1 {
					r.invalid(p, "cluster member %q: %s", s, err.Error())
				} else {
					r.invalid(p, "%s", err.Error())
				}
				break
			}
			hp := net.JoinHostPort(host, strconv.Itoa(port))
			if j, dup := seen[hp]; dup {
				r.invalid(p, "duplicate server %q (also servers[%d])", s, j)
				break
			}
			seen[hp] = i
		}
	}

	durationRange(r, top("interval"), a.Interval, time.Second, time.Hour)
	a.validateFailover(r)
	durationRange(r, top("resolve_every"), a.ResolveEvery, time.Second, maxPluginInterval)

	known := a.Builtins
	for _, name := range sortedKeys(a.Plugins) {
		p := top("plugins").key(name)
		if !slices.Contains(known, name) {
			// The list is short, so show it rather than guess: "gpu_monitor"
			// is one letter from "cpu_monitor" but is not a typo of it.
			r.invalid(p, "unknown plugin %q; the built-in plugins are %s (use [[exec]] to run other commands)", name, strings.Join(known, ", "))
			continue
		}
		durationRange(r, p.key("interval"), a.Plugins[name].Interval, time.Second, maxPluginInterval)
	}

	names := map[string]int{}
	for i := range a.Exec {
		e := &a.Exec[i]
		p := top("exec").at(i)
		np := p.key("name")
		switch {
		case e.Name == "":
			r.invalidAt(p, np, "required: the plugin name its samples are reported under")
		case !validPluginName(e.Name):
			r.invalid(np, "invalid name %q: use 1-64 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'", e.Name)
		case slices.Contains(known, e.Name):
			r.invalid(np, "%q is the name of a built-in plugin; choose another", e.Name)
		default:
			if j, dup := names[e.Name]; dup {
				r.invalid(np, "duplicate name %q (also exec[%d])", e.Name, j)
			} else {
				names[e.Name] = i
			}
		}
		e.validateCommand(r, p)
		if fp := p.key("format"); !slices.Contains(ExecFormats(), e.Format) {
			r.invalid(fp, "must be one of %s, got %q", strings.Join(ExecFormats(), ", "), e.Format)
		}
		ip, tp := p.key("interval"), p.key("timeout")
		durationRange(r, ip, e.Interval, time.Second, maxPluginInterval)
		if e.Timeout.Duration == 0 && !r.inFile(tp) {
			e.Timeout = Duration{defaultExecTimeoutFor(e.Interval.Duration)}
		}
		switch {
		case e.Timeout.Duration <= 0:
			r.invalidAt(p, tp, "must be greater than 0, got %s", fmtDuration(e.Timeout.Duration))
		case e.Timeout.Duration >= e.Interval.Duration && r.decoded(ip):
			r.invalidAt(p, tp, "must be less than interval (%s), got %s", fmtDuration(e.Interval.Duration), fmtDuration(e.Timeout.Duration))
		}
	}
	logLevel(r, a.LogLevel)
}

// validateFailover checks failover_after against the heartbeat interval:
// one lost heartbeat must not move the agent (at least 1.5 intervals: the
// next heartbeat may come 10% late, its ACK a round trip later), and it
// must move before the daemon calls the host DOWN (less than 3 intervals,
// the daemon's default down_after).
func (a *Agent) validateFailover(r *report) {
	p := top("failover_after")
	d, iv := a.FailoverAfter.Duration, a.Interval.Duration
	if !r.inFile(p) && d == 0 {
		return
	}
	if lo, hi := iv*3/2, 3*iv; d < lo || d >= hi {
		r.invalid(p, "must be at least 1.5 × interval (%s) and less than 3 × interval (%s, after which the daemon's default down_after calls the host DOWN), got %s",
			fmtDuration(lo), fmtDuration(hi), fmtDuration(d))
	}
}

// validateCommand checks the command of the [[exec]] table at p and
// sets Command.Args from a string: its words, or /bin/sh -c and the string.
func (e *Exec) validateCommand(r *report, p keyPath) {
	cp := p.key("command")
	switch {
	case !r.decoded(cp):
	case e.Shell && e.Command.Line == "" && len(e.Command.Args) > 0:
		r.invalid(p.key("shell"), "shell = true needs command as one string for %s -c, e.g. \"df -P | tail -n +2\"; a list runs without a shell", shellPath)
	case e.Shell:
		if strings.TrimSpace(e.Command.Line) == "" {
			r.invalidAt(p, cp, `required: the shell command line, e.g. "df -P | tail -n +2"`)
			return
		}
		e.Command.Args = []string{shellPath, "-c", e.Command.Line}
	case e.Command.Line != "":
		args, err := SplitCommand(e.Command.Line)
		if err != nil {
			r.invalid(cp, "%q: %s", e.Command.Line, err.Error())
			return
		}
		e.Command.Args = args
		if args[0] == "" {
			r.invalid(cp, "%q: the program must not be empty", e.Command.Line)
		}
	case len(e.Command.Args) == 0:
		r.invalidAt(p, cp, `required: the program and its arguments, as one string ("/usr/bin/foo -x") or a list of strings (["/usr/bin/foo", "-x"])`)
	default:
		validateCommand(r, p, e.Command.Args)
	}
}

// validateCommand checks the command key of the table at p: an [[exec]]
// plugin of the agent, or an exec [[notify]] channel of the daemon. Both run
// it without a shell, so it must be a list with a program first.
func validateCommand(r *report, p keyPath, command []string) {
	cp := p.key("command")
	switch {
	case len(command) == 0:
		r.invalidAt(p, cp, `required: the program and its arguments as a list of strings, e.g. ["/usr/bin/foo", "-x"]`)
	case command[0] == "":
		r.invalid(cp.at(0), "the program must not be empty")
	}
}

// validateParents checks parents: host names, none twice, not the host
// itself, and few and short enough for one datagram (wire.MaxSmall).
func (a *Agent) validateParents(r *report) {
	p := top("parents")
	if len(a.Parents) > deps.MaxParents {
		r.invalid(p, "at most %d parents, got %d", deps.MaxParents, len(a.Parents))
		return
	}
	size := maxParentsDatagram - len(a.Name)
	for i, name := range a.Parents {
		switch {
		case !ValidHostName(name):
			r.invalid(p.at(i), "invalid host name %q: %s", name, hostNameRule)
		case name == a.Name:
			r.invalid(p.at(i), "%q is this host itself", name)
		case slices.Index(a.Parents, name) < i:
			r.invalid(p.at(i), "%q is listed twice", name)
		}
		size -= 1 + len(name)
	}
	if size < 0 {
		r.invalid(p, "the names are %d bytes too long for one datagram: use fewer or shorter ones", -size)
	}
}

// maxParentsDatagram is what a parents datagram's payload and host name
// may take together: MaxSmall (1200) less the version-2 header without
// the host name (32 bytes), the MAC (32) and the payload's count byte.
const maxParentsDatagram = 1200 - 32 - 32 - 1
