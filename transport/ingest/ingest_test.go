package ingest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fixedClock is a clock that stands still: the readers only read it.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func (c fixedClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

var t0 = time.Unix(1795510000, 0)

// recorder is a Router that keeps what it is handed. known hosts have a
// Route; the others go to Unrouted. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	known    map[string]bool
	full     map[netip.Addr]bool
	lookups  map[string]int
	got      []Message // in order, routed and unrouted
	unrouted int
	onMsg    func(Message) // called on the reader goroutine, if set
}

func newRecorder(known ...string) *recorder {
	r := &recorder{known: map[string]bool{}, full: map[netip.Addr]bool{}, lookups: map[string]int{}}
	for _, h := range known {
		r.known[h] = true
	}
	return r
}

type recRoute struct{ r *recorder }

func (rt recRoute) Deliver(m Message) { rt.r.take(m, false) }

func (r *recorder) Lookup(host string) (Route, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups[host]++
	if !r.known[host] {
		return nil, false
	}
	return recRoute{r}, true
}

func (r *recorder) SourceFull(addr netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.full[addr]
}

func (r *recorder) Unrouted(m Message) { r.take(m, true) }

func (r *recorder) take(m Message, unrouted bool) {
	r.mu.Lock()
	r.got = append(r.got, m)
	if unrouted {
		r.unrouted++
	}
	f := r.onMsg
	r.mu.Unlock()
	if f != nil {
		f(m)
	}
}

func (r *recorder) messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}

// harness is one reader without a socket: datagrams go in through a
// udp.Batch, as ReadBatch would fill it.
type harness struct {
	t        *testing.T
	r        *reader
	router   *recorder
	stats    *Counters
	rejects  *rejected.Sources
	refusals *limits.Refusals
	batch    *udp.Batch
}

func newHarness(t *testing.T, cfg Config, lim limits.Config, router *recorder) *harness {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = NewKeys(testKey, nil)
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = time.Minute
	}
	lim.SetDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &harness{t: t, router: router, stats: &Counters{}, rejects: rejected.New(1, rejected.Options{Logger: log}),
		refusals: limits.NewRefusals(limits.Options{Logger: log}), batch: udp.NewBatch(readBatch, 1<<16)}
	d := Deps{Router: router, Clock: fixedClock{t0}, Stats: h.stats, Rejected: h.rejects, Limits: &lim, Refusals: h.refusals, Logger: log}
	h.r = newReader(cfg, d, nil, h.rejects.Table(0))
	return h
}

var from4 = netip.MustParseAddrPort("192.0.2.7:41234")

// run hands the datagrams to the reader as one batch.
func (h *harness) run(ds ...[]byte) {
	h.t.Helper()
	for _, d := range ds {
		if !h.batch.Put(d, from4) {
			h.t.Fatal("batch full")
		}
	}
	h.r.handle(h.batch)
	h.batch = udp.NewBatch(readBatch, 1<<16)
}

func env(host string, seq uint64) wire.Envelope {
	return wire.Envelope{Host: host, Seq: seq, Time: t0.UnixNano(), Instance: 7}
}

func heartbeat(t testing.TB, key []byte, e wire.Envelope) []byte {
	t.Helper()
	b, err := wire.AppendHeartbeat(nil, wire.NewSigner(key), e, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 3, RTTMicros: 800})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sample(t testing.TB, e wire.Envelope, plugin, data string) []byte {
	t.Helper()
	b, err := wire.AppendSample(nil, wire.NewSigner(testKey), e, plugin, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every kind of datagram becomes the message of its kind, with the header
// the reader saw, and goes to its host's route (looked up once per host)
// or, for a host the router does not know, to Unrouted.
func TestEveryKindIsDelivered(t *testing.T) {
	rec := newRecorder("web01")
	h := newHarness(t, Config{AcceptDynamic: true}, limits.Config{}, rec)
	sg := wire.NewSigner(testKey)
	boot, _ := wire.AppendBoot(nil, sg, env("web01", 1), wire.Boot{IntervalMS: 10000, AgentVersion: []byte("1.2.3")})
	sd, _ := wire.AppendShutdown(nil, sg, env("web01", 4), wire.Shutdown{Reason: []byte("reboot")})
	sil, _ := wire.AppendSilence(nil, sg, env("web01", 5), wire.Silence{Seconds: 60, Metric: []byte("disk.*"), Comment: []byte("swap")})
	h.run(boot, heartbeat(t, testKey, env("web01", 2)), sample(t, env("web01", 3), "cpu_monitor", `{"v":1}`), sd, sil,
		heartbeat(t, testKey, env("new01", 1)))
	got := rec.messages()
	if len(got) != 6 {
		t.Fatalf("%d messages, want 6", len(got))
	}
	if b, ok := got[0].(*Boot); !ok || b.Interval != 10*time.Second || b.AgentVersion != "1.2.3" {
		t.Errorf("boot: %#v", got[0])
	}
	hb, ok := got[1].(*Heartbeat)
	if !ok || hb.Interval != 10*time.Second || hb.ConnSeq != 3 || hb.RTT != 800*time.Microsecond {
		t.Fatalf("heartbeat: %#v", got[1])
	}
	want := Header{Host: "web01", Version: wire.Version, Instance: 7, Seq: 2, Sent: t0.UnixNano(), Recv: t0, From: from4}
	if hb.Header != want {
		t.Errorf("header %+v, want %+v", hb.Header, want)
	}
	if s, ok := got[2].(*Sample); !ok || string(s.Plugin) != "cpu_monitor" || string(s.Data) != `{"v":1}` {
		t.Errorf("sample: %#v", got[2])
	}
	if s, ok := got[3].(*Shutdown); !ok || s.Reason != "reboot" {
		t.Errorf("shutdown: %#v", got[3])
	}
	if s, ok := got[4].(*Silence); !ok || s.For != time.Minute || s.Metric != "disk.*" || s.Comment != "swap" {
		t.Errorf("silence: %#v", got[4])
	}
	if hb, ok := got[5].(*Heartbeat); !ok || hb.Host != "new01" || rec.unrouted != 1 {
		t.Errorf("unknown host: %#v, unrouted %d", got[5], rec.unrouted)
	}
	if rec.lookups["web01"] != 1 {
		t.Errorf("web01 looked up %d times, want once (cached)", rec.lookups["web01"])
	}
	if n := h.stats.Received.Load(); n != 6 || h.stats.DroppedTotal() != 0 {
		t.Errorf("received %d, dropped %d", n, h.stats.DroppedTotal())
	}
	for i, m := range got {
		if m.Kind() != []wire.Kind{wire.KindBoot, wire.KindHeartbeat, wire.KindSample, wire.KindShutdown, wire.KindSilence, wire.KindHeartbeat}[i] {
			t.Errorf("message %d: Kind %v", i, m.Kind())
		}
	}
}

// A delivered sample owns its bytes: the reader's batch is reused for the
// next datagrams without changing it.
func TestSampleOutlivesTheBatch(t *testing.T) {
	rec := newRecorder("web01")
	h := newHarness(t, Config{}, limits.Config{}, rec)
	d := sample(t, env("web01", 1), "cpu_monitor", `{"cpu_percent":45.2}`)
	if !h.batch.Put(d, from4) {
		t.Fatal("batch full")
	}
	h.r.handle(h.batch)
	// Overwrite the batch's buffer in place, as the next read would.
	p := h.batch.Payload(0)
	for i := range p {
		p[i] = 'X'
	}
	s := rec.messages()[0].(*Sample)
	if string(s.Plugin) != "cpu_monitor" || string(s.Data) != `{"cpu_percent":45.2}` {
		t.Fatalf("sample changed with the batch: %q %q", s.Plugin, s.Data)
	}
}

// Each check drops its datagrams, counts them by reason, notes the source,
// and delivers nothing.
func TestRejections(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		d      func(t *testing.T) []byte
		reason wire.Reason
	}{
		{"bad MAC", Config{}, func(t *testing.T) []byte {
			return heartbeat(t, []byte("another key, 32 bytes long......"), env("web01", 1))
		}, wire.ReasonBadMAC},
		{"garbage", Config{}, func(*testing.T) []byte { return []byte("not a datagram at all") }, wire.ReasonBadMagic},
		{"clock", Config{}, func(t *testing.T) []byte {
			e := env("web01", 1)
			e.Time = t0.Add(-time.Hour).UnixNano()
			return heartbeat(t, testKey, e)
		}, wire.ReasonClock},
		{"unknown host", Config{}, func(t *testing.T) []byte { return heartbeat(t, testKey, env("stranger", 1)) }, wire.ReasonUnknownHost},
		{"ack to the daemon", Config{}, func(t *testing.T) []byte {
			b, err := wire.AppendAck(nil, wire.NewSigner(testKey), env("web01", 1), wire.Ack{Seq: 1})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, wire.ReasonKind},
		{"oversize", Config{}, func(*testing.T) []byte { return make([]byte, 1<<16+1) }, wire.ReasonOversize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder("web01")
			h := newHarness(t, tc.cfg, limits.Config{}, rec)
			h.run(tc.d(t))
			if got := rec.messages(); len(got) != 0 {
				t.Fatalf("delivered %#v", got[0])
			}
			if n := h.stats.Dropped(tc.reason); n != 1 || h.stats.DroppedTotal() != 1 {
				t.Errorf("dropped %d for %v (%d in all), want 1", n, tc.reason, h.stats.DroppedTotal())
			}
			if top := h.rejects.Top(10); len(top) != 1 || top[0].Reason != tc.reason || top[0].Addr != from4 {
				t.Errorf("rejected sources %+v", top)
			}
		})
	}
}

// The reader-side caps refuse before anything is delivered: a sample over
// sample_bytes or keys_per_sample, and a new dynamic host from a source
// the router says is full; a declared host is never refused that way.
func TestCapsInTheReader(t *testing.T) {
	rec := newRecorder("web01")
	h := newHarness(t, Config{AcceptDynamic: true, Watch: map[string]bool{"declared": true}},
		limits.Config{SampleBytes: 64, KeysPerSample: 3}, rec)
	rec.full[from4.Addr()] = true
	h.run(sample(t, env("web01", 1), "p", `{"x":"`+strings.Repeat("a", 100)+`"}`),
		sample(t, env("web01", 2), "p", `{"a":1,"b":2,"c":3,"d":4}`),
		heartbeat(t, testKey, env("dyn9", 1)),
		heartbeat(t, testKey, env("declared", 1)),
		sample(t, env("web01", 3), "p", `{"a":1,"b":2,"c":3}`))
	for _, l := range []limits.Limit{limits.SampleBytes, limits.KeysPerSample, limits.HostsPerSource} {
		if n := h.refusals.Count(l); n != 1 {
			t.Errorf("%v refusals = %d, want 1", l, n)
		}
	}
	got := rec.messages()
	if len(got) != 2 || got[0].Head().Host != "declared" || got[1].Head().Seq != 3 {
		t.Fatalf("delivered %d messages, want the declared host's heartbeat and the small sample", len(got))
	}
}

// The key cap counts keys at any depth, in compressed samples too (after
// decompression); keys in strings are not keys.
func TestKeyCapCountsEveryKey(t *testing.T) {
	rec := newRecorder("web01")
	h := newHarness(t, Config{}, limits.Config{KeysPerSample: 4}, rec)
	big := sample(t, env("web01", 2), "p", `{"k":"`+strings.Repeat("a:b,", 300)+`","n":{"x":{"y":1}}}`)
	if wh, err := wire.Parse(big); err != nil || !wh.Compressed() {
		t.Fatalf("the large sample is not compressed (%v)", err)
	}
	h.run(sample(t, env("web01", 1), "p", `{"a":{"b":{"c":{"d":{"e":1}}}}}`),
		big,
		sample(t, env("web01", 3), "p", `{"a":[{"b":1},{"c":"d:e"}],"f":{}}`),
		sample(t, env("web01", 4), "p", `{"a":[{"b":1},{"c":"d:e"}],"f":{"g":{}}}`))
	if n := h.refusals.Count(limits.KeysPerSample); n != 2 {
		t.Errorf("keys_per_sample refusals = %d, want 2 (the 5-key samples)", n)
	}
	got := rec.messages()
	if len(got) != 2 || got[0].Head().Seq != 2 || got[1].Head().Seq != 3 {
		t.Fatalf("delivered %d messages, want the two 4-key samples", len(got))
	}
}

func TestCountersHoldEveryReason(t *testing.T) {
	for _, r := range wire.AllReasons() {
		if int(r) >= maxReasons {
			t.Errorf("reason %v (%d) has no counter: raise maxReasons", r, r)
		}
	}
	var c Counters
	c.Drop(wire.ReasonReplay)
	if c.Dropped(wire.ReasonReplay) != 1 || c.DroppedTotal() != 1 {
		t.Fatal("Drop not counted")
	}
}

// Through real loopback sockets: the heartbeat is delivered, the receiver's
// Ack reaches the agent's address signed and echoing the datagram, and is
// counted; after Stop nothing is delivered.
func TestLoopbackAck(t *testing.T) {
	rec := newRecorder("web01")
	rec.onMsg = func(m Message) { m.Head().Ack() }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := Bind(Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: NewKeys(testKey, nil), MaxClockSkew: time.Hour}, log)
	if err != nil {
		t.Fatal(err)
	}
	stats := &Counters{}
	lim := limits.Defaults()
	in.Start(Deps{Router: rec, Clock: clock.Real{}, Stats: stats, Rejected: rejected.New(in.Sockets(), rejected.Options{Logger: log}),
		Limits: &lim, Refusals: limits.NewRefusals(limits.Options{Logger: log}), Logger: log})
	defer in.Stop()
	agent, err := udp.Listen("udp4", "127.0.0.1:0", udp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	sent := time.Now().UnixNano()
	hb := heartbeat(t, testKey, wire.Envelope{Host: "web01", Seq: 42, Time: sent, Instance: 7})
	if err := agent.WriteTo(hb, in.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if err := agent.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b := udp.NewBatch(1, 2048)
	if _, err := agent.ReadBatch(b); err != nil {
		t.Fatalf("no ACK: %v", err)
	}
	h, err := wire.Parse(b.Payload(0))
	if err != nil || !wire.NewSigner(testKey).Verify(b.Payload(0)) {
		t.Fatalf("ACK does not parse or verify: %v", err)
	}
	ack, err := wire.DecodeAck(&h)
	if err != nil || ack.Seq != 42 || ack.Time != sent || string(h.Host) != "web01" {
		t.Fatalf("ACK %+v for host %q (%v), want seq 42 and the heartbeat's time", ack, h.Host, err)
	}
	// The counter moves after the send returns.
	for deadline := time.Now().Add(10 * time.Second); stats.AcksSent.Load() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("AcksSent = %d, want 1", stats.AcksSent.Load())
		}
	}
	in.Stop()
	before := len(rec.messages())
	_ = agent.WriteTo(hb, in.Addrs()[0]) // the socket is closed: nothing reads it
	if got := len(rec.messages()); got != before || stats.Received.Load() != 1 {
		t.Fatalf("after Stop: %d messages (was %d), received %d", got, before, stats.Received.Load())
	}
}

// With accept_dynamic off, a host is accepted once a reload declares it
// (SetWatch), and refused once it is no longer declared.
func TestSetWatch(t *testing.T) {
	rec := newRecorder()
	h := newHarness(t, Config{Watch: map[string]bool{"a": true}}, limits.Config{}, rec)
	in := &Ingest{}
	in.SetWatch(map[string]bool{"a": true})
	h.r.watch = &in.watch // as Start shares it
	h.run(heartbeat(t, testKey, env("b", 1)))
	in.SetWatch(map[string]bool{"b": true})
	h.run(heartbeat(t, testKey, env("b", 2)), heartbeat(t, testKey, env("a", 1)))
	got := rec.messages()
	if len(got) != 1 || got[0].Head().Host != "b" || got[0].Head().Seq != 2 {
		t.Fatalf("delivered %v, want b's second heartbeat only", got)
	}
	if n := h.stats.Dropped(wire.ReasonUnknownHost); n != 2 {
		t.Errorf("unknown_host drops = %d, want 2", n)
	}
}

// The backlog bound: the readers count what they hand over until the
// receiver takes it; at MaxBacklog a reader stops reading, leaving the
// datagrams in the socket's buffer, and reads them once the receiver has
// taken enough. Nothing is dropped by the daemon meanwhile.
func TestBacklogBoundPausesTheReader(t *testing.T) {
	in, err := Bind(Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: NewKeys(testKey, nil), MaxClockSkew: time.Hour, MaxBacklog: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder("web01")
	stats := &Counters{}
	lim := limits.Config{}
	lim.SetDefaults()
	log := slog.New(slog.DiscardHandler)
	in.Start(Deps{Router: rec, Clock: clock.Real{}, Stats: stats, Rejected: rejected.New(in.Sockets(), rejected.Options{Logger: log}),
		Limits: &lim, Refusals: limits.NewRefusals(limits.Options{Logger: log}), Logger: log})
	defer in.Stop()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(in.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	seq := uint64(0)
	send := func(n int) {
		t.Helper()
		for range n {
			seq++
			e := wire.Envelope{Host: "web01", Seq: seq, Time: time.Now().UnixNano(), Instance: 7}
			if _, err := conn.Write(heartbeat(t, testKey, e)); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// One at a time, so each is its own batch: the reader stops after the
	// third and waits, holding the fourth and fifth in the socket.
	for i := 1; i <= 3; i++ {
		send(1)
		eventually(fmt.Sprintf("message %d delivered", i), func() bool { return len(rec.messages()) == i })
	}
	eventually("the reader paused", func() bool { return stats.Pauses.Load() == 1 })
	// More than a batch waits in the socket meanwhile.
	send(readBatch + 6)
	if n := stats.Backlog.Load(); n != 3 {
		t.Fatalf("Backlog = %d while paused, want 3", n)
	}
	if n := stats.FullBatches.Load(); n != 0 {
		t.Fatalf("FullBatches = %d before a full read, want 0", n)
	}
	// The receiver takes everything as it comes; the reader's first read
	// after the pause fills its batch, which says it is behind.
	for taken := 0; taken < 3+readBatch+6; taken++ {
		eventually("a message to take", func() bool { return stats.Backlog.Load() > 0 })
		stats.Taken()
	}
	eventually("the held datagrams delivered", func() bool { return len(rec.messages()) == 3+readBatch+6 })
	if n := stats.FullBatches.Load(); n == 0 {
		t.Error("FullBatches = 0 after reading a socket that held more than a batch")
	}
	if n := stats.DroppedTotal(); n != 0 {
		t.Errorf("%d datagrams dropped by the daemon, want 0", n)
	}
	if stats.PausedNanos.Load() == 0 {
		t.Error("PausedNanos = 0 after a pause")
	}
}
