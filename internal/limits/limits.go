package limits

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limit names one cap, for the counter's label and the log.
type Limit uint8

// The caps. MetricPathInvalid is not a size but a rule (no control
// characters, valid UTF-8); it is counted with the caps because it is
// refused the same way, at the same place.
const (
	PluginsPerHost Limit = iota
	KeysPerSample
	SampleBytes
	HostsPerSource
	AlertsPerHost
	SilencesPerHost
	SilencesTotal
	GlobLength
	MetricPathLength
	MetricPathInvalid
	BytesPerHost
	numLimits
)

// String returns the lower_snake name used as the metric label and in the
// [limits] table.
func (l Limit) String() string {
	switch l {
	case PluginsPerHost:
		return "plugins_per_host"
	case KeysPerSample:
		return "keys_per_sample"
	case SampleBytes:
		return "sample_bytes"
	case HostsPerSource:
		return "hosts_per_source"
	case AlertsPerHost:
		return "alerts_per_host"
	case SilencesPerHost:
		return "silences_per_host"
	case SilencesTotal:
		return "silences_total"
	case GlobLength:
		return "glob_length"
	case MetricPathLength:
		return "metric_path_length"
	case MetricPathInvalid:
		return "metric_path_invalid"
	case BytesPerHost:
		return "bytes_per_host"
	}
	return fmt.Sprintf("limit(%d)", uint8(l))
}

// All returns every limit, in a fixed order, for exporting the counters.
func All() []Limit {
	out := make([]Limit, numLimits)
	for i := range out {
		out[i] = Limit(i)
	}
	return out
}

// Defaults of the caps. They are far above what hbd's own agent sends (its
// four plugins report 100 to 700 bytes each on a typical host, and one
// network interface or mount point costs about 150 bytes) and far below
// what an attacker would need to hurt the daemon.
const (
	DefaultPluginsPerHost = 64
	DefaultKeysPerSample  = 4096
	// DefaultSampleBytes (32 KiB) holds the network_monitor sample of a
	// host with some 200 interfaces (container hosts have many), yet halves
	// what one compressed datagram may grow into: the wire's own bound is
	// 60 KiB, which a 100-byte datagram of repeated bytes decompresses to.
	DefaultSampleBytes      = 32 << 10
	DefaultHostsPerSource   = 1000
	DefaultAlertsPerHost    = 1024
	DefaultSilencesPerHost  = 20
	DefaultSilencesTotal    = 1000
	DefaultGlobLength       = 256
	DefaultMetricPathLength = 256
	// DefaultBytesPerHost (16 MiB) is some 50 times what a typical host
	// holds with history = 100 (its four plugins' samples take 100 to 700
	// bytes each), and holds 100 samples of a dozen 13 KiB exec plugins.
	// Without it a host could hold plugins_per_host x history x
	// sample_bytes: 200 MiB with the other defaults.
	DefaultBytesPerHost = 16 << 20
)

// MaxSampleBytes is the largest SampleBytes: the wire protocol's bound on
// a decompressed payload.
const MaxSampleBytes = 60 << 10

// Config holds the caps. A zero field takes its default (SetDefaults),
// except HostsPerSource, where the config's 0 means no cap and is carried
// as Off.
type Config struct {
	// PluginsPerHost: samples of a plugin a host has not sent before are
	// refused once it has this many plugins.
	PluginsPerHost int
	// KeysPerSample: a sample whose JSON has more object keys, at any
	// depth, is refused.
	KeysPerSample int
	// SampleBytes: a sample whose payload (plugin name and JSON) is larger
	// once decompressed is refused, before it is decompressed.
	SampleBytes int
	// HostsPerSource: a source IP address may register at most this many
	// dynamic hosts; Off for no cap.
	HostsPerSource int
	// AlertsPerHost: a host tracks at most this many metric paths; new
	// paths matched by wildcard rules are not tracked beyond it.
	AlertsPerHost int
	// SilencesPerHost: active silences with the same host (an agent's own
	// name, or an API silence's host glob).
	SilencesPerHost int
	// SilencesTotal: active silences in all. Agents may fill nine tenths
	// of it; the rest is kept for the API, so a flood of agent requests
	// cannot stop an operator from adding a silence.
	SilencesTotal int
	// GlobLength: the longest host or metric glob of a silence, in bytes.
	GlobLength int
	// MetricPathLength: the longest metric path an alert is tracked for,
	// in bytes (plugin name and keys joined by dots).
	MetricPathLength int
	// BytesPerHost: the sample data one host's plugins may hold, history
	// included, in bytes; a sample that would take it past is refused.
	BytesPerHost int
}

// Off is the value of a cap that is turned off (only HostsPerSource).
const Off = -1

// Defaults returns the default caps.
func Defaults() Config {
	c := Config{}
	c.SetDefaults()
	return c
}

// SetDefaults fills in the zero fields.
func (c *Config) SetDefaults() {
	set := func(p *int, def int) {
		if *p == 0 {
			*p = def
		}
	}
	set(&c.PluginsPerHost, DefaultPluginsPerHost)
	set(&c.KeysPerSample, DefaultKeysPerSample)
	set(&c.SampleBytes, DefaultSampleBytes)
	set(&c.HostsPerSource, DefaultHostsPerSource)
	set(&c.AlertsPerHost, DefaultAlertsPerHost)
	set(&c.SilencesPerHost, DefaultSilencesPerHost)
	set(&c.SilencesTotal, DefaultSilencesTotal)
	set(&c.GlobLength, DefaultGlobLength)
	set(&c.MetricPathLength, DefaultMetricPathLength)
	set(&c.BytesPerHost, DefaultBytesPerHost)
}

// AgentSilences is how many silences agents may hold in all: nine tenths
// of SilencesTotal (at least one less than it when it is above one).
func (c *Config) AgentSilences() int {
	if c.SilencesTotal <= 1 {
		return c.SilencesTotal
	}
	return min(c.SilencesTotal*9/10, c.SilencesTotal-1)
}

// CheckMetricPath reports whether a metric path built from a sample's keys
// may become an alert: at most MetricPathLength bytes of valid UTF-8
// without control characters (C0, DEL, C1) or line and paragraph
// separators. Paths leave the daemon in exec environments (where NUL
// cannot be passed at all), mail bodies and subjects (where CR and LF end
// a header) and webhook bodies; refusing them here keeps every channel
// safe. It returns the limit that refused the path, and false.
func (c *Config) CheckMetricPath(path string) (Limit, bool) {
	if len(path) > c.MetricPathLength {
		return MetricPathLength, false
	}
	if !CleanText(path) {
		return MetricPathInvalid, false
	}
	return 0, true
}

// CleanText reports whether s is valid UTF-8 without control characters
// (C0, DEL, C1) or U+2028/U+2029.
func CleanText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// CountKeys returns how many object keys the JSON document data holds, at
// any depth: the count keys_per_sample caps. data must be valid JSON: then
// every ':' outside a string ends one key. It is the definition of the
// count; the read path gets it from the validating scan of
// transport/wire (wire.Sample.Keys), whose fuzz test holds it to this.
func CountKeys(data []byte) int {
	n := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

// logSnippet bounds what of an untrusted string goes into a log line.
const logSnippet = 128

// Snippet is s cut to a length fit for a log line: an agent's metric path
// or glob may be as long as its datagram.
func Snippet(s string) string {
	if len(s) > logSnippet {
		return s[:logSnippet] + "..."
	}
	return s
}
