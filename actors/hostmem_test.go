package actors

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// hostHeapProfile, when set, names the files BenchmarkHostMemory writes
// heap profiles to: NAME.before (the system without hosts) and NAME.after
// (with them), for
//
//	go tool pprof -sample_index=inuse_space -diff_base NAME.before NAME.after
//
// Run with -memprofilerate=1 so every allocation is sampled.
var hostHeapProfile = flag.String("hostheap", "", "BenchmarkHostMemory: write heap profiles to `NAME`.before and NAME.after")

// BenchmarkHostMemory is the live heap a host costs with empty rings, as
// the memory scenario of hbd-bench registers it: 20,000 hosts, each known
// by one heartbeat per address family (one IPv4 and one IPv6 connection),
// no plugins, through the registry and the real HostActors, with durable
// state on (its checkpoint does not run during the measurement) and the
// fleet index published. bytes/host is Δ HeapAlloc / hosts after a full
// GC before and after; RSS is about twice that with the default GOGC.
// The figure does not depend on b.N: run it with -benchtime 1x.
//
// The UDP readers' routing caches (transport/ingest) are not in it: the
// messages are fed to the registry as a reader does for a host it has not
// cached yet.
func BenchmarkHostMemory(b *testing.B) {
	const hosts = 20000
	s, err := Start(Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		History:  100, PublishEvery: time.Millisecond,
		State:  &StateConfig{Dir: b.TempDir(), Every: time.Hour},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Every host sends from the same two addresses, as hbd-bench's
		// do, which hosts_per_source would refuse.
		Limits: limits.Config{HostsPerSource: limits.Off},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()

	before := liveHeap(b, "before")
	v4, v6 := netip.MustParseAddrPort("127.0.0.1:41234"), netip.MustParseAddrPort("[::1]:41235")
	now := time.Now()
	for i := 0; i < hosts; i++ {
		name := fmt.Sprintf("bench-host-%06d.example.net", i)
		for j, from := range []netip.AddrPort{v4, v6} {
			seq := uint64(2*i + j + 1)
			s.feed(&ingest.Heartbeat{Header: ingest.Header{Host: name, Version: wire.Version, Instance: 1, Seq: seq, Sent: now.UnixNano() + int64(seq), Recv: now, From: from},
				Interval: time.Minute, ConnSeq: 1, RTT: time.Millisecond})
		}
	}
	deadline := time.Now().Add(time.Minute)
	for s.Stats.Accepted.Load() < 2*hosts {
		if time.Now().After(deadline) {
			b.Fatalf("accepted %d of %d heartbeats in a minute", s.Stats.Accepted.Load(), 2*hosts)
		}
		time.Sleep(time.Millisecond)
	}
	settle(s)
	if n := len(s.Fleet.Snapshot().Hosts); n != hosts {
		b.Fatalf("fleet index holds %d hosts, want %d", n, hosts)
	}
	if st := stateOf(s, "bench-host-000000.example.net"); st != StateUp {
		b.Fatalf("state %s, want UP", st)
	}
	after := liveHeap(b, "after")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/hosts, "bytes/host")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/hosts, "objects/host")
	runtime.KeepAlive(s)
}

// liveHeap collects garbage and reads the heap's statistics, writing a
// heap profile when -hostheap asks for one.
func liveHeap(b *testing.B, phase string) runtime.MemStats {
	b.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if *hostHeapProfile != "" {
		f, err := os.Create(*hostHeapProfile + "." + phase)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	return ms
}
