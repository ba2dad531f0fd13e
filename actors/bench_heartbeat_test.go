package actors

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/transport/ingest"
)

// discardConn is a WebSocket connection as the hub sees it that takes
// every frame and keeps none: it makes the HostActors build stream frames
// (somebody is listening) without a socket.
type discardConn struct{}

func (discardConn) Enqueue([]byte, int) bool                      { return true }
func (discardConn) EnqueueReply([]byte, int) bool                 { return true }
func (discardConn) EnqueueSnapshot(*broadcast.Snapshot, int) bool { return true }
func (discardConn) EnqueueBatch(*broadcast.Batch, int) bool       { return true }
func (discardConn) CutOff()                                       {}

// BenchmarkHeartbeatUnchanged is the whole daemon-side cost of one
// heartbeat of an UP host whose state does not change, from the registry
// to the fleet index: what 100,000 hosts on two families pay 20,000 times
// a second. Only last_seen, RTT and loss move. "listening": a WebSocket
// client is connected, so the host frame is built too. Allocations include
// the message itself (as the UDP reader allocates it) and the actors'
// mailboxes.
func BenchmarkHeartbeatUnchanged(b *testing.B) {
	for _, listening := range []bool{false, true} {
		name := "quiet"
		if listening {
			name = "listening"
		}
		b.Run(name, func(b *testing.B) {
			clock := newFakeClock(time.Unix(1795510000, 0))
			cfg := Config{
				Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
				History:  5, Clock: clock, PublishEvery: 50 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			if listening {
				cfg.WebSocket = &broadcast.Options{}
			}
			s, err := Start(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Stop()
			if listening {
				s.Broadcaster.Register(discardConn{}, nil)
			}
			v4 := netip.MustParseAddrPort("10.0.0.7:41234")
			base := clock.Now()
			seq := uint64(0)
			feed := func(n int) {
				want := s.Stats.Accepted.Load() + uint64(n)
				for range n {
					seq++
					now := base.Add(time.Duration(seq) * time.Millisecond)
					s.feed(&ingest.Heartbeat{Header: ingest.Header{Host: "web01.example.net", Version: 2, Instance: 1, Seq: seq, Sent: now.UnixNano(), Recv: now, From: v4},
						Interval: 10 * time.Second, ConnSeq: uint32(seq), RTT: time.Duration(800+seq%100) * time.Microsecond})
				}
				for s.Stats.Accepted.Load() < want {
					time.Sleep(50 * time.Microsecond)
				}
			}
			feed(10) // the host exists and is UP
			if st := stateOf(s, "web01.example.net"); st != StateUp {
				settle(s)
				if st = stateOf(s, "web01.example.net"); st != StateUp {
					b.Fatalf("state %s, want UP", st)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			feed(b.N)
		})
	}
}
