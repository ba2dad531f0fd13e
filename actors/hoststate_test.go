package actors

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var (
	v4 = netip.MustParseAddrPort("127.0.0.1:40000")
	v6 = netip.MustParseAddrPort("[::1]:40000")
	t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func TestHostStateLiveness(t *testing.T) {
	const interval = 10 * time.Second
	h := newHostState("web01", false, interval, 3)
	if h.state != StateUnknown {
		t.Fatalf("new host: %s, want UNKNOWN", h.state)
	}
	if !h.nextDeadline().IsZero() {
		t.Fatal("a host never heard from must have no deadline")
	}

	h.heartbeat(t0, v4, interval, 1, 0)
	h.heartbeat(t0.Add(time.Millisecond), v6, interval, 1, 0)
	if h.state != StateUp {
		t.Fatalf("after heartbeats on both families: %s, want UP", h.state)
	}
	if got, want := h.nextDeadline(), t0.Add(30*time.Second); !got.Equal(want) {
		t.Fatalf("deadline %s, want %s (3 intervals after the first heartbeat)", got, want)
	}

	// Only ipv4 keeps sending: ipv6 turns down exactly 3 intervals after its last heartbeat.
	for i := 1; i <= 3; i++ {
		h.heartbeat(t0.Add(time.Duration(i)*interval), v4, interval, uint32(1+i), 0)
	}
	h.check(t0.Add(30*time.Second + time.Millisecond - time.Nanosecond))
	if h.state != StateUp {
		t.Fatalf("one nanosecond before the ipv6 deadline: %s, want UP", h.state)
	}
	h.check(t0.Add(30*time.Second + time.Millisecond))
	if h.state != StateDegraded {
		t.Fatalf("at the ipv6 deadline: %s, want DEGRADED", h.state)
	}

	// Nothing more arrives: DOWN at the ipv4 deadline, with no traffic needed.
	last4 := t0.Add(3 * interval)
	h.check(h.nextDeadline())
	if h.state != StateDown {
		t.Fatalf("at the ipv4 deadline %s: %s, want DOWN", last4.Add(3*interval), h.state)
	}
	if !h.nextDeadline().IsZero() {
		t.Fatal("a DOWN host must have no deadline")
	}

	// A heartbeat brings it back.
	h.heartbeat(t0.Add(time.Hour), v4, interval, 100, 0)
	if h.state != StateDegraded {
		t.Fatalf("ipv4 back, ipv6 still down: %s, want DEGRADED", h.state)
	}

	ev := strings.Join(eventMsgs(h.drainEvents()), "\n")
	for _, want := range []string{
		"first contact from 127.0.0.1:40000 (declared host)",
		"ipv6 connection from [::1]:40000 up",
		"state UNKNOWN -> UP",
		"ipv6 connection from [::1]:40000 down (no heartbeat for 30s)",
		"state UP -> DEGRADED",
		"state DEGRADED -> DOWN",
		"ipv4 connection from 127.0.0.1:40000 up",
		"state DOWN -> DEGRADED",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q; got:\n%s", want, ev)
		}
	}
	if h.drainEvents() != nil {
		t.Fatal("drainEvents must forget what it returned")
	}
}

func TestHostStateIntervalFromAgent(t *testing.T) {
	// The daemon's default interval is 10 s, but this agent says 2 s:
	// the host is overdue after 3 × 2 s.
	h := newHostState("fast", true, 10*time.Second, 3)
	h.heartbeat(t0, v4, 2*time.Second, 1, 0)
	if got, want := h.nextDeadline(), t0.Add(6*time.Second); !got.Equal(want) {
		t.Fatalf("deadline %s, want %s", got, want)
	}
	h.check(t0.Add(6 * time.Second))
	if h.state != StateDown {
		t.Fatalf("%s, want DOWN", h.state)
	}
	if ev := eventMsgs(h.drainEvents()); !slices.Contains(ev, "first contact from 127.0.0.1:40000 (dynamic host)") {
		t.Fatalf("events %q lack the dynamic first contact", ev)
	}
}

func TestHostStateCleanShutdown(t *testing.T) {
	h := newHostState("db01", false, 10*time.Second, 3)
	h.boot(t0, v4, 10*time.Second, "1.0")
	h.boot(t0.Add(time.Millisecond), v6, 10*time.Second, "1.0")
	h.heartbeat(t0.Add(time.Second), v4, 10*time.Second, 1, 0)
	h.shutdown(t0.Add(5*time.Second), v4, "SIGTERM")
	h.shutdown(t0.Add(5*time.Second), v6, "SIGTERM")
	if h.state != StateStopped {
		t.Fatalf("after shutdown: %s, want STOPPED", h.state)
	}
	if !h.nextDeadline().IsZero() {
		t.Fatal("a stopped host must have no deadline, so it never turns DOWN")
	}
	h.check(t0.Add(time.Hour))
	if h.state != StateStopped {
		t.Fatalf("an hour after a clean shutdown: %s, want STOPPED", h.state)
	}
	ev := eventMsgs(h.drainEvents())
	if n := countPrefix(ev, "agent started"); n != 1 {
		t.Fatalf("boot to two addresses recorded %d times, want once: %q", n, ev)
	}
	if n := countPrefix(ev, "agent stopped cleanly (SIGTERM)"); n != 1 {
		t.Fatalf("shutdown to two addresses recorded %d times, want once: %q", n, ev)
	}
	if slices.ContainsFunc(ev, func(e string) bool { return strings.Contains(e, "DOWN") }) {
		t.Fatalf("a clean shutdown must not report DOWN: %q", ev)
	}

	// The next boot brings it back up.
	h.boot(t0.Add(2*time.Hour), v4, 10*time.Second, "1.1")
	if h.state != StateDegraded && h.state != StateUp {
		t.Fatalf("after reboot: %s", h.state)
	}
	if h.agentVersion != "1.1" {
		t.Fatalf("agent version %q, want 1.1", h.agentVersion)
	}
}

func TestHostStateRTTAndLoss(t *testing.T) {
	h := newHostState("h", true, time.Second, 3)
	h.heartbeat(t0, v4, time.Second, 1, 0)
	c := h.conns[famIPv4]
	if c.hasRTT {
		t.Fatal("no RTT reported yet, but hasRTT is set")
	}
	h.heartbeat(t0.Add(time.Second), v4, time.Second, 2, 800*time.Microsecond)
	if c.rtt != 800*time.Microsecond || c.srtt != 800*time.Microsecond {
		t.Fatalf("first RTT: last %s smoothed %s, want 800µs both", c.rtt, c.srtt)
	}
	h.heartbeat(t0.Add(2*time.Second), v4, time.Second, 4, 1600*time.Microsecond)
	if c.rtt != 1600*time.Microsecond || c.srtt != 900*time.Microsecond {
		t.Fatalf("second RTT: last %s smoothed %s, want 1.6ms and 900µs", c.rtt, c.srtt)
	}
	if got := c.loss.lossPct(); got != 25 {
		t.Fatalf("loss %.2f%%, want 25%% (seq 3 of 1..4 missing)", got)
	}
	h.boot(t0.Add(3*time.Second), v4, time.Second, "x")
	if got := c.loss.lossPct(); got != 0 {
		t.Fatalf("loss after boot %.2f%%, want 0 (counters restart)", got)
	}
}

func TestHostStateAddressChange(t *testing.T) {
	h := newHostState("h", true, time.Second, 3)
	h.heartbeat(t0, v4, time.Second, 1, 0)
	other := netip.MustParseAddrPort("127.0.0.1:40001")
	h.heartbeat(t0.Add(time.Second), other, time.Second, 2, 0)
	if h.conns[famIPv4].addr != other {
		t.Fatalf("address %s, want %s", h.conns[famIPv4].addr, other)
	}
	if ev := eventMsgs(h.drainEvents()); !slices.Contains(ev, "ipv4 address changed from 127.0.0.1:40000 to 127.0.0.1:40001") {
		t.Fatalf("events %q lack the address change", ev)
	}
	// An IPv4-mapped IPv6 address is IPv4.
	if f := familyOf(netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")); f != famIPv4 {
		t.Fatalf("mapped address family %s, want ipv4", f)
	}
}

func countPrefix(ev []string, prefix string) int {
	n := 0
	for _, e := range ev {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func eventMsgs(ev []stateEvent) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.msg
	}
	return out
}

// TestHostStateRTTWindow: each connection keeps its own window of RTTs,
// allocated with the first RTT; gaps in conn_seq are missed heartbeats, a
// late one fills its place, and the summary carries the quantiles.
func TestHostStateRTTWindow(t *testing.T) {
	const interval = 10 * time.Second
	h := newHostState("web01", true, interval, 3)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * interval) }
	h.heartbeat(at(0), v4, interval, 1, 0) // the agent's first: no measurement yet
	if h.conns[famIPv4].rtts != nil {
		t.Fatal("a window was allocated before the first RTT")
	}
	h.heartbeat(at(1), v4, interval, 2, 2*time.Millisecond)
	h.heartbeat(at(4), v4, interval, 5, 4*time.Millisecond) // 3 and 4 missed
	h.heartbeat(at(4), v4, interval, 3, 1*time.Millisecond) // 3 arrives late
	h.heartbeat(at(5), v4, interval, 6, 9*time.Millisecond)
	for i := range 3 {
		h.heartbeat(at(i), v6, interval, uint32(i+1), 30*time.Millisecond)
	}
	w := h.conns[famIPv4].rtts
	var got []uint32
	for e := range w.All() {
		got = append(got, e.Micros)
	}
	if want := []uint32{2000, 1000, 0, 4000, 9000}; !slices.Equal(got, want) {
		t.Fatalf("ipv4 window %v, want %v", got, want)
	}
	s := h.summary()
	if q := s.Conns[0].RTTQuantiles; q != [3]uint32{2000, 9000, 9000} {
		t.Fatalf("ipv4 quantiles %v, want p50 2ms, p95 and p99 9ms", q)
	}
	if q := s.Conns[1].RTTQuantiles; q != [3]uint32{30000, 30000, 30000} {
		t.Fatalf("ipv6 quantiles %v", q)
	}
	// An agent restart: conn_seq starts again, no gap is invented.
	h.boot(at(6), v4, interval, "1.0")
	h.heartbeat(at(7), v4, interval, 1, 0)
	if n := h.conns[famIPv4].rtts.Len(); n != 6 {
		t.Fatalf("after a boot and a heartbeat without RTT: %d entries, want 6", n)
	}
}

// TestPerHostStructSizes: the structures every host holds stay in their
// size classes (Go rounds an allocation up to one): a field that pushes
// one over costs the next class's bytes on each of 100,000 hosts, and
// BenchmarkHostMemory measures the total.
func TestPerHostStructSizes(t *testing.T) {
	for _, c := range []struct {
		what      string
		size, max uintptr
	}{
		// 128 since the adaptive detector's window pointer (phi.Window,
		// 80 bytes more once a connection has a sample, TestWindowBoundsAndStats).
		{"conn", unsafe.Sizeof(conn{}), 128},
		{"hostActor", unsafe.Sizeof(hostActor{}), 512},
		{"lossWindow", unsafe.Sizeof(lossWindow{}), 24},
		// 416 since the connections' detector models (16 bytes, for
		// JSONAt's φ at the request): 400 bytes, 384 before.
		{"HostSummary", unsafe.Sizeof(HostSummary{}), 416},
		{"hostActor", unsafe.Sizeof(hostActor{}), 512},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class", c.what, c.size, c.max)
		}
	}
}

// TestHeartbeatWithRTTDoesNotAllocate: once a connection's RTT window
// exists, a heartbeat, with or without missed ones before it, allocates
// nothing in the host's state.
func TestHeartbeatWithRTTDoesNotAllocate(t *testing.T) {
	h := newHostState("web01", true, 10*time.Second, 3)
	now, seq := t0, uint32(1)
	h.heartbeat(now, v4, 10*time.Second, seq, time.Millisecond)
	h.drainEvents()
	n := testing.AllocsPerRun(1000, func() {
		now = now.Add(10 * time.Second)
		seq += 1 + seq%3 // now and then a heartbeat or two lost
		h.heartbeat(now, v4, 10*time.Second, seq, time.Duration(800+seq%500)*time.Microsecond)
	})
	if n != 0 {
		t.Fatalf("a heartbeat allocates %v times", n)
	}
}

// BenchmarkHostStateHeartbeatRTT is the host state's part of a heartbeat
// that carries an RTT: liveness, loss and the RTT window (run with
// -benchmem: no allocation).
func BenchmarkHostStateHeartbeatRTT(b *testing.B) {
	h := newHostState("web01", true, 10*time.Second, 3)
	now := t0
	b.ReportAllocs()
	for i := range b.N {
		now = now.Add(10 * time.Second)
		h.heartbeat(now, v4, 10*time.Second, uint32(i+1), time.Duration(800+i%500)*time.Microsecond)
	}
}
