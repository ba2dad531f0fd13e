package actors

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var benchSample = []byte(`{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`)

// BenchmarkHostSummaryJSON is the per-heartbeat cost of the host's
// /api/0/hosts entry, encoded by its HostActor.
func BenchmarkHostSummaryJSON(b *testing.B) {
	h := newHostState("web01.example.net", true, 10*time.Second, 3)
	h.heartbeat(t0, netip.MustParseAddrPort("10.0.0.7:41234"), 10*time.Second, 1, 800*time.Microsecond)
	h.heartbeat(t0, netip.MustParseAddrPort("[2001:db8::7]:41235"), 10*time.Second, 1, 900*time.Microsecond)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(h.summary().JSON)
	}
	b.SetBytes(int64(n))
}

// BenchmarkPluginAnswer is /api/0/hosts/{h}/plugins/{p}?limit=10 built by
// the HostActor from a full ring.
func BenchmarkPluginAnswer(b *testing.B) {
	a := newHostActor(&hostEnv{history: 100, stats: NewStats()}, "web01", true)
	r := newRing("p", 100)
	for i := 0; i < 100; i++ {
		r.push(sample{unixNano: int64(i) * 1e9, data: benchSample})
	}
	a.plugins["cpu_monitor"] = r
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(a.answer(pluginsQuery{plugin: "cpu_monitor", limit: 10}).Body)
	}
	b.SetBytes(int64(n))
}

// BenchmarkPluginsAnswer is /api/0/hosts/{h}/plugins: the latest sample of
// each of 4 plugins.
func BenchmarkPluginsAnswer(b *testing.B) {
	a := newHostActor(&hostEnv{history: 100, stats: NewStats()}, "web01", true)
	for _, p := range []string{"cpu_monitor", "memory_monitor", "disk_monitor", "network_monitor"} {
		r := newRing("p", 100)
		r.push(sample{unixNano: 1, data: benchSample})
		a.plugins[p] = r
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.answer(pluginsQuery{limit: 1})
	}
}

// BenchmarkFleetPublish is one snapshot publication with 2,000 hosts changed
// since the last: 100,000 hosts heartbeating every 10 s on two families
// change 1,000 summaries per 50 ms publish interval, so this is twice that.
func BenchmarkFleetPublish(b *testing.B) {
	for _, hosts := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			f := &Fleet{}
			a := newFleetActor(f, RealClock{}, time.Hour, nil, NewStats())
			sums := make([]*HostSummary, hosts)
			for i := range sums {
				sums[i] = &HostSummary{Name: fmt.Sprintf("host-%06d", i), State: StateUp, JSON: []byte(`{}`)}
				a.pending[sums[i].Name] = sums[i]
			}
			a.publish()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for j := 0; j < 2000; j++ {
					s := sums[(i+j*37)%hosts]
					a.pending[s.Name] = s
				}
				i++
				a.publish()
			}
		})
	}
}
