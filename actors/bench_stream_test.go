package actors

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/contract"
)

// benchFleet is a published fleet of n UP hosts on two families, and
// their states, to re-summarize some between publications.
func benchFleet(b *testing.B, n int) (*fleetActor, []*hostState) {
	b.Helper()
	f := &Fleet{}
	a := newFleetActor(f, RealClock{}, time.Hour, nil, NewStats())
	states := make([]*hostState, n)
	for i := range states {
		h := newHostState(fmt.Sprintf("host-%06d.example.net", i), true, 10*time.Second, 3)
		h.heartbeat(t0, netip.MustParseAddrPort("10.0.0.7:41234"), 10*time.Second, 1, 800*time.Microsecond)
		h.heartbeat(t0, netip.MustParseAddrPort("[2001:db8::7]:41235"), 10*time.Second, 1, 900*time.Microsecond)
		states[i] = h
		a.pending[h.name] = h.summary()
	}
	a.publish()
	return a, states
}

// touch gives hosts [from, from+n) a heartbeat and publishes; encoded
// says whether their objects are encoded now (a WebSocket client listens,
// so the HostActor encodes the host frame) or left to the first reader.
func touch(a *fleetActor, states []*hostState, from, n int, at time.Time, encoded bool) {
	for i := from; i < from+n; i++ {
		h := states[i%len(states)]
		h.heartbeat(at, netip.MustParseAddrPort("10.0.0.7:41234"), 10*time.Second, 2, 700*time.Microsecond)
		s := h.summary()
		if encoded {
			warmSummary(s)
		}
		a.pending[h.name] = s
	}
	a.publish()
}

// BenchmarkSnapshotClients is the snapshot frames of 20 clients that
// (re)connect within one fleet publication of 100,000 hosts, 2,000 of
// which changed since the last (heartbeats while a client listens): the
// bytes built and allocated for them, hub and writers together.
func BenchmarkSnapshotClients(b *testing.B) {
	const hosts, clients, changed = 100000, 20, 2000
	a, states := benchFleet(b, hosts)
	for _, s := range a.fleet.Snapshot().Hosts {
		warmSummary(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		touch(a, states, i*changed, changed, t0.Add(time.Duration(i+1)*time.Second), true)
		b.StartTimer()
		total += snapshotFrames(a.fleet, clients)
	}
	b.ReportMetric(float64(total)/float64(b.N), "frame-bytes/op")
}

// BenchmarkHostsPage is the body of /api/0/hosts?limit=100 in a fleet of
// 100,000 hosts, as the handler builds it. "unchanged": the page's hosts
// did not change since the last request; "changed": all 100 had a
// heartbeat in between, with nobody listening to the stream (the worst
// case: every object is encoded by the request).
func BenchmarkHostsPage(b *testing.B) {
	const hosts, limit = 100000, 100
	for _, changed := range []bool{false, true} {
		name := "unchanged"
		if changed {
			name = "changed"
		}
		b.Run(name, func(b *testing.B) {
			a, states := benchFleet(b, hosts)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				if changed {
					b.StopTimer()
					touch(a, states, 0, limit, t0.Add(time.Duration(i+1)*time.Second), false)
					b.StartTimer()
				}
				page := a.fleet.Snapshot().Hosts[:limit]
				body := contract.AppendHosts(make([]byte, 0, 2+limit*400), func(yield func([]byte) bool) {
					for _, h := range page {
						if !yield(summaryJSON(h)) {
							return
						}
					}
				})
				n = len(body)
			}
			b.SetBytes(int64(n))
		})
	}
}
