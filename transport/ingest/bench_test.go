package ingest

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// benchSample is the 4-value cpu_monitor sample hbd-bench sends.
const benchSample = `{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`

// countRouter knows every host and only counts what it is handed, so the
// benchmark measures the reader alone.
type countRouter struct{ n atomic.Uint64 }

func (r *countRouter) Lookup(string) (Route, bool) { return r, true }
func (r *countRouter) SourceFull(netip.Addr) bool  { return false }
func (r *countRouter) Unrouted(Message)            { r.n.Add(1) }
func (r *countRouter) Deliver(Message)             { r.n.Add(1) }
func benchDeps(r Router, stats *Counters, sockets int) Deps {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lim := limits.Defaults()
	return Deps{Router: r, Clock: fixedClock{t0}, Stats: stats, Rejected: rejected.New(sockets, rejected.Options{Logger: log}),
		Limits: &lim, Refusals: limits.NewRefusals(limits.Options{Logger: log}), Logger: log}
}

// benchDatagrams are n signed datagrams of 64 hosts, as hbd-bench sends
// them: every samples-th one a 4-value cpu sample (0: none), the others
// heartbeats.
func benchDatagrams(b *testing.B, n, samples int) [][]byte {
	sg := wire.NewSigner(testKey)
	out := make([][]byte, n)
	for i := range out {
		e := wire.Envelope{Host: fmt.Sprintf("bench-%06d", i%64), Seq: uint64(i + 1), Time: t0.UnixNano(), Instance: 7}
		var err error
		if samples > 0 && i%samples == 0 {
			out[i], err = wire.AppendSample(nil, sg, e, "cpu_monitor", []byte(benchSample))
		} else {
			out[i], err = wire.AppendHeartbeat(nil, sg, e, wire.Heartbeat{IntervalMS: 10000, ConnSeq: uint32(i), RTTMicros: 800})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkReadLoop is the per-datagram cost of the ingest loop: parse,
// HMAC, clock check, route (cached), decode, deliver. "batch" runs full
// batches of 64 through the reader's own per-batch function, with no
// socket; one op is one batch. "loopback" sends the datagrams through a
// real socket on 127.0.0.1 to a started Ingest (a sender goroutine and the
// reader share the CPUs); one op is one datagram.
func BenchmarkReadLoop(b *testing.B) {
	mixes := []struct {
		name    string
		samples int
	}{{"heartbeat", 0}, {"sample", 1}, {"mixed", 4}}
	for _, mix := range mixes {
		b.Run("batch/"+mix.name, func(b *testing.B) {
			router := &countRouter{}
			stats := &Counters{}
			r := newReader(Config{Keys: NewKeys(testKey, nil), MaxClockSkew: time.Minute}, benchDeps(router, stats, 1), nil, nil)
			batch := udp.NewBatch(readBatch, 1<<16)
			from := netip.MustParseAddrPort("192.0.2.7:41234")
			for _, d := range benchDatagrams(b, readBatch, mix.samples) {
				batch.Put(d, from)
			}
			r.handle(batch) // fills the route cache, as a running reader's is
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.handle(batch)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			n := float64(b.N) * readBatch
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/datagram")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/n, "allocs/datagram")
			if got := router.n.Load(); got != uint64(b.N+1)*readBatch || stats.DroppedTotal() != 0 {
				b.Fatalf("delivered %d, dropped %d", got, stats.DroppedTotal())
			}
		})
	}
	b.Run("loopback/mixed", benchLoopback)
}

// benchLoopback keeps at most window datagrams in flight, so the socket's
// buffer never overflows; it gives up (and fails) after 10 s without
// progress.
func benchLoopback(b *testing.B) {
	const window = 2048
	router := &countRouter{}
	stats := &Counters{}
	in, err := Bind(Config{Host: "127.0.0.1", RecvBuffer: 4 << 20, Keys: NewKeys(testKey, nil), MaxClockSkew: time.Minute}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	in.Start(benchDeps(router, stats, in.Sockets()))
	defer in.Stop()
	c, err := udp.Listen("udp4", "127.0.0.1:0", udp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ds := benchDatagrams(b, 1024, 4)
	to := in.Addrs()[0]
	out := udp.NewOutBatch(64)
	b.ReportAllocs()
	b.ResetTimer()
	sent, last, lastMove := 0, uint64(0), time.Now()
	for sent < b.N {
		done := router.n.Load()
		if done != last {
			last, lastMove = done, time.Now()
		} else if time.Since(lastMove) > 10*time.Second {
			b.Fatalf("stalled: %d of %d sent delivered (a datagram lost?)", done, sent)
		}
		if uint64(sent)-done >= window {
			runtime.Gosched()
			continue
		}
		out.Reset()
		for k := 0; k < 64 && sent < b.N; k++ {
			out.Add(ds[sent%len(ds)], to)
			sent++
		}
		if _, err := c.WriteBatch(out); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); router.n.Load() < uint64(b.N); runtime.Gosched() {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered", router.n.Load(), b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/datagram")
}
