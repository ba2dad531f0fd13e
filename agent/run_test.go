package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/transport/wire"
)

// These tests run the agent's whole Run loop on a fake clock. Its
// intervals are timed on the clock, and a run that comes due happens
// inside the Advance that made it due, so when Advance returns the agent
// has sent what it was going to send. They stand in for the daemon with a
// plain UDP socket on loopback that reads and checks the real datagrams,
// and answers with real signed ACKs when a test says so.

// armedClock is a fake clock that counts the timers armed on it: Run's
// loops arm their first timers on their own goroutines, and a test waits
// for them before it advances the clock.
type armedClock struct {
	*fakeclock.Clock
	armed atomic.Int64
}

func (c *armedClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := c.Clock.AfterFunc(d, f)
	c.armed.Add(1)
	return t
}

// waitArmed waits until n timers have been armed in all.
func (c *armedClock) waitArmed(t *testing.T, n int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d timers armed", n), func() bool { return c.armed.Load() >= n })
}

// daemonSock is a UDP socket on a loopback address that plays the daemon.
type daemonSock struct {
	c  *net.UDPConn
	sg *wire.Signer
}

func listenDaemon(t *testing.T, addr string) *daemonSock {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &daemonSock{c: c, sg: wire.NewSigner(testKey)}
}

func (d *daemonSock) addr() netip.AddrPort { return d.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// datagram is one datagram the agent sent, parsed and verified.
type datagram struct {
	wire.Header
	hb   wire.Heartbeat // when Kind is KindHeartbeat
	from netip.AddrPort
}

// next reads the next datagram; it fails the test if none comes within
// 10 s, or if it is not a well-formed datagram signed with testKey.
func (d *daemonSock) next(t *testing.T) datagram {
	t.Helper()
	buf := make([]byte, 4096)
	if err := d.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, from, err := d.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram from the agent: %v", err)
	}
	b := buf[:n]
	h, err := wire.Parse(b)
	if err != nil || !d.sg.Verify(b) {
		t.Fatalf("a datagram that does not parse or verify: %v", err)
	}
	g := datagram{Header: h, from: from}
	if h.Kind == wire.KindHeartbeat {
		if g.hb, err = wire.DecodeHeartbeat(&h); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// nextKind reads the next datagram and checks its kind.
func (d *daemonSock) nextKind(t *testing.T, k wire.Kind) datagram {
	t.Helper()
	g := d.next(t)
	if g.Kind != k {
		t.Fatalf("got a %s (seq %d), want a %s", g.Kind, g.Seq, k)
	}
	return g
}

// ack answers g as the daemon does, having held it for hold, signed with key.
func (d *daemonSock) ack(t *testing.T, g datagram, hold time.Duration, key []byte) {
	t.Helper()
	b, err := wire.AppendAck(nil, wire.NewSigner(key), wire.Envelope{Host: string(g.Host), Seq: 1, Time: g.Time},
		wire.Ack{Seq: g.Seq, Time: g.Time, HoldNanos: uint32(hold)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.WriteToUDPAddrPort(b, g.from); err != nil {
		t.Fatal(err)
	}
}

// runAgent starts a.Run and returns the function that stops it and waits
// for it to return (also called at cleanup).
func runAgent(t *testing.T, a *Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newRunAgent(t *testing.T, clk clock.Clock, log io.Writer, resolve func(context.Context, string) ([]netip.Addr, error), servers ...string) *Agent {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	a, err := New(Options{
		Name: "w1", Servers: servers, Interval: 10 * time.Second, ResolveEvery: time.Minute, Key: testKey,
		Clock: clk, Resolve: resolve, Logger: slog.New(slog.NewJSONHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Run announces the boot, sends a heartbeat at once and then one per
// interval as the clock advances (not before 90 % of it: the jitter), and
// announces the shutdown when stopped; the sequence counts every datagram.
func TestRunHeartbeatsEveryInterval(t *testing.T) {
	d := listenDaemon(t, "127.0.0.1:0")
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	a := newRunAgent(t, clk, nil, nil, d.addr().String())
	stop := runAgent(t, a)

	boot := d.nextKind(t, wire.KindBoot)
	if boot.Seq != 1 || boot.Instance == 0 || string(boot.Host) != "w1" {
		t.Fatalf("boot: seq %d instance %x host %q; want seq 1 of a non-zero instance from w1", boot.Seq, boot.Instance, boot.Host)
	}
	hb := d.nextKind(t, wire.KindHeartbeat)
	if hb.Seq != 2 || hb.Time != clk.Now().UnixNano() || hb.hb.ConnSeq != 1 || hb.hb.IntervalMS != 10000 || hb.hb.RTTMicros != 0 {
		t.Fatalf("first heartbeat: %+v %+v", hb.Header, hb.hb)
	}
	clk.waitArmed(t, 2) // the heartbeat and resolve loops

	last := hb
	for i := range 5 {
		// Nothing is due before 9 s; a heartbeat sent then would carry
		// its time and the next sequence number, which the check on
		// the next one below rules out.
		clk.Advance(8999 * time.Millisecond)
		clk.Advance(2001 * time.Millisecond)
		hb := d.nextKind(t, wire.KindHeartbeat)
		if hb.Time != clk.Now().UnixNano() || hb.Seq != last.Seq+1 || hb.Instance != boot.Instance || hb.hb.ConnSeq != last.hb.ConnSeq+1 {
			t.Fatalf("heartbeat %d: seq %d conn_seq %d at %s; want seq %d conn_seq %d sent at %s (11 s after the last)",
				i+2, hb.Seq, hb.hb.ConnSeq, time.Unix(0, hb.Time).UTC(), last.Seq+1, last.hb.ConnSeq+1, clk.Now().UTC())
		}
		last = hb
	}

	stop()
	if sd := d.nextKind(t, wire.KindShutdown); sd.Seq != last.Seq+1 || sd.Instance != boot.Instance {
		t.Fatalf("shutdown: seq %d instance %x; want seq %d of the same instance", sd.Seq, sd.Instance, last.Seq+1)
	}
}

// The resolve loop looks the server's name up again every ResolveEvery;
// when the name moves, the next heartbeat goes to the new address, which
// counts its own connection sequence from 1.
func TestRunReresolvesMovedServer(t *testing.T) {
	d1 := listenDaemon(t, "127.0.0.1:0")
	port := d1.addr().Port()
	d2 := listenDaemon(t, fmt.Sprintf("127.0.0.2:%d", port))
	var mu sync.Mutex
	current := d1.addr().Addr()
	var lookups []string
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		lookups = append(lookups, host)
		if host != "daemon.test" {
			return nil, errors.New("no such host")
		}
		return []netip.Addr{current}, nil
	}
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	a := newRunAgent(t, clk, nil, resolve, fmt.Sprintf("daemon.test:%d", port))
	runAgent(t, a)

	d1.nextKind(t, wire.KindBoot)
	d1.nextKind(t, wire.KindHeartbeat)
	clk.waitArmed(t, 2)

	mu.Lock()
	current = d2.addr().Addr()
	mu.Unlock()
	// Past the resolve interval (a minute ±10 %): the heartbeat due at
	// about 10 s runs first and still goes to the old address, then the
	// name is looked up again.
	clk.Advance(66 * time.Second)
	old := d1.nextKind(t, wire.KindHeartbeat)
	mu.Lock()
	n := len(lookups)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d lookups after the resolve interval, want 2", n)
	}
	clk.Advance(11 * time.Second)
	moved := d2.nextKind(t, wire.KindHeartbeat)
	if moved.Seq != old.Seq+1 || moved.hb.ConnSeq != 1 || moved.Time != clk.Now().UnixNano() {
		t.Fatalf("first heartbeat at the new address: seq %d conn_seq %d; want seq %d (nothing sent in between) and conn_seq 1",
			moved.Seq, moved.hb.ConnSeq, old.Seq+1)
	}
}

// An address that leaves heartbeats unanswered is warned about at the
// fourth, 30-odd seconds after the first went out, and once per outage;
// when ACKs come back the agent says so, with the outage's length.
func TestRunWarnsWithoutAcksAndNotesResume(t *testing.T) {
	d := listenDaemon(t, "127.0.0.1:0")
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	var log logBuffer
	a := newRunAgent(t, clk, &log, nil, d.addr().String())
	runAgent(t, a)
	d.nextKind(t, wire.KindBoot)
	d.nextKind(t, wire.KindHeartbeat) // at 0 s
	clk.waitArmed(t, 2)

	// Each Advance returns after the heartbeat it made due was sent and
	// its warning, if any, logged.
	clk.Advance(11 * time.Second)
	clk.Advance(11 * time.Second)
	d.nextKind(t, wire.KindHeartbeat)
	d.nextKind(t, wire.KindHeartbeat) // at 22 s: the third unanswered
	if w := log.msgs("WARN"); len(w) != 0 {
		t.Fatalf("warned after 3 heartbeats: %q", w)
	}
	clk.Advance(11 * time.Second) // the fourth, at 33 s
	d.nextKind(t, wire.KindHeartbeat)
	want := fmt.Sprintf("no ACK from %s for 33s: daemon down, wrong key or blocked", d.addr())
	if w := log.msgs("WARN"); len(w) != 1 || w[0] != want {
		t.Fatalf("warnings %q, want once %q", w, want)
	}
	clk.Advance(11 * time.Second) // at 44 s, the same outage
	hb := d.nextKind(t, wire.KindHeartbeat)
	if w := log.msgs("WARN"); len(w) != 1 {
		t.Fatalf("warned again in the same outage: %q", w)
	}

	d.ack(t, hb, 0, testKey)
	resumed := fmt.Sprintf("ACKs from %s again after 44s", d.addr())
	eventually(t, "the resumed line", func() bool {
		for _, m := range log.msgs("INFO") {
			if m == resumed {
				return true
			}
		}
		return false
	})
}

// The round trip is measured on the agent's clock from the heartbeat to
// its ACK, less the time the daemon says it held the heartbeat, and
// reported in the next heartbeat. An ACK signed with another key is not
// the daemon's: it is ignored and leaves the heartbeat waiting.
func TestRunReportsRTTFromAcks(t *testing.T) {
	d := listenDaemon(t, "127.0.0.1:0")
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	a := newRunAgent(t, clk, nil, nil, d.addr().String())
	runAgent(t, a)
	d.nextKind(t, wire.KindBoot)
	hb := d.nextKind(t, wire.KindHeartbeat)
	clk.waitArmed(t, 2)

	clk.Advance(250 * time.Millisecond) // the heartbeat's time on the way
	// Had the forged ACK been taken, the round trip would be 250 ms and
	// the real ACK after it a duplicate.
	d.ack(t, hb, 0, []byte("another key, not this agent's!!!"))
	d.ack(t, hb, 50*time.Millisecond, testKey)
	rtt := func() time.Duration {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.dests[0].rtt
	}
	eventually(t, "the round trip recorded", func() bool { return rtt() != 0 })
	if got := rtt(); got != 200*time.Millisecond {
		t.Fatalf("round trip %s, want 200ms (250 ms less 50 ms held)", got)
	}
	clk.Advance(11 * time.Second)
	if next := d.nextKind(t, wire.KindHeartbeat); next.hb.RTTMicros != 200_000 {
		t.Fatalf("next heartbeat reports rtt %d µs, want 200000", next.hb.RTTMicros)
	}
}

// A restarted agent is a new sender instance whose sequence starts again
// at 1; the instance is its start time with random low bits, so the
// daemon keeps a replay window for each and takes the new one's datagrams.
func TestRestartIsNewInstance(t *testing.T) {
	d := listenDaemon(t, "127.0.0.1:0")
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}

	first := newRunAgent(t, clk, nil, nil, d.addr().String())
	stop := runAgent(t, first)
	boot1 := d.nextKind(t, wire.KindBoot)
	d.nextKind(t, wire.KindHeartbeat)
	clk.waitArmed(t, 2)
	clk.Advance(11 * time.Second)
	hb := d.nextKind(t, wire.KindHeartbeat)
	stop()
	sd := d.nextKind(t, wire.KindShutdown)
	if sd.Seq != 4 || hb.Seq != 3 || sd.Instance != boot1.Instance {
		t.Fatalf("first run: heartbeat seq %d, shutdown seq %d of %x; want 3 and 4 of %x", hb.Seq, sd.Seq, sd.Instance, boot1.Instance)
	}

	clk.Advance(time.Second)
	second := newRunAgent(t, clk, nil, nil, d.addr().String())
	runAgent(t, second)
	boot2 := d.nextKind(t, wire.KindBoot)
	hb2 := d.nextKind(t, wire.KindHeartbeat)
	if boot2.Seq != 1 || hb2.Seq != 2 || boot2.Instance == 0 || boot2.Instance == boot1.Instance || hb2.Instance != boot2.Instance {
		t.Fatalf("after the restart: boot seq %d of %x, heartbeat seq %d of %x; want 1 and 2 of a new instance (first was %x)",
			boot2.Seq, boot2.Instance, hb2.Seq, hb2.Instance, boot1.Instance)
	}
	// The instance carries the start time above its 16 random bits.
	if got, want := boot2.Instance&^0xffff, uint64(clk.Now().UnixNano())&^0xffff; got != want {
		t.Fatalf("instance %x does not carry the start time %x", boot2.Instance, want)
	}
}
