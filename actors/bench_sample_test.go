package actors

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/ingest"
)

// BenchmarkSampleStored is the daemon-side cost of one plugin sample of a
// known host, from the registry to its ring (no rule reads it, no client
// listens): what the fleet exposition's per-host lock adds to. Allocations
// include the message itself, as the UDP reader allocates it.
func BenchmarkSampleStored(b *testing.B) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s, err := Start(Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		History:  100, Clock: clock, PublishEvery: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	v4 := netip.MustParseAddrPort("10.0.0.7:41234")
	base := clock.Now()
	data := make([][]byte, 100)
	for i := range data {
		data[i] = fmt.Appendf(nil, `{"cpu_percent":%d.5,"load_1min":0.%d,"load_5min":0.4,"load_15min":0.3,"frequency":2000,"cores":2}`, i%100, i%10)
	}
	seq := uint64(0)
	feed := func(n int) {
		want := s.Stats.Accepted.Load() + uint64(n)
		for range n {
			seq++
			now := base.Add(time.Duration(seq) * time.Second)
			s.feed(&ingest.Sample{Header: ingest.Header{Host: "web01.example.net", Version: 2, Instance: 1, Seq: seq, Sent: now.UnixNano(), Recv: now, From: v4},
				Plugin: []byte("cpu_monitor"), Data: data[seq%100]})
		}
		for s.Stats.Accepted.Load() < want {
			time.Sleep(50 * time.Microsecond)
		}
	}
	feed(200) // the host exists and its ring is full
	b.ReportAllocs()
	b.ResetTimer()
	feed(b.N)
}
