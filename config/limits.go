package config

import "github.com/hbd-project/hbd/internal/limits"

// Limits is the [limits] table: caps on what one agent (or one key
// holder) can make the daemon keep. Each refusal is counted on /metrics
// (hbd_limit_refused_total{limit="..."}) and logged at most once a minute
// per source; what a host already has keeps working.
type Limits struct {
	PluginsPerHost int `toml:"plugins_per_host"` // plugins one host may report; default 64
	KeysPerSample  int `toml:"keys_per_sample"`  // object keys in one sample, at any depth; default 4096
	// SampleBytes bounds a sample's payload (plugin name and JSON) after
	// decompression, in bytes; default 32768 (32 KiB), at most 61440.
	SampleBytes int `toml:"sample_bytes"`
	// HostsPerSource is how many dynamic hosts one source IP address may
	// register; default 1000; 0 = no cap (load tests from one address).
	HostsPerSource   int `toml:"hosts_per_source"`
	AlertsPerHost    int `toml:"alerts_per_host"`    // metric paths one host's alerts track; default 1024
	SilencesPerHost  int `toml:"silences_per_host"`  // active silences per host (or API host glob); default 20
	SilencesTotal    int `toml:"silences_total"`     // active silences in all; agents may fill 9/10; default 1000
	GlobLength       int `toml:"glob_length"`        // longest silence host or metric glob, in bytes; default 256
	MetricPathLength int `toml:"metric_path_length"` // longest metric path an alert tracks, in bytes; default 256
	// BytesPerHost bounds the sample data one host's plugins hold, history
	// included, in bytes; default 16777216 (16 MiB). Raise it with history.
	BytesPerHost int `toml:"bytes_per_host"`
	// FleetLabelValues bounds the series one host has in one plugin
	// family on /metrics/fleet (its partitions, interfaces...); default 128.
	FleetLabelValues int `toml:"fleet_label_values"`
	// FleetFamilies bounds the plugin metric names of one scrape of
	// /metrics/fleet, over the whole fleet; default 1000.
	FleetFamilies int `toml:"fleet_families"`
	// IngestBacklog bounds the datagrams read and not yet applied by the
	// hosts' actors; at it the UDP readers stop reading until the actors
	// catch up, leaving the rest to the socket's buffer (what overflows
	// it is counted in hbd_udp_kernel_drops_total). It keeps a daemon
	// short of CPU from queueing without end: memory and the time an ACK
	// takes stay bounded. Default 65536; 0 = no bound.
	IngestBacklog int `toml:"ingest_backlog"`
}

func defaultLimits() Limits {
	return Limits{
		PluginsPerHost:   limits.DefaultPluginsPerHost,
		KeysPerSample:    limits.DefaultKeysPerSample,
		SampleBytes:      limits.DefaultSampleBytes,
		HostsPerSource:   limits.DefaultHostsPerSource,
		AlertsPerHost:    limits.DefaultAlertsPerHost,
		SilencesPerHost:  limits.DefaultSilencesPerHost,
		SilencesTotal:    limits.DefaultSilencesTotal,
		GlobLength:       limits.DefaultGlobLength,
		MetricPathLength: limits.DefaultMetricPathLength,
		BytesPerHost:     limits.DefaultBytesPerHost,

		FleetLabelValues: 128,
		FleetFamilies:    1000,
		IngestBacklog:    65536,
	}
}

// Caps returns the limits as the daemon's actors take them.
func (l *Limits) Caps() limits.Config {
	c := limits.Config{
		PluginsPerHost:   l.PluginsPerHost,
		KeysPerSample:    l.KeysPerSample,
		SampleBytes:      l.SampleBytes,
		HostsPerSource:   l.HostsPerSource,
		AlertsPerHost:    l.AlertsPerHost,
		SilencesPerHost:  l.SilencesPerHost,
		SilencesTotal:    l.SilencesTotal,
		GlobLength:       l.GlobLength,
		MetricPathLength: l.MetricPathLength,
		BytesPerHost:     l.BytesPerHost,
	}
	if c.HostsPerSource == 0 {
		c.HostsPerSource = limits.Off
	}
	return c
}

func (l *Limits) validate(r *report, p keyPath) {
	intRange(r, p.key("plugins_per_host"), l.PluginsPerHost, 1, 100000)
	intRange(r, p.key("keys_per_sample"), l.KeysPerSample, 1, 1000000)
	intRange(r, p.key("sample_bytes"), l.SampleBytes, 1024, limits.MaxSampleBytes)
	intRange(r, p.key("hosts_per_source"), l.HostsPerSource, 0, 10000000)
	if l.IngestBacklog != 0 {
		intRange(r, p.key("ingest_backlog"), l.IngestBacklog, 1024, 100000000)
	}
	intRange(r, p.key("alerts_per_host"), l.AlertsPerHost, 1, 1000000)
	intRange(r, p.key("silences_per_host"), l.SilencesPerHost, 1, 100000)
	intRange(r, p.key("silences_total"), l.SilencesTotal, 1, 1000000)
	intRange(r, p.key("glob_length"), l.GlobLength, 16, 4096)
	intRange(r, p.key("metric_path_length"), l.MetricPathLength, 16, 4096)
	intRange(r, p.key("bytes_per_host"), l.BytesPerHost, 64<<10, 1<<31-1)
	intRange(r, p.key("fleet_label_values"), l.FleetLabelValues, 1, 100000)
	intRange(r, p.key("fleet_families"), l.FleetFamilies, 1, 1000000)
	// Its least (64 KiB) is above the largest sample_bytes: a host can
	// always hold one sample.
}
