package actors

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/transport/ingest"
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
		n = len(h.summary().JSON())
	}
	b.SetBytes(int64(n))
}

// BenchmarkPluginAnswer is /api/0/hosts/{h}/plugins/{p}?limit=10 built by
// the HostActor from a full ring.
func BenchmarkPluginAnswer(b *testing.B) {
	a := newHostActor(&hostEnv{history: 100, stats: NewStats()}, "web01", true)
	r := a.addRing("cpu_monitor")
	for i := 0; i < 100; i++ {
		r.insert(sample{unixNano: int64(i) * 1e9, data: benchSample})
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(a.answer(&pluginsQuery{plugin: "cpu_monitor", limit: 10}).Body)
	}
	b.SetBytes(int64(n))
}

// BenchmarkPluginsAnswer is /api/0/hosts/{h}/plugins: the latest sample of
// each of 4 plugins.
func BenchmarkPluginsAnswer(b *testing.B) {
	a := newHostActor(&hostEnv{history: 100, stats: NewStats()}, "web01", true)
	for _, p := range []string{"cpu_monitor", "memory_monitor", "disk_monitor", "network_monitor"} {
		a.addRing(p).insert(sample{unixNano: 1, data: benchSample})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.answer(&pluginsQuery{limit: 1})
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
				sums[i] = &HostSummary{Name: fmt.Sprintf("host-%06d", i), State: StateUp}
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

// BenchmarkCheckpointRound is one delta checkpoint of 10,000 hosts that
// each had a heartbeat (on two families) and stored one sample since the
// last: the per-round cost of durable state, in the HostActors (handing
// the record over) and in the checkpointer (encode, compress, write).
// ns/op divided by 10,000 is the cost per host per round.
func BenchmarkCheckpointRound(b *testing.B) {
	const hosts = 10000
	clock := newFakeClock(time.Unix(1795510000, 0))
	s, err := Start(Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		History:  100, Clock: clock, PublishEvery: time.Millisecond,
		State:  &StateConfig{Dir: b.TempDir(), Every: time.Hour},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Every host comes from the same two addresses.
		Limits: limits.Config{HostsPerSource: limits.Off},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	v4, v6 := netip.MustParseAddrPort("10.0.0.7:41234"), netip.MustParseAddrPort("[2001:db8::7]:41235")
	seq := uint64(1)
	// touch gives every host a heartbeat per family and a new sample, as
	// 10 s of a fleet with 10 s heartbeats and 30 s samples of 4 plugins
	// would (1.3 samples per host), and waits until all are applied.
	touch := func() {
		want := s.Stats.Accepted.Load() + 3*hosts
		for i := 0; i < hosts; i++ {
			name := fmt.Sprintf("bench-%06d", i)
			now := clock.Now()
			seq++
			for _, from := range []netip.AddrPort{v4, v6} {
				seq++
				s.feed(&ingest.Heartbeat{Header: ingest.Header{Host: name, Version: 1, Seq: seq, Sent: now.UnixNano(), Recv: now, From: from},
					Interval: 10 * time.Second, ConnSeq: uint32(seq), RTT: time.Millisecond})
			}
			seq++
			s.feed(&ingest.Sample{Header: ingest.Header{Host: name, Version: 1, Seq: seq, Sent: now.UnixNano() + int64(seq), Recv: now, From: v4},
				Plugin: []byte("cpu_monitor"), Data: benchSample})
		}
		for s.Stats.Accepted.Load() < want {
			time.Sleep(time.Millisecond)
		}
	}
	touch()
	s.ckpt.final() // the first is a snapshot of every host
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		touch()
		b.StartTimer()
		// Unpaced: the cost, not the rests between batches.
		if !s.ckpt.final() {
			b.Fatal("checkpoint failed")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.State.LastBytes.Load())/hosts, "bytes/host")
}
