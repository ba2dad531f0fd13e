package contract

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/internal/samplestore"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/transport/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the encoders")

// t0 is the seed's example time, 1711234567.123.
var t0 = time.Unix(1711234567, 123_000_000)

// shape is one public JSON shape: its golden file, how it is built, and
// the field names (paths) README.md, docs/WEBSOCKET.md or the seed promise
// it carries. A path's "[]" stands for every element of an array and "*"
// for every value of an object; each must have at least one.
type shape struct {
	golden string
	build  func(t *testing.T) []byte
	fields []string
}

var hostFields = []string{"name", "dyn", "ver", "state", "last_seen", "interval", "agent_version",
	"connections[].family", "connections[].address", "connections[].state", "connections[].last_seen",
	"connections[].rtt_ms", "connections[].rtt_smoothed_ms", "connections[].loss_pct",
	"connections[].rtt_p50_ms", "connections[].rtt_p95_ms", "connections[].rtt_p99_ms", "connections[].suspicion", "parents[]"}

var alertFields = []string{"metric_path", "level", "since", "last_value", "last_check", "notification_count", "flapping", "silenced"}

func prefixed(prefix string, fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = prefix + f
	}
	return out
}

func join(lists ...[]string) []string { return slices.Concat(lists...) }

// web01 is a host that reports on both families; the IPv6 path has no
// RTT yet.
func web01() *Host {
	return &Host{Name: "web01", Ver: 2, State: "UP", LastSeen: t0, Interval: 10 * time.Second, AgentVersion: "1.4.0",
		Conns: []Conn{
			{Family: "ipv4", Address: netip.MustParseAddrPort("192.0.2.10:40123"), Up: true, LastSeen: t0,
				RTT: 420 * time.Microsecond, SmoothedRTT: 450 * time.Microsecond, HasRTT: true, RTTQuantiles: [3]uint32{420, 900, 1200},
				Suspicion: MakeSuspicion(0.4213, true, false)},
			{Family: "ipv6", Address: netip.MustParseAddrPort("[2001:db8::7]:41235"), LastSeen: t0.Add(-40 * time.Second), LossPct: 33.3333},
		},
		Parents: []string{"rack1-sw"}}
}

// db01 is a declared host never heard from: version, times and agent
// version are null.
func db01() *Host { return &Host{Name: "db01", State: "UNKNOWN", Interval: 10 * time.Second} }

func ring(t *testing.T, samples ...string) *samplestore.Ring {
	t.Helper()
	r := samplestore.New(100)
	for i, s := range samples {
		if !r.Insert(t0.Add(time.Duration(i-len(samples)+1)*5*time.Minute).UnixNano(), []byte(s)) {
			t.Fatalf("sample %s not stored", s)
		}
	}
	return r
}

func cpuAlert() *Alert {
	return &Alert{Host: "web01", MetricPath: "cpu_monitor.cpu_percent", Level: alert.LevelCritical, Since: t0.Add(-567 * time.Second),
		LastValue: 95.5, HasValue: true, LastCheck: t0, NotificationCount: 2}
}

func diskAlert() *Alert {
	return &Alert{Host: "db01", MetricPath: "disk_monitor./.percent", Level: alert.LevelWarning, Since: t0.Add(-time.Hour),
		LastCheck: t0, Flapping: true}
}

// checkAlert is the status alert of a check ([[exec]] format = "nagios"),
// which carries the check's text.
func checkAlert() *Alert {
	return &Alert{Host: "web01", MetricPath: "check_load.status", Level: alert.LevelWarning, Since: t0.Add(-time.Minute),
		LastCheck: t0, Text: "LOAD WARNING - total load average: 2.39, 3.14, 2.34"}
}

func sil() *silence.Silence {
	return &silence.Silence{ID: "5f0c1d2e3a4b5c6d", Host: "web*", Metric: "disk_monitor.*.percent", Comment: "disk swap <1h> & more",
		Origin: "api", Until: t0.Add(2 * time.Hour), Created: t0}
}

var shapes = []shape{
	{"host.json", func(t *testing.T) []byte { return EncodeHost(web01()) }, hostFields},
	{"host_suspect.json", func(t *testing.T) []byte {
		// The adaptive detector suspects web01's IPv4 path (φ 4.27 is
		// past suspect_phi); IPv6 is on the fixed rule (too few samples).
		h := web01()
		h.State = "SUSPECT"
		h.Conns[0].Suspicion = MakeSuspicion(4.2666, true, true)
		h.Conns[1].Up = true
		return EncodeHost(h)
	}, hostFields},
	{"host_unreported.json", func(t *testing.T) []byte { return EncodeHost(db01()) }, []string{"name", "dyn", "ver", "state", "last_seen", "interval", "agent_version", "connections", "parents"}},
	{"hosts.json", func(t *testing.T) []byte {
		return AppendHosts(nil, slices.Values([][]byte{EncodeHost(db01()), EncodeHost(web01())}))
	}, prefixed("[].", []string{"name", "dyn", "ver", "state", "connections"})},
	{"hosts_empty.json", func(t *testing.T) []byte { return AppendHosts(nil, slices.Values([][]byte(nil))) }, nil},
	{"plugins.json", func(t *testing.T) []byte {
		return AppendPlugins(nil, "webserver01", []Plugin{
			{"cpu_monitor", ring(t, `{"cpu_percent":42.1,"load_1min":2.3}`, `{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`)},
			{"memory_monitor", ring(t, `{"percent":65.4,"available_mb":4096,"total_mb":16384}`)},
		})
	}, []string{"hostname", "plugins.*.timestamp", "plugins.*.data", "plugins.*.sample_count"}},
	{"plugin_samples.json", func(t *testing.T) []byte {
		return AppendPluginSamples(nil, "webserver01", "cpu_monitor",
			ring(t, `{"cpu_percent":40.0}`, `{"cpu_percent":42.1,"load_1min":2.3}`, `{"cpu_percent":45.2,"load_1min":2.5}`), 2)
	}, []string{"hostname", "plugin", "samples[].timestamp", "samples[].data", "sample_count", "stored"}},
	{"host_alerts.json", func(t *testing.T) []byte {
		ok := Alert{MetricPath: "heartbeat", Level: alert.LevelOK, Since: t0.Add(-time.Hour), LastCheck: t0}
		return AppendHostAlerts(nil, "web01", []HostAlert{{Alert: *cpuAlert(), Silenced: true}, {Alert: ok}})
	}, join([]string{"hostname", "summary.ok", "summary.warning", "summary.critical", "summary.unknown"}, prefixed("alerts[].", alertFields))},
	{"alerts.json", func(t *testing.T) []byte {
		return AppendFleetAlerts(nil, []FleetAlert{
			{Open: AppendAlertOpen(nil, cpuAlert(), true)},
			{Open: AppendAlertOpen(nil, diskAlert(), true), Silenced: true},
			{Open: AppendAlertOpen(nil, checkAlert(), true)},
		}, FleetSummary{Critical: 1, Warning: 2}, 5)
	}, join([]string{"summary.critical", "summary.warning", "summary.unknown", "summary.total", "host_count", "alerts[].hostname"}, prefixed("alerts[].", alertFields))},
	{"messages.json", func(t *testing.T) []byte {
		return AppendMessages(nil, slices.Values([]Message{
			{Time: t0, Host: "webserver01", Msg: "state UP -> DOWN", Kind: "state"},
			{Time: t0.Add(-time.Minute), Msg: "hbd started", Kind: "system"},
			{Time: t0.Add(-2 * time.Minute), Host: "web\"02", Msg: "line\nbreak"},
		}))
	}, []string{"[].time", "[].host", "[].msg"}},
	{"silence.json", func(t *testing.T) []byte { return SilenceBody(sil(), t0) },
		[]string{"id", "host", "metric", "comment", "origin", "until", "created"}},
	{"silences.json", func(t *testing.T) []byte {
		agent := silence.Silence{ID: "0123456789abcdef", Host: "db01", Metric: "**", Comment: "kernel update", Origin: "agent", Until: t0.Add(10 * time.Minute), Created: t0}
		return SilencesBody([]silence.Silence{agent, *sil()}, t0)
	}, prefixed("silences[].", []string{"id", "host", "metric", "comment", "origin", "until", "created"})},
	{"silences_empty.json", func(t *testing.T) []byte { return SilencesBody(nil, t0) }, []string{"silences"}},
	{"silence_deleted.json", func(t *testing.T) []byte { return DeletedBody("5f0c1d2e3a4b5c6d") }, []string{"deleted"}},
	{"cluster.json", func(t *testing.T) []byte {
		return AppendCluster(nil, &Cluster{Name: "prod", Self: "10.0.0.12:50010", Provider: "static", HostsOwned: 9835,
			Version: 4, Hash: 0x0123456789abcdef, Consensus: true, Changes: 3, Members: []ClusterMember{
				{Address: "10.0.0.11:50010", ID: "hbd-5f0c1d2e"}, {Address: "10.0.0.12:50010", ID: "hbd-3a4b5c6d", Self: true},
				{Address: "10.0.0.13:50010"},
			}})
	}, []string{"enabled", "name", "self", "provider", "hosts_owned", "topology.version", "topology.hash", "topology.consensus",
		"topology.changes", "members[].address", "members[].id", "members[].self"}},
	{"cluster_disabled.json", func(t *testing.T) []byte { return ClusterDisabledBody() }, []string{"enabled"}},
	{"stats.json", func(t *testing.T) []byte {
		var dropped []Count
		for i, r := range wire.AllReasons() {
			dropped = append(dropped, Count{r.String(), uint64(i)})
		}
		return AppendStats(nil, &Stats{Received: 1000, Accepted: 990, Dropped: dropped, Hosts: 5, SamplesHeld: 400, AcksSent: 800, AcksDropped: 1,
			RejectedSources: []rejected.Source{
				{Addr: netip.MustParseAddrPort("198.51.100.7:5000"), Host: "web09", Reason: wire.ReasonBadMAC, Count: 7, LastSeen: t0},
				{Addr: netip.MustParseAddrPort("[2001:db8::9]:6000"), Reason: wire.ReasonTruncated, Count: 3, LastSeen: t0.Add(-time.Second)},
			},
			RejectedSourcesEvicted: 2, ReplayInstancesEvicted: 1})
	}, []string{"received", "accepted", "dropped", "hosts", "samples_held", "acks_sent", "acks_dropped",
		"rejected_sources[].address", "rejected_sources[].host", "rejected_sources[].reason", "rejected_sources[].count", "rejected_sources[].last_seen",
		"rejected_sources_evicted", "replay_instances_evicted"}},
	{"rtt.json", func(t *testing.T) []byte {
		hist := func(pts ...[2]int64) iter.Seq2[int64, uint32] {
			return func(yield func(int64, uint32) bool) {
				for _, p := range pts {
					if !yield(p[0], uint32(p[1])) {
						return
					}
				}
			}
		}
		ms := t0.UnixMilli()
		return AppendRTT(nil, "web01", 44, []RTTFamily{
			{Family: "ipv4", Address: netip.MustParseAddrPort("192.0.2.10:40123"), Quantiles: [3]uint32{420, 900, 1200}, Count: 3,
				History: hist([2]int64{ms - 30000, 420}, [2]int64{ms - 20000, 0}, [2]int64{ms - 10000, 1200}, [2]int64{ms, 900})},
			{Family: "ipv6", Address: netip.MustParseAddrPort("[2001:db8::7]:41235"), Count: 0, History: hist([2]int64{ms, 0})},
		})
	}, join([]string{"host", "window"}, prefixed("families[].", []string{"family", "address", "p50_ms", "p95_ms", "p99_ms", "count", "history"}))},
	{"rtt_empty.json", func(t *testing.T) []byte { return AppendRTT(nil, "db01", 44, nil) }, []string{"host", "window", "families"}},
	{"error.json", func(t *testing.T) []byte { return ErrorBody("Host 'unknown-host' not found") }, []string{"error"}},
	{"frame_snapshot.json", func(t *testing.T) []byte {
		hosts := [][]byte{EncodeHost(db01()), EncodeHost(web01())}
		b := AppendSnapshot(nil, hosts)
		if n := SnapshotSize(hosts); len(b) > n || len(b) < n-len(hosts) {
			t.Errorf("SnapshotSize %d, frame %d bytes", n, len(b))
		}
		return b
	}, join([]string{"type"}, prefixed("data.hosts[].", hostFields[:7]), []string{"data.hosts[].connections"})},
	{"frame_snapshot_empty.json", func(t *testing.T) []byte { return AppendSnapshot(nil, nil) }, []string{"type", "data.hosts"}},
	{"frame_host.json", func(t *testing.T) []byte { return HostFrame(EncodeHost(web01())) }, join([]string{"type"}, prefixed("data.", hostFields))},
	{"frame_plugin.json", func(t *testing.T) []byte {
		return PluginFrame("web01", "cpu_monitor", []byte(`{"cpu_percent":12.5}`), t0.UnixNano())
	}, []string{"type", "data.host", "data.plugin", "data.data", "data.timestamp"}},
	{"frame_alert.json", func(t *testing.T) []byte { return AlertFrame(cpuAlert(), alert.LevelWarning, false) },
		join([]string{"type", "data.hostname", "data.prev_level"}, prefixed("data.", alertFields))},
	{"frame_message.json", func(t *testing.T) []byte {
		return MessageFrame(&Message{Time: t0, Host: "web01", Msg: "state UP -> DOWN", Kind: "state"})
	}, []string{"type", "data.time", "data.host", "data.msg"}},
	{"frame_error.json", func(t *testing.T) []byte {
		return ErrorFrame(`unknown type "cpu" (want host, plugin, alert or message) <&>`)
	}, []string{"type", "data.error"}},
}

// TestGolden compares every shape with its golden file byte for byte; run
// with -update to rewrite them after a deliberate change, and review the
// diff: it is a change of the public API.
func TestGolden(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.golden, func(t *testing.T) {
			got := s.build(t)
			path := filepath.Join("testdata", s.golden)
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update to create it)", err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the encoder's output:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}

// TestGoldenFields parses every golden file as JSON and checks that it
// carries the field names the API documents promise for its shape.
func TestGoldenFields(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.golden, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", s.golden))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, b)
			}
			for _, f := range s.fields {
				if err := hasPath(v, strings.Split(f, ".")); err != nil {
					t.Errorf("field %s: %v", f, err)
				}
			}
		})
	}
}

// TestGoldenTypes checks the frames' "type" values: what a client's
// subscription names.
func TestGoldenTypes(t *testing.T) {
	for file, typ := range map[string]string{"frame_snapshot.json": FrameSnapshot, "frame_host.json": FrameHost, "frame_plugin.json": FramePlugin,
		"frame_alert.json": FrameAlert, "frame_message.json": FrameMessage, "frame_error.json": FrameError} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &f); err != nil || f.Type != typ || len(f.Data) == 0 {
			t.Errorf("%s: type %q (want %q), data %s, err %v", file, f.Type, typ, f.Data, err)
		}
	}
}

// hasPath reports whether v has the field path p (see shape.fields).
func hasPath(v any, p []string) error {
	if len(p) == 0 {
		return nil
	}
	key, each := strings.CutSuffix(p[0], "[]")
	if key == "*" {
		obj, ok := v.(map[string]any)
		if !ok || len(obj) == 0 {
			return fmt.Errorf("want a non-empty object, have %T", v)
		}
		for k, x := range obj {
			if err := hasPath(x, p[1:]); err != nil {
				return fmt.Errorf("%s: %v", k, err)
			}
		}
		return nil
	}
	if key != "" {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object with %q, have %T", key, v)
		}
		if v, ok = obj[key]; !ok {
			return fmt.Errorf("no %q", key)
		}
	}
	if !each {
		return hasPath(v, p[1:])
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return fmt.Errorf("want a non-empty array at %q, have %v", key, v)
	}
	for i, x := range arr {
		if err := hasPath(x, p[1:]); err != nil {
			return fmt.Errorf("[%d]: %v", i, err)
		}
	}
	return nil
}
