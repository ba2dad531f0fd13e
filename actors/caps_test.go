package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/transport/wire"
)

// refused sends b and waits until limit l has refused one more thing: the
// refusal is the barrier that says the datagram was handled.
func (a *agent) refused(l limits.Limit, b []byte) {
	a.t.Helper()
	before := a.s.Refusals.Count(l)
	a.send(b, nil)
	eventually(a.t, l.String()+" refusal", func() bool { return a.s.Refusals.Count(l) > before })
	settle(a.s)
}

func (a *agent) sampleDatagram(plugin, data string) []byte {
	a.t.Helper()
	b, err := wire.AppendSample(nil, wire.NewSigner(testKey), a.env(), plugin, []byte(data))
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

func (a *agent) heartbeatDatagram(connSeq uint32) []byte {
	a.t.Helper()
	b, err := wire.AppendHeartbeat(nil, wire.NewSigner(testKey), a.env(), wire.Heartbeat{IntervalMS: 10000, ConnSeq: connSeq})
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// pluginsOf returns the plugins of host's /plugins answer and their sample counts.
func pluginsOf(t *testing.T, s *System, host string) map[string]int {
	t.Helper()
	var body struct {
		Plugins map[string]struct {
			Count int `json:"sample_count"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(answerer{t}.of(s.QueryPlugins(context.Background(), host, "", 1))), &body); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for p, v := range body.Plugins {
		out[p] = v.Count
	}
	return out
}

// A host at plugins_per_host keeps updating its plugins; only a new one is
// refused, and counted.
func TestPluginCapKeepsExistingPlugins(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), limits: limits.Config{PluginsPerHost: 2}})
	a := newTestAgent(t, s, clock, "web01")
	a.sample("p1", `{"v":1}`)
	a.sample("p2", `{"v":1}`)
	a.refused(limits.PluginsPerHost, a.sampleDatagram("p3", `{"v":1}`))
	clock.Advance(time.Second)
	a.sample("p1", `{"v":2}`)
	got := pluginsOf(t, s, "web01")
	if len(got) != 2 || got["p1"] != 2 || got["p2"] != 1 {
		t.Errorf("plugins %v, want p1 with 2 samples and p2 with 1, no p3", got)
	}
	if n := s.Refusals.Count(limits.PluginsPerHost); n != 1 {
		t.Errorf("plugins_per_host refusals = %d, want 1", n)
	}
}

// Samples over sample_bytes (measured after decompression, without
// decompressing) or keys_per_sample are refused in the reader.
func TestSampleSizeAndKeysCaps(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), limits: limits.Config{SampleBytes: 4096, KeysPerSample: 10}})
	a := newTestAgent(t, s, clock, "web01")
	// 20 KiB of one repeated byte compresses to about 1 KiB on the wire.
	big := `{"x":"` + strings.Repeat("a", 20<<10) + `"}`
	b := a.sampleDatagram("big", big)
	if len(b) > 2048 {
		t.Fatalf("the compressed datagram is %d bytes, want a small one", len(b))
	}
	a.refused(limits.SampleBytes, b)
	var keys []string
	for i := range 11 {
		keys = append(keys, fmt.Sprintf(`"k%d":%d`, i, i))
	}
	a.refused(limits.KeysPerSample, a.sampleDatagram("many", "{"+strings.Join(keys, ",")+"}"))
	a.sample("ok", "{"+strings.Join(keys[:10], ",")+"}")
	if got := pluginsOf(t, s, "web01"); len(got) != 1 || got["ok"] != 1 {
		t.Errorf("plugins %v, want only ok", got)
	}
}

// One source address registers at most hosts_per_source dynamic hosts;
// the hosts it has keep working, declared hosts are not counted.
func TestHostsPerSource(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), watch: []string{"declared"}, limits: limits.Config{HostsPerSource: 2}})
	agents := map[string]*agent{}
	for _, h := range []string{"dyn1", "dyn2", "declared"} {
		agents[h] = newTestAgent(t, s, clock, h)
		agents[h].beat()
	}
	late := newTestAgent(t, s, clock, "dyn3")
	late.refused(limits.HostsPerSource, late.heartbeatDatagram(1))
	if _, ok := s.Registry.Lookup("dyn3"); ok {
		t.Fatal("dyn3 was registered past the cap")
	}
	// dyn1 still reports; a second new host is refused again.
	agents["dyn1"].beat()
	late.refused(limits.HostsPerSource, late.heartbeatDatagram(2))
	if n := s.Registry.Len(); n != 3 {
		t.Errorf("%d hosts registered, want 3", n)
	}
}

// The restored dynamic hosts count against their address after a restart.
func TestHostsPerSourceSurvivesRestart(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	dir := t.TempDir()
	o := persistOpts{dir: dir, limits: limits.Config{HostsPerSource: 2}}
	s := startPersist(t, clock, o)
	newTestAgent(t, s, clock, "dyn1").beat()
	dyn2 := newTestAgent(t, s, clock, "dyn2")
	dyn2.beat()
	s.Stop()
	s = startPersist(t, clock, o)
	late := newTestAgent(t, s, clock, "dyn3")
	late.refused(limits.HostsPerSource, late.heartbeatDatagram(1))
	dyn2.s = s
	dyn2.beat()
}

// A host tracks at most alerts_per_host metric paths; paths with control
// characters or longer than metric_path_length never become alerts, so
// they never reach a notification, while a normal key still pages.
func TestAlertCapsAndUnsafePaths(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL,
		rules:  []alert.Rule{{Metric: "disk_monitor.*.percent", Critical: ptr(90.0), Op: alert.OpGT}},
		limits: limits.Config{AlertsPerHost: 4, MetricPathLength: 64}})
	a := newTestAgent(t, s, clock, "web01")
	a.beat() // the heartbeat alert is one of the four
	before := s.Refusals.Count(limits.MetricPathInvalid)
	a.sample("disk_monitor", `{"bad\u0000key":{"percent":99},"cr\r\nlf":{"percent":99},"`+strings.Repeat("l", 60)+`":{"percent":99},"ok":{"percent":99}}`)
	if n := s.Refusals.Count(limits.MetricPathInvalid) - before; n != 2 {
		t.Errorf("metric_path_invalid refusals = %d, want 2", n)
	}
	if n := s.Refusals.Count(limits.MetricPathLength); n != 1 {
		t.Errorf("metric_path_length refusals = %d, want 1", n)
	}
	eventually(t, "the page for the normal key", func() bool { return hook.got() == "problem:disk_monitor.ok.percent:CRITICAL" })
	clock.Advance(time.Second)
	a.sample("disk_monitor", `{"ok":{"percent":1},"b":{"percent":1},"c":{"percent":1},"d":{"percent":1}}`)
	got := alertsOf(t, s, "web01")
	for _, want := range []string{`"heartbeat"`, `"disk_monitor.ok.percent"`, `"disk_monitor.b.percent"`, `"disk_monitor.c.percent"`} {
		if !strings.Contains(got, want) {
			t.Errorf("alerts lack %s: %s", want, got)
		}
	}
	if strings.Contains(got, "disk_monitor.d.percent") || strings.Contains(got, "disk_monitor.bad") || strings.Contains(got, "disk_monitor.cr") || strings.Contains(got, "lll") {
		t.Errorf("alerts past the cap or with unsafe paths: %s", got)
	}
	if n := s.Refusals.Count(limits.AlertsPerHost); n != 1 {
		t.Errorf("alerts_per_host refusals = %d, want 1", n)
	}
	eventually(t, "the recovery", func() bool {
		return hook.got() == "problem:disk_monitor.ok.percent:CRITICAL recovery:disk_monitor.ok.percent:OK"
	})
}

// A host holds at most bytes_per_host of sample memory: a sample that would
// grow it past is refused, one that replaces the oldest of a full ring is
// stored.
func TestBytesPerHost(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), history: 5, limits: limits.Config{BytesPerHost: 130 << 10}})
	a := newTestAgent(t, s, clock, "web01")
	// Each sample's string differs: the rings store an unchanged value in
	// a bit, so only different data takes its size.
	data := func(i int) string {
		return fmt.Sprintf(`{"i":%d,"x":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 10000))
	}
	for i := range 5 {
		a.sample("p1", data(i))
		clock.Advance(time.Second)
	}
	// The rings' memory (buffers, not only the coded samples): p1's five
	// take about 96 KiB, p2's first about 26 KiB: within 130 KiB.
	a.sample("p2", data(0))
	clock.Advance(time.Second)
	a.refused(limits.BytesPerHost, a.sampleDatagram("p2", data(1)))
	a.sample("p1", data(5)) // replaces p1's oldest: the host holds no more
	if got := pluginsOf(t, s, "web01"); got["p1"] != 5 || got["p2"] != 1 {
		t.Errorf("plugins %v, want p1 with 5 samples, p2 with 1", got)
	}
	if n := s.Refusals.Count(limits.BytesPerHost); n != 1 {
		t.Errorf("bytes_per_host refusals = %d, want 1", n)
	}
}
