package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the testdata/*/bad/*.toml.err files from the current output (review the diff!)")

func boolPtr(b bool) *bool { return &b }

func dur(d time.Duration) Duration { return Duration{d} }

func floatPtr(f float64) *float64 { return &f }

func TestDefaultDaemon(t *testing.T) {
	t.Parallel()
	d := DefaultDaemon()
	tests := []struct {
		key       string
		got, want any
	}{
		{"hbd_host", d.HBDHost, ""},
		{"hbd_port", d.HBDPort, 50004},
		{"ws_port", d.WSPort, 50005},
		{"wss_port", d.WSSPort, 0},
		{"cert_path", d.CertPath, ""},
		{"wss_pem", d.WSSPem, ""},
		{"wss_key", d.WSSKey, ""},
		{"udp_host", d.UDPHost, ""},
		{"udp_port", d.UDPPort, 50003},
		{"udp_recv_buffer", d.UDPRecvBuffer, 16777216},
		{"history", d.History, 100},
		{"watchhosts", len(d.WatchHosts), 0},
		{"accept_dynamic", d.AcceptDynamic, true},
		{"down_after", d.DownAfter, 3},
		{"max_clock_skew", d.MaxClockSkew, dur(5 * time.Minute)},
		{"key_file", d.KeyFile, ""},
		{"host_keys", len(d.HostKeys), 0},
		{"data_dir", d.DataDir, ""},
		{"log_level", d.LogLevel, "info"},
		{"alert_dynamic", d.AlertDynamic, false},
		{"threshold", len(d.Thresholds), 0},
		{"notify", len(d.Notify), 0},
		{"journal.enabled", d.Journal.Enabled, true},
		{"journal.dir", d.Journal.Dir, ""},
		{"journal.file", d.Journal.File, "hbd-journal.jsonl"},
		{"journal.max_size", d.Journal.MaxSize, int64(67108864)},
		{"journal.max_backups", d.Journal.MaxBackups, 5},
		{"journal.fsync", d.Journal.Fsync, dur(time.Second)},
		{"journal.keep", d.Journal.Keep, 10000},
		{"alerting.flap_window", d.Alerting.FlapWindow, dur(10 * time.Minute)},
		{"alerting.flap_start", d.Alerting.FlapStart, 6},
		{"alerting.flap_stop", d.Alerting.FlapStop, 2},
		{"cors_origins", len(d.CORSOrigins), 0},
		{"ws_origins", len(d.WSOrigins), 0},
		{"deadman.url", d.Deadman.URL, ""},
		{"deadman.method", d.Deadman.Method, "GET"},
		{"deadman.interval", d.Deadman.Interval, dur(time.Minute)},
		{"deadman.timeout", d.Deadman.Timeout, dur(10 * time.Second)},
		{"deadman.peer", d.Deadman.Peer, ""},
		{"deadman.name", d.Deadman.Name, ""},
		{"deadman enabled", d.Deadman.Enabled(), false},
		{"cluster enabled", d.Cluster.Enabled(), false},
		{"cluster.refresh", d.Cluster.Refresh, dur(time.Second)},
		{"cluster.etcd_prefix", d.Cluster.EtcdPrefix, "/hbd"},
		{"cluster.replicate_every", d.Cluster.ReplicateEvery, dur(2 * time.Second)},
		{"cluster.fleet_every", d.Cluster.FleetEvery, dur(time.Second)},
		{"api.token", len(d.API.Tokens), 0},
		{"api.user", len(d.API.Users), 0},
		{"api.tls_pem", d.API.TLSPem, ""},
		{"api.pprof", d.API.Pprof, false},
		{"api.rate", d.API.Rate, 100.0},
		{"api.burst", d.API.Burst, 200},
		{"api.rate_exempt", d.API.RateExempt, []string{"127.0.0.0/8", "::1/128"}},
		{"api.max_conns", d.API.MaxConns, 0},
		{"api.max_conns_per_ip", d.API.MaxConnsPerIP, 256},
		{"api.read_timeout", d.API.ReadTimeout, dur(10 * time.Second)},
		{"api.idle_timeout", d.API.IdleTimeout, dur(2 * time.Minute)},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.key, tt.got, tt.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// testBuiltins stands for agent/plugins.Names(), which config cannot
// import; the agent's own tests check the real list against this package.
var testBuiltins = []string{"cpu_monitor", "memory_monitor", "disk_monitor", "network_monitor"}

func TestDefaultAgent(t *testing.T) {
	t.Parallel()
	a := DefaultAgent(testBuiltins)
	host, _ := os.Hostname()
	tests := []struct {
		key       string
		got, want any
	}{
		{"name", a.Name, host},
		{"servers", a.Servers, []string{"localhost:50003"}},
		{"interval", a.Interval, dur(10 * time.Second)},
		{"key_file", a.KeyFile, ""},
		{"resolve_every", a.ResolveEvery, dur(5 * time.Minute)},
		{"failover_after", a.FailoverAfter, dur(0)},
		{"failover period", a.FailoverPeriod(), 20 * time.Second},
		{"exec", len(a.Exec), 0},
		{"log_level", a.LogLevel, "info"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.key, tt.got, tt.want)
		}
	}
	for _, name := range testBuiltins {
		p, ok := a.Plugins[name]
		if !ok || p.Enabled == nil || !*p.Enabled || p.Interval != dur(30*time.Second) {
			t.Errorf("plugins.%s = %+v (present %v), want enabled, 30s", name, p, ok)
		}
	}
	if len(a.Plugins) != len(testBuiltins) {
		t.Errorf("default plugins = %v, want exactly %v", a.Plugins, testBuiltins)
	}

	// Each call must return fresh values: mutating one config must not leak
	// into another through a shared pointer, map or slice.
	*a.Plugins["cpu_monitor"].Enabled = false
	a.Servers[0] = "changed"
	b := DefaultAgent(testBuiltins)
	if !*b.Plugins["cpu_monitor"].Enabled || b.Servers[0] != "localhost:50003" {
		t.Errorf("DefaultAgent shares state between calls: %+v", b)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	d, err := LoadDaemon("")
	if err != nil {
		t.Fatalf("LoadDaemon(\"\"): %v", err)
	}
	if want := DefaultDaemon(); !reflect.DeepEqual(*d, want) {
		t.Errorf("LoadDaemon(\"\") = %+v, want %+v", *d, want)
	}

	a, err := LoadAgent("", testBuiltins)
	if host, _ := os.Hostname(); !ValidHostName(host) {
		// The default name comes from the machine, which cannot be a
		// valid name here: the error must say to set name.
		if err == nil || !strings.Contains(err.Error(), "set name in the config file") {
			t.Fatalf("LoadAgent(\"\") with host name %q: err = %v, want a hint to set name", host, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("LoadAgent(\"\"): %v", err)
	}
	if want := DefaultAgent(testBuiltins); !reflect.DeepEqual(*a, want) {
		t.Errorf("LoadAgent(\"\") = %+v, want %+v", *a, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.toml")
	if _, err := LoadDaemon(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDaemon(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadAgent(missing, testBuiltins); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAgent(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestGoodDaemonConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want func(d *Daemon)
	}{
		{"empty.toml", func(d *Daemon) {}},
		{"full.toml", func(d *Daemon) {
			*d = Daemon{
				HBDHost:       "127.0.0.1",
				HBDPort:       8080,
				WSPort:        0,
				WSSPort:       8443,
				CertPath:      "testdata/certs",
				WSSPem:        "server.pem",
				WSSKey:        "server.key",
				UDPHost:       "::1",
				UDPPort:       8080,
				UDPRecvBuffer: 65536,
				History:       100000,
				WatchHosts:    []string{"web1.example.com", "db_1", "10.0.0.7"},
				AcceptDynamic: false,
				DownAfter:     1000,
				MaxClockSkew:  dur(90 * time.Second),
				KeyFile:       "/etc/hbd/hbd.key",
				HostKeys:      map[string]string{"web1.example.com": "/etc/hbd/keys/web1.key", "db_1": "keys/db1.key"},
				DataDir:       "/srv/hbd",
				LogLevel:      "debug",
				AlertDynamic:  true,
				CORSOrigins:   []string{"https://grafana.example.com", "http://[2001:db8::1]:3000", "*"},
				WSOrigins:     []string{"https://status.example.com:8443"},
				WebSocket:     WebSocket{MessageRate: 0.5, MessageBurst: 3, MaxMessageSize: 4096, MaxGlobs: 8, QueueBytes: 1 << 20, FanoutRate: 0},
				Journal: Journal{
					Enabled:    false,
					Dir:        "/var/log/hbd",
					File:       "events.jsonl",
					MaxSize:    4096,
					MaxBackups: 0,
					Fsync:      dur(0),
					Keep:       1000000,
				},
				Alerting: Alerting{FlapWindow: dur(30 * time.Minute), FlapStart: 2, FlapStop: 0,
					StoppedAfter: dur(2 * time.Hour), GroupWait: dur(10 * time.Second), OutageFraction: 0.5, OutageMinHosts: 3},
				State: State{Enabled: false, Dir: "/srv/hbd/state", CheckpointInterval: dur(30 * time.Second)},
				Deadman: Deadman{
					URL: "https://hc-ping.example.com/0f3c", Method: "POST", Interval: dur(30 * time.Second),
					Timeout: dur(20 * time.Second), Peer: "hbd2.example.com:50003", Name: "hbd1",
				},
				API: API{
					TLSPem: "server.pem", TLSKey: "server.key", Pprof: true, Rate: 5.5, Burst: 20,
					RateExempt: []string{"10.0.0.0/8", "2001:db8::7"}, MaxConns: 5000, MaxConnsPerIP: 0,
					ReadTimeout: dur(5 * time.Second), IdleTimeout: dur(30 * time.Second),
					Tokens: []APIToken{
						{Name: "grafana", Scope: "read", Hash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
						{Name: "ops", Scope: "write", Hash: "sha256:60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"},
					},
					Users: []APIUser{{Name: "alice", Scope: "write", PasswordHash: "$2a$10$WylJjcshTiyqXRvEvMH7mOsFwTQ4Wn6EjwxxGut0BZvrm89F0c4CC"}},
				},
				// full.toml has no [limits], [runtime] or [cluster]: the defaults stand.
				Limits:  defaultLimits(),
				Runtime: defaultRuntime(),
				Cluster: defaultCluster(),
				// Nor [liveness].
				Liveness: defaultLiveness(),
				Thresholds: []Threshold{
					{
						Metric: "cpu_monitor.cpu_percent", Warning: floatPtr(80), Critical: floatPtr(95.5), Operator: ">=",
						Hysteresis: 2.5, For: dur(2 * time.Minute), Hosts: []string{"web*", "db_[0-9]"}, Line: 46,
					},
					{Metric: "disk_monitor.*.free_percent", Critical: floatPtr(5), Operator: "<", Line: 55},
				},
				Notify: []Notify{
					{
						Type: "webhook", Name: "slack", MinLevel: "CRITICAL", Hosts: []string{"web*"},
						Repeat: dur(time.Hour), Timeout: dur(5 * time.Second),
						URL:         "https://hooks.example.com/services/T000/B000",
						Template:    `{"text": {{json .Message}}, "host": "{{upper .Host}}"}`,
						ContentType: "application/json; charset=utf-8",
						Headers:     map[string]string{"Authorization": "Bearer token", "X-Source": "hbd"},
						Line:        60,
					},
					{
						Type: "exec", Name: "exec-2", MinLevel: "WARNING", Timeout: dur(30 * time.Second),
						Command: []string{"/usr/local/bin/page", "--team", "ops"}, Group: true, Line: 73,
					},
					{
						Type: "email", Name: "ops-mail", MinLevel: "UNKNOWN", Timeout: dur(30 * time.Second),
						Server: "smtp.example.com:587", From: "hbd <hbd@example.com>",
						To:       []string{"ops@example.com", "Oncall <oncall@example.com>"},
						Username: "hbd", PasswordFile: "testdata/secrets/smtp-password", StartTLS: "opportunistic",
						Subject: "[hbd] {{.Level}} on {{.Host}}", Group: true, Line: 77,
					},
					{
						Type: "email", Name: "email-4", MinLevel: "WARNING", Timeout: dur(30 * time.Second),
						Server: "[2001:db8::25]:25", From: "hbd@example.com", To: []string{"root@example.com"},
						Username: "hbd", Password: "secret", StartTLS: "never", Group: true, Line: 89,
					},
				},
			}
		}},
		{"alerting_defaults.toml", func(d *Daemon) {
			d.Thresholds = []Threshold{{Metric: "cpu_monitor.cpu_percent", Warning: floatPtr(90), Operator: ">", Line: 3}}
			d.Notify = []Notify{
				{Type: "webhook", Name: "webhook-1", MinLevel: "WARNING", Timeout: dur(10 * time.Second), URL: "http://127.0.0.1:9000/hook", Group: true, Line: 7},
				{
					Type: "email", Name: "email-2", MinLevel: "WARNING", Timeout: dur(30 * time.Second),
					Server: "localhost:25", From: "hbd@localhost", To: []string{"root@localhost"}, StartTLS: "always", Group: true, Line: 11,
				},
				{Type: "exec", Name: "exec-3", MinLevel: "CRITICAL", Timeout: dur(time.Second), Command: []string{"/bin/logger"}, Group: true, Line: 17},
			}
			d.Journal.Dir = "relative/dir"
		}},
		{"deadman_short_interval.toml", func(d *Daemon) {
			d.Deadman.Peer = "[::1]:50003"
			d.Deadman.Interval = dur(200 * time.Millisecond)
			d.Deadman.Timeout = dur(100 * time.Millisecond)
		}},
		{"limits.toml", func(d *Daemon) {
			d.Limits = Limits{PluginsPerHost: 8, KeysPerSample: 100, SampleBytes: 61440, HostsPerSource: 0, AlertsPerHost: 50,
				SilencesPerHost: 3, SilencesTotal: 10, GlobLength: 64, MetricPathLength: 128, BytesPerHost: 1 << 20,
				FleetLabelValues: 128, FleetFamilies: 1000, IngestBacklog: 5000}
		}},
		{"liveness.toml", func(d *Daemon) {
			d.Liveness.SuspectPhi, d.Liveness.DownPhi, d.Liveness.MinStd = 2.5, 10, 0.2
			six, two, fixed := 6, 2.0, "fixed"
			d.Liveness.Hosts = []LivenessHosts{{Match: "branch-*", DownAfter: &six, AcceptablePause: &two}, {Match: "legacy-*", Detector: &fixed}}
			if got := d.Liveness.For("branch-7", 3); got != (Detection{Adaptive: true, DownAfter: 6, SuspectPhi: 2.5, DownPhi: 10,
				Window: 32, MinSamples: 8, MinStd: 0.2, AcceptablePause: 2}) {
				t.Errorf("For(branch-7) = %+v", got)
			}
			if got := d.Liveness.For("legacy-1", 3); got.Adaptive || got.DownAfter != 3 {
				t.Errorf("For(legacy-1) = %+v, want the fixed rule with down_after 3", got)
			}
			if got := d.Liveness.For("web1", 4); !got.Adaptive || got.DownAfter != 4 || got.AcceptablePause != 1 {
				t.Errorf("For(web1) = %+v, want [liveness] with down_after 4", got)
			}
		}},
		{"runtime.toml", func(d *Daemon) {
			d.Runtime = Runtime{GOGC: 200, MemoryLimit: "3GiB"}
			if n := d.Runtime.MemoryLimitBytes(); n != 3<<30 {
				t.Errorf("MemoryLimitBytes() = %d, want 3 GiB", n)
			}
		}},
		{"cluster_static.toml", func(d *Daemon) {
			d.Cluster.Name, d.Cluster.Listen, d.Cluster.Provider = "prod", "127.0.0.11:51310", "static"
			d.Cluster.Peers = []string{"127.0.0.11:51311", "127.0.0.12:51311", "hbd-c.example.net:51311"}
			d.Cluster.HealthListen = "127.0.0.11:51311"
			d.Cluster.Refresh = dur(2 * time.Second)
			if !d.Cluster.Enabled() || d.Cluster.AdvertiseAddr() != "127.0.0.11:51310" {
				t.Errorf("Enabled() = %v, AdvertiseAddr() = %q", d.Cluster.Enabled(), d.Cluster.AdvertiseAddr())
			}
		}},
		{"cluster_etcd.toml", func(d *Daemon) {
			d.Cluster = Cluster{Name: "prod.eu-1", Listen: "0.0.0.0:51310", Advertise: "hbd-a.example.net:51310", Provider: "etcd",
				Refresh: dur(time.Second), EtcdEndpoints: []string{"127.0.0.1:2379", "http://[::1]:2379"}, EtcdPrefix: "/hbd/prod",
				ReplicateEvery: dur(500 * time.Millisecond), FleetEvery: dur(3 * time.Second)}
		}},
		{"inline.toml", func(d *Daemon) {
			d.HostKeys = map[string]string{"web1.example.com": "/etc/hbd/keys/web1.key"}
			d.WatchHosts = []string{"web1.example.com"}
			d.UDPHost = "heartbeats.example.com"
			d.LogLevel = "warn"
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		path := filepath.Join("testdata", "daemon", "good", tt.file)
		seen[path] = true
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadDaemon(path)
			if err != nil {
				t.Fatalf("LoadDaemon: %v", err)
			}
			want := DefaultDaemon()
			tt.want(&want)
			want.File = path
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("loaded config does not validate again: %v", err)
			}
		})
	}
	checkAllCovered(t, "testdata/daemon/good/*.toml", seen)
}

func TestGoodAgentConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want func(a *Agent)
	}{
		{"minimal.toml", func(a *Agent) { a.Name = "web1.example.com" }},
		{"full.toml", func(a *Agent) {
			a.Name = "web1.example.com"
			a.Servers = []string{"hbd1.example.com", "hbd2.example.com:6000", "[2001:db8::1]:6001", "2001:db8::2", "192.0.2.10:6002",
				"hbd-a.example.com;hbd-b.example.com:6003; [2001:db8::3]:6003"}
			a.Interval = dur(5 * time.Second)
			a.FailoverAfter = dur(12 * time.Second)
			a.KeyFile = "/etc/hbd/hbd.key"
			a.ResolveEvery = dur(time.Hour)
			a.LogLevel = "error"
			a.Plugins["cpu_monitor"] = Plugin{Enabled: boolPtr(true), Interval: dur(10 * time.Second)}
			a.Plugins["disk_monitor"] = Plugin{Enabled: boolPtr(false), Interval: dur(30 * time.Second)}
			a.Exec = []Exec{
				{Name: "nginx_status", Command: Command{Args: []string{"/usr/local/bin/nginx-status", "--json"}}, Interval: dur(time.Minute), Timeout: dur(20 * time.Second), Format: "json"},
				{Name: "raid", Command: Command{Args: []string{"/usr/sbin/raid-check"}}, Interval: dur(30 * time.Second), Timeout: dur(10 * time.Second), Format: "json"},
			}
		}},
		{"inline.toml", func(a *Agent) {
			a.Name = "db-2"
			a.Plugins["network_monitor"] = Plugin{Enabled: boolPtr(false), Interval: dur(30 * time.Second)}
			a.Plugins["memory_monitor"] = Plugin{Enabled: boolPtr(true), Interval: dur(time.Minute)}
			a.Exec = []Exec{
				{Name: "a", Command: Command{Args: []string{"/bin/a"}}, Interval: dur(30 * time.Second), Timeout: dur(10 * time.Second), Format: "json"},
				{Name: "b", Command: Command{Args: []string{"/bin/b", "x y"}}, Interval: dur(30 * time.Second), Timeout: dur(time.Second), Format: "json"},
			}
		}},
		{"exec_string.toml", func(a *Agent) {
			a.Name = "web1"
			probe := `/usr/local/bin/probe --fast --label 'two words' "x y" a\ b ~/c *.d`
			a.Exec = []Exec{
				// Quotes and backslashes are removed; ~ and globs stay as
				// written; the 1s interval gets an 800ms timeout.
				{Name: "probe", Command: Command{Line: probe, Args: []string{"/usr/local/bin/probe", "--fast", "--label", "two words", "x y", "a b", "~/c", "*.d"}},
					Interval: dur(time.Second), Timeout: dur(800 * time.Millisecond), Format: "json"},
				{Name: "disks", Command: Command{Line: "df -P | tail -n +2", Args: []string{"/bin/sh", "-c", "df -P | tail -n +2"}}, Shell: true,
					Interval: dur(5 * time.Second), Timeout: dur(4 * time.Second), Format: "json"},
				{Name: "check_load", Command: Command{Line: "/usr/lib/nagios/plugins/check_load -r -w 4,3,2 -c 8,6,4",
					Args: []string{"/usr/lib/nagios/plugins/check_load", "-r", "-w", "4,3,2", "-c", "8,6,4"}},
					Interval: dur(time.Minute), Timeout: dur(10 * time.Second), Format: "nagios"},
			}
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		path := filepath.Join("testdata", "agent", "good", tt.file)
		seen[path] = true
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadAgent(path, testBuiltins)
			if err != nil {
				t.Fatalf("LoadAgent: %v", err)
			}
			want := DefaultAgent(testBuiltins)
			tt.want(&want)
			want.File = path
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("loaded config does not validate again: %v", err)
			}
		})
	}
	checkAllCovered(t, "testdata/agent/good/*.toml", seen)
}

// checkAllCovered fails when a good config file has no expectations, so a
// new file cannot be added without saying what it must load as.
func checkAllCovered(t *testing.T, pattern string, seen map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[f] {
			t.Errorf("%s has no entry in the test table", f)
		}
	}
}

// TestBadConfigs loads every testdata/*/bad/*.toml and compares the complete
// error text with the .toml.err file next to it.
func TestBadConfigs(t *testing.T) {
	t.Parallel()
	parsers := map[string]func(string) error{
		"daemon": func(p string) error { _, err := LoadDaemon(p); return err },
		"agent":  func(p string) error { _, err := LoadAgent(p, testBuiltins); return err },
	}
	for kind, load := range parsers {
		files, err := filepath.Glob(filepath.Join("testdata", kind, "bad", "*.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no bad %s configs found", kind)
		}
		for _, path := range files {
			t.Run(kind+"/"+filepath.Base(path), func(t *testing.T) {
				err := load(path)
				if err == nil {
					t.Fatal("loaded without error")
				}
				var es Errors
				if !errors.As(err, &es) || len(es) == 0 {
					t.Fatalf("error %T %q is not a non-empty Errors", err, err)
				}
				for _, e := range es {
					if e.File != path {
						t.Errorf("error %q names file %q, want %q", e, e.File, path)
					}
				}
				got := err.Error() + "\n"
				if *update {
					if err := os.WriteFile(path+".err", []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path + ".err")
				if err != nil {
					t.Fatalf("missing expected error text: %v", err)
				}
				if got != string(want) {
					t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, want)
				}
			})
		}
		// An .err file without its config would be a test silently gone.
		errFiles, _ := filepath.Glob(filepath.Join("testdata", kind, "bad", "*.err"))
		for _, e := range errFiles {
			if _, err := os.Stat(strings.TrimSuffix(e, ".err")); err != nil {
				t.Errorf("%s has no config file", e)
			}
		}
	}
}

// TestThreeMistakes pins the headline promise on its own: every error at
// once, in line order, each with file:line and key.
func TestThreeMistakes(t *testing.T) {
	t.Parallel()
	_, err := LoadDaemon("testdata/daemon/bad/three_mistakes.toml")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v, want Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Key+"@"+strconv.Itoa(e.Line))
	}
	want := []string{"log_level@2", "down_after@4", "histroy@6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors at %v, want %v (full: %v)", got, want, err)
	}
}

func TestExamples(t *testing.T) {
	t.Parallel()
	d, err := LoadDaemon("example/hbd.toml")
	if err != nil {
		t.Fatalf("example/hbd.toml: %v", err)
	}
	wantD := DefaultDaemon()
	wantD.File = "example/hbd.toml"
	if !reflect.DeepEqual(*d, wantD) {
		t.Errorf("example/hbd.toml is not at the defaults:\ngot  %+v\nwant %+v", *d, wantD)
	}
	if host, _ := os.Hostname(); ValidHostName(host) {
		a, err := LoadAgent("example/hbd-agent.toml", testBuiltins)
		if err != nil {
			t.Fatalf("example/hbd-agent.toml: %v", err)
		}
		wantA := DefaultAgent(testBuiltins)
		wantA.File = "example/hbd-agent.toml"
		if !reflect.DeepEqual(*a, wantA) {
			t.Errorf("example/hbd-agent.toml is not at the defaults:\ngot  %+v\nwant %+v", *a, wantA)
		}
	}

	// Every key must be documented in the example, set or commented out, so
	// a new field cannot be added without updating the example.
	for file, typ := range map[string]reflect.Type{
		"example/hbd.toml":       reflect.TypeFor[Daemon](),
		"example/hbd-agent.toml": reflect.TypeFor[Agent](),
	} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range tagNames(typ) {
			re := regexp.MustCompile(`(?m)^(# ?)?(\[+)?` + regexp.QuoteMeta(key) + `\b`)
			if !re.Match(text) {
				t.Errorf("%s does not document key %q", file, key)
			}
		}
		// Keys of tables ([journal], [[notify]], [plugins.x]) must appear,
		// set or commented out, under one of that table's headers.
		for i := range typ.NumField() {
			f := typ.Field(i)
			et := f.Type
			for et.Kind() == reflect.Slice || et.Kind() == reflect.Map {
				et = et.Elem()
			}
			if et.Kind() != reflect.Struct || et == reflect.TypeFor[Duration]() {
				continue
			}
			sections := tableSections(string(text), tagName(f))
			if len(sections) == 0 {
				t.Errorf("%s has no [%s] table, set or commented out", file, tagName(f))
				continue
			}
			for _, key := range tagNames(et) {
				re := regexp.MustCompile(`(?m)^(# ?)?` + regexp.QuoteMeta(key) + ` = `)
				// A nested table ([[api.token]]) is documented by its header.
				found := regexp.MustCompile(`(?m)^(# ?)?\[\[?` + regexp.QuoteMeta(tagName(f)+"."+key) + `\]\]?`).Match(text)
				for _, sec := range sections {
					found = found || re.MatchString(sec)
				}
				if !found {
					t.Errorf("%s does not document key %q under [%s]", file, key, tagName(f))
				}
			}
		}
	}
}

// tableSections returns the text under each header of table name in a TOML
// file, set or commented out: [name], [[name]] or [name.x], up to the next
// header.
func tableSections(text, name string) []string {
	header := regexp.MustCompile(`^(# ?)?\[`)
	own := regexp.MustCompile(`^(# ?)?\[\[?` + regexp.QuoteMeta(name) + `(\.[^\]]+)?\]\]?`)
	var sections []string
	var cur *strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if header.MatchString(line) {
			cur = nil
			if own.MatchString(line) {
				sections = append(sections, "")
				cur = &strings.Builder{}
			}
			continue
		}
		if cur != nil {
			cur.WriteString(line + "\n")
			sections[len(sections)-1] = cur.String()
		}
	}
	return sections
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"10s", 10 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"1h", time.Hour, false},
		{"250ms", 250 * time.Millisecond, false},
		{"0", 0, false},
		{"-5m", -5 * time.Minute, false}, // parses; validation rejects it where it matters
		{"", 0, true},
		{"10", 0, true},
		{"ten seconds", 0, true},
		{"5 m", 0, true},
		{"1d", 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.Duration, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("UnmarshalText(%q) error %q does not quote the input", tt.in, err)
		}
	}

	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{time.Hour + time.Second, "1h0m1s"},
		{0, "0s"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		text, err := Duration{tt.in}.MarshalText()
		if err != nil || string(text) != tt.want {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", tt.in, text, err, tt.want)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back.Duration != tt.in {
			t.Errorf("round trip of %v gave %v, %v", tt.in, back.Duration, err)
		}
	}
}

func TestValidHostName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"web1", true},
		{"web1.example.com", true},
		{"db_1", true},
		{"10.0.0.1", true},
		{"UPPER-case", true},
		{"a", true},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), false},
		{"", false},
		{".web1", false},
		{"-web1", false},
		{"web 1", false},
		{"web1/x", false},
		{"wéb1", false},
		{"web1:80", false},
		{"::1", false},
	}
	for _, tt := range tests {
		if got := ValidHostName(tt.in); got != tt.want {
			t.Errorf("ValidHostName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		host     string
		port     int
		errMatch string // substring of the error; "" = no error
	}{
		{"localhost", "localhost", 50003, ""},
		{"hbd.example.com:6000", "hbd.example.com", 6000, ""},
		{"192.0.2.1", "192.0.2.1", 50003, ""},
		{"192.0.2.1:1", "192.0.2.1", 1, ""},
		{"2001:db8::1", "2001:db8::1", 50003, ""},
		{"::1", "::1", 50003, ""},
		{"fe80::1%eth0", "fe80::1%eth0", 50003, ""},
		{"[2001:db8::1]:65535", "2001:db8::1", 65535, ""},
		{"[::1]", "::1", 50003, ""},
		{"[fe80::1%eth0]:7", "fe80::1%eth0", 7, ""},
		{"", "", 0, "empty"},
		{"host:0", "", 0, "invalid port"},
		{"host:65536", "", 0, "invalid port"},
		{"host:", "", 0, "invalid port"},
		{"host:http", "", 0, "invalid port"},
		{"bad host", "", 0, "invalid host name"},
		{"[::1]:x", "", 0, "invalid port"},
		{"[::1", "", 0, "[addr]:port"},
		{"[192.0.2.1]:5", "", 0, "only IPv6"},
		{"[web1]", "", 0, "only IPv6"},
		{"2001:db8::1:99999", "", 0, "not an IPv6 address"},
	}
	for _, tt := range tests {
		host, port, err := ParseServer(tt.in)
		if tt.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
				t.Errorf("ParseServer(%q) = %q, %d, %v; want error containing %q", tt.in, host, port, err, tt.errMatch)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("ParseServer(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.host, tt.port)
		}
	}
}

// TestDefaultDataDir changes the environment, so it does not run in
// parallel.
func TestDefaultDataDir(t *testing.T) {
	t.Setenv("HBD_DATA_DIR", "/custom/hbd")
	if got := DefaultDataDir(); got != "/custom/hbd" {
		t.Errorf("with HBD_DATA_DIR: %q, want /custom/hbd", got)
	}
	t.Setenv("HBD_DATA_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	t.Setenv("HOME", "/home/someone")
	want := "/xdg/state/hbd"
	if os.Geteuid() == 0 {
		want = "/var/lib/hbd"
	}
	if got := DefaultDataDir(); got != want {
		t.Errorf("with XDG_STATE_HOME: %q, want %q", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "relative/is/ignored")
	if os.Geteuid() != 0 {
		want = "/home/someone/.local/state/hbd"
	}
	if got := DefaultDataDir(); got != want {
		t.Errorf("with relative XDG_STATE_HOME: %q, want %q", got, want)
	}

	// The agent's default key is the daemon's default key, so one machine
	// running both needs no key configuration.
	t.Setenv("HBD_DATA_DIR", "/d")
	d, a := DefaultDaemon(), DefaultAgent(testBuiltins)
	if d.ResolvedKeyFile() != "/d/hbd.key" || a.ResolvedKeyFile() != "/d/hbd.key" || d.ResolvedDataDir() != "/d" {
		t.Errorf("resolved: daemon key %q dir %q, agent key %q; want /d/hbd.key, /d", d.ResolvedKeyFile(), d.ResolvedDataDir(), a.ResolvedKeyFile())
	}
	d.DataDir = "/srv/hbd"
	if got := d.ResolvedKeyFile(); got != "/srv/hbd/hbd.key" {
		t.Errorf("key with data_dir: %q", got)
	}
	d.KeyFile, a.KeyFile = "/k", "/k2"
	if d.ResolvedKeyFile() != "/k" || a.ResolvedKeyFile() != "/k2" {
		t.Errorf("explicit key_file not used: %q %q", d.ResolvedKeyFile(), a.ResolvedKeyFile())
	}
}

func TestWSSPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"c.pem", "c.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Absolute file names ignore cert_path.
	cfg := "wss_port = 50006\ncert_path = \"/nonexistent\"\nwss_pem = \"" + filepath.ToSlash(filepath.Join(dir, "c.pem")) +
		"\"\nwss_key = \"" + filepath.ToSlash(filepath.Join(dir, "c.key")) + "\"\n"
	d, err := ParseDaemon("abs.toml", []byte(cfg))
	if err != nil {
		t.Fatalf("absolute wss paths: %v", err)
	}
	if d.WSSPemPath() != filepath.Join(dir, "c.pem") || d.WSSKeyPath() != filepath.Join(dir, "c.key") {
		t.Errorf("paths %q %q", d.WSSPemPath(), d.WSSKeyPath())
	}
	// Relative file names are joined to cert_path.
	d = &Daemon{CertPath: dir, WSSPem: "c.pem", WSSKey: "c.key"}
	if d.WSSPemPath() != filepath.Join(dir, "c.pem") || d.WSSKeyPath() != filepath.Join(dir, "c.key") {
		t.Errorf("relative paths %q %q", d.WSSPemPath(), d.WSSKeyPath())
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"hbd.toml", 12, "hbd_port", "must be between 1 and 65535, got 70000"}, "hbd.toml:12: hbd_port: must be between 1 and 65535, got 70000"},
		{Error{"hbd.toml", 0, "name", "required"}, "hbd.toml: name: required"},
		{Error{"hbd.toml", 3, "", "invalid TOML: x"}, "hbd.toml:3: invalid TOML: x"},
		{Error{"", 0, "hbd_port", "bad"}, "hbd_port: bad"},
		{Error{"", 4, "", "bad"}, "line 4: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
	es := Errors{tests[0].e, tests[1].e}
	if got, want := es.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

// TestValidateInCode covers configs built in code rather than loaded: the
// same rules apply, and errors have no line.
func TestValidateInCode(t *testing.T) {
	t.Parallel()
	d := DefaultDaemon()
	d.HBDPort = 0
	d.WSPort = d.WSSPort
	d.LogLevel = "loud"
	err := d.Validate()
	want := "hbd_port: must be between 1 and 65535, got 0\nlog_level: must be one of debug, info, warn, error, got \"loud\""
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}

	// In code, an empty [deadman] is simply off; a set one follows the
	// file's rules, without the derived timeout.
	d = DefaultDaemon()
	if err := d.Validate(); err != nil {
		t.Errorf("defaults with no deadman target: %v", err)
	}
	d.Deadman.Peer = "127.0.0.1:50003"
	d.Deadman.Interval = dur(time.Second)
	err = d.Validate()
	want = "deadman.timeout: must be less than interval (1s), got 10s"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}

	a := DefaultAgent(testBuiltins)
	a.Name = "web1"
	a.Plugins = nil // a hand-built config may leave out the plugins
	a.Exec = []Exec{{Name: "x", Command: Command{Args: []string{"/bin/x"}}, Interval: dur(time.Minute), Timeout: dur(time.Minute), Format: "json"}}
	err = a.Validate()
	want = "exec[0].timeout: must be less than interval (1m), got 1m"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

func TestPluginAccessors(t *testing.T) {
	t.Parallel()
	a, err := ParseAgent("a.toml", []byte(`
name = "web1"
[plugins.cpu_monitor]
enabled = false
[plugins.disk_monitor]
interval = "5m"
`), testBuiltins)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		enabled  bool
		interval time.Duration
	}{
		{"cpu_monitor", false, 30 * time.Second},
		{"disk_monitor", true, 5 * time.Minute},
		{"memory_monitor", true, 30 * time.Second},
		{"network_monitor", true, 30 * time.Second},
		{"gpu_monitor", false, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := a.PluginEnabled(tt.name); got != tt.enabled {
			t.Errorf("PluginEnabled(%q) = %v, want %v", tt.name, got, tt.enabled)
		}
		if got := a.PluginInterval(tt.name); got != tt.interval {
			t.Errorf("PluginInterval(%q) = %v, want %v", tt.name, got, tt.interval)
		}
	}
	empty := Agent{Builtins: testBuiltins} // no plugins table at all: built-ins run at the default
	if !empty.PluginEnabled("cpu_monitor") || empty.PluginInterval("cpu_monitor") != 30*time.Second {
		t.Errorf("zero Agent: enabled %v interval %v", empty.PluginEnabled("cpu_monitor"), empty.PluginInterval("cpu_monitor"))
	}

	// DefaultAgent keeps a copy of the names it is given.
	k := slices.Clone(testBuiltins)
	d := DefaultAgent(k)
	k[0] = "changed"
	if d.Builtins[0] != "cpu_monitor" {
		t.Error("DefaultAgent shares the builtins slice with its caller")
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := tagNames(reflect.TypeFor[Daemon]())
	tests := []struct{ in, want string }{
		{"hbd_prot", "hbd_port"},
		{"HBD_PORT", "hbd_port"},
		{"histroy", "history"},
		{"watchhost", "watchhosts"},
		{"log-level", "log_level"},
		{"loglevel", "log_level"},
		{"port", ""},
		{"completely_different", ""},
		{"ws", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A servers entry joined by ';' is one cluster's members, in order; every
// other entry is one member of its own.
func TestSplitServers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"hbd.example.com":            {"hbd.example.com"},
		"a:50003;b:50003; [::1]:600": {"a:50003", "b:50003", "[::1]:600"},
		"a;":                         {"a", ""},
	} {
		if got := SplitServers(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitServers(%q) = %q, want %q", in, got, want)
		}
	}
	a := DefaultAgent(testBuiltins)
	a.Interval = dur(time.Second)
	if got := a.FailoverPeriod(); got != 2*time.Second {
		t.Errorf("FailoverPeriod with interval 1s = %s, want 2s", got)
	}
	a.FailoverAfter = dur(2500 * time.Millisecond)
	if got := a.FailoverPeriod(); got != 2500*time.Millisecond {
		t.Errorf("FailoverPeriod with failover_after 2.5s = %s", got)
	}
}
