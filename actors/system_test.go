package actors

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hbd-project/hbd/internal/clock/fakeclock"

	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle starts a goroutine that lives one
	// throttle interval after a message to a stopped actor (a timer that
	// fired as a test stopped its System); it ends by itself. Its name
	// depends on whether the compiler inlined NewThrottle into
	// NewDeadLetter, so both spellings are ignored.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// fakeClock is a Clock whose time moves only when the test says so.
type fakeClock = fakeclock.Clock

func newFakeClock(t time.Time) *fakeClock { return fakeclock.New(t) }

// eventually polls cond until it holds: the actors work asynchronously.
// This waits for messages to be processed, never for time to pass in the
// logic under test (the fake clock does that).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startTestSystem(t *testing.T, clock Clock, watch ...string) (*System, []byte) {
	t.Helper()
	key := []byte("0123456789abcdef0123456789abcdef")
	w := map[string]bool{}
	for _, h := range watch {
		w[h] = true
	}
	s, err := Start(Config{
		Listener: ingest.Config{
			Host: "127.0.0.1", Port: 0, RecvBuffer: 1 << 20,
			Keys: ingest.NewKeys(key, nil), Watch: w, AcceptDynamic: true, MaxClockSkew: time.Hour,
		},
		History:      5,
		DownAfter:    3,
		PublishEvery: time.Millisecond,
		Clock:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, key
}

func sendUDP(t *testing.T, to netip.AddrPort, b []byte) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func stateOf(s *System, name string) HostState {
	if h := s.Fleet.Snapshot().Find(name); h != nil {
		return h.State
	}
	return 255
}

// The HostActor turns its host DOWN when the clock passes the deadline,
// with no datagram arriving to trigger it.
func TestHostActorLivenessTimer(t *testing.T) {
	clock := newFakeClock(time.Now())
	s, key := startTestSystem(t, clock, "declared")
	addr := s.UDPAddrs()[0]
	eventually(t, "declared host listed as UNKNOWN", func() bool { return stateOf(s, "declared") == StateUnknown })

	sg := wire.NewSigner(key)
	hb, err := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: "h1", Seq: 1, Time: clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	sendUDP(t, addr, hb)
	eventually(t, "h1 UP", func() bool { return stateOf(s, "h1") == StateUp })

	clock.Advance(29 * time.Second)
	// Nothing is due yet. A timer that (wrongly) came due ran inside Advance
	// and sent its message; settle waits until the host and the fleet
	// index have processed it.
	settle(s)
	if st := stateOf(s, "h1"); st != StateUp {
		t.Fatalf("29 s after the heartbeat: %s, want UP", st)
	}
	clock.Advance(time.Second)
	eventually(t, "h1 DOWN at 3 intervals", func() bool { return stateOf(s, "h1") == StateDown })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := s.Messages(ctx, MessagesQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first contact from 127.0.0.1:", "state UNKNOWN -> UP", "state UP -> DOWN"} {
		if !strings.Contains(string(r), want) {
			t.Errorf("messages lack %q: %s", want, r)
		}
	}
	if s.Stats.AcksSent.Load() == 0 {
		eventually(t, "ACK sent", func() bool { return s.Stats.AcksSent.Load() > 0 })
	}
}

// Samples land in the host's ring; the ring keeps only History of them and
// the API answer lists them newest first.
func TestHostActorStoresSamples(t *testing.T) {
	clock := newFakeClock(time.Now())
	s, key := startTestSystem(t, clock)
	addr := s.UDPAddrs()[0]
	sg := wire.NewSigner(key)
	base := clock.Now().UnixNano()
	for i := 1; i <= 8; i++ {
		b, err := wire.AppendSample(nil, sg, wire.Envelope{Host: "h2", Seq: uint64(i), Time: base + int64(i)*1e9}, "cpu_monitor", []byte(`{"v":`+string(rune('0'+i))+`}`))
		if err != nil {
			t.Fatal(err)
		}
		sendUDP(t, addr, b)
		if i == 1 {
			// A host's first datagrams go through the registry, which
			// spawns it; once it is registered the reader sends straight
			// to it and may overtake what the registry still holds. Wait,
			// so the copies below arrive after their originals.
			eventually(t, "h2 registered", func() bool { _, ok := s.Registry.Lookup("h2"); return ok })
		}
	}
	// The agent sends every sample to each daemon address: second copies
	// (same plugin and timestamp) are not stored.
	for i, ts := range []int64{base + 8e9, base + 3e9} {
		b, err := wire.AppendSample(nil, sg, wire.Envelope{Host: "h2", Seq: uint64(9 + i), Time: ts}, "cpu_monitor", []byte(`{"v":0}`))
		if err != nil {
			t.Fatal(err)
		}
		sendUDP(t, addr, b)
	}
	eventually(t, "8 samples stored, 2 copies dropped", func() bool {
		return s.Stats.SamplesReceived.Load() == 8 && s.Stats.SamplesDuplicate.Load() == 2
	})
	if held := s.Stats.SamplesHeld.Load(); held != 5 {
		t.Fatalf("samples held %d, want 5 (history)", held)
	}
	if n := s.Stats.SamplesBytes.Load(); n <= 0 || n > 4096 {
		t.Fatalf("samples bytes %d for 5 tiny samples", n)
	}
	ctx := context.Background()
	r, err := s.QueryPlugins(ctx, "h2", "cpu_monitor", 3)
	if err != nil || r.Missing != MissingNothing {
		t.Fatalf("query: missing %d, err %v: %s", r.Missing, err, r.Body)
	}
	if !strings.Contains(string(r.Body), `"samples":[{"timestamp":`) || !strings.Contains(string(r.Body), `"data":{"v":8}},{"timestamp"`) || !strings.Contains(string(r.Body), `"sample_count":3,"stored":5`) {
		t.Fatalf("answer %s", r.Body)
	}
	if i8, i6 := strings.Index(string(r.Body), `{"v":8}`), strings.Index(string(r.Body), `{"v":6}`); i8 < 0 || i6 < 0 || i8 > i6 {
		t.Fatalf("not newest first: %s", r.Body)
	}
	r, _ = s.QueryPlugins(ctx, "h2", "nope", 3)
	if r.Missing != MissingPlugin || r.Body != nil {
		t.Fatalf("unknown plugin: missing %d %s", r.Missing, r.Body)
	}
	if r, _ := s.QueryPlugins(ctx, "nobody", "", 1); r.Missing != MissingHost {
		t.Fatal("unknown host found")
	}
}
