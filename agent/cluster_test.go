package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/transport/wire"
)

// queued returns the datagrams d has received and not read yet. The agent
// sends on the goroutine that advances the fake clock and loopback
// delivers at once, so after Advance returns everything it sent is
// queued: an empty answer means nothing was sent, not "not yet".
func (d *daemonSock) queued(t *testing.T) []datagram {
	t.Helper()
	var out []datagram
	buf := make([]byte, 4096)
	for {
		if err := d.c.SetReadDeadline(time.Now().Add(5 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, from, err := d.c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		h, err := wire.Parse(buf[:n])
		if err != nil || !d.sg.Verify(buf[:n]) {
			t.Fatalf("a datagram that does not parse or verify: %v", err)
		}
		h.Host = append([]byte(nil), h.Host...)
		g := datagram{Header: h, from: from}
		if h.Kind == wire.KindHeartbeat {
			g.hb, _ = wire.DecodeHeartbeat(&h)
		}
		out = append(out, g)
	}
}

// waitAcked waits until the agent has taken the ACK of heartbeat seq
// sent to it from the address of d (its ACK readers run on their own
// goroutines).
func waitAcked(t *testing.T, a *Agent, d *daemonSock, seq uint64) {
	t.Helper()
	eventually(t, "the ACK from "+d.addr().String(), func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, x := range a.dests {
			if x.addr == d.addr() {
				_, waiting := x.pending[seq]
				return !waiting
			}
		}
		return false
	})
}

// An entry of three members is one cluster: boot, heartbeats and the
// shutdown go to one member at a time, while a separate entry gets them
// all. When the member leaves FailoverAfter (2 intervals) without an ACK
// the agent moves to the next one at once, stays there while it answers,
// and after the last member wraps around to the first; each move is
// logged and counted. A member moved to after one that had answered has
// half an interval to answer the heartbeat it gets at once, since the
// member before may have gone silent because a member died, and the next
// one in turn may be that one. Time is the fake clock's, advanced a second at a
// time, so "at once" is exact.
func TestRunClusterFailsOverInTurn(t *testing.T) {
	m := []*daemonSock{listenDaemon(t, "127.0.0.1:0"), listenDaemon(t, "127.0.0.1:0"), listenDaemon(t, "127.0.0.1:0")}
	solo := listenDaemon(t, "127.0.0.1:0")
	entry := fmt.Sprintf("%s;%s;%s", m[0].addr(), m[1].addr(), m[2].addr())
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	var log logBuffer
	a := newRunAgent(t, clk, &log, nil, entry, solo.addr().String())
	stop := runAgent(t, a)
	start := clk.Now()

	m[0].nextKind(t, wire.KindBoot)
	first := m[0].nextKind(t, wire.KindHeartbeat)
	m[0].ack(t, first, 0, testKey)
	solo.nextKind(t, wire.KindBoot)
	solo.nextKind(t, wire.KindHeartbeat)
	clk.waitArmed(t, 4) // heartbeat, resolve, and the fail-over timers of both families
	waitAcked(t, a, m[0], first.Seq)

	soloBeats := 1
	lastAck := clk.Now() // of the member sent to, or when it became the one
	// step advances the clock a second, answers the heartbeats of the
	// members in ack (and only theirs), and returns the members that
	// got a datagram, which must all be heartbeats.
	step := func(ack map[int]bool) (got []int) {
		t.Helper()
		clk.Advance(time.Second)
		for i, d := range m {
			q := d.queued(t)
			for _, g := range q {
				if g.Kind != wire.KindHeartbeat {
					t.Fatalf("member %d got a %s", i, g.Kind)
				}
				if ack[i] {
					d.ack(t, g, 0, testKey)
					waitAcked(t, a, d, g.Seq)
					lastAck = clk.Now()
				}
			}
			if len(q) > 0 {
				got = append(got, i)
			}
		}
		soloBeats += len(solo.queued(t))
		return got
	}
	// answers steps for d with member i answering, checking that only
	// it is sent to, at least once in every 11 s.
	answers := func(i int, d time.Duration) {
		t.Helper()
		last := clk.Now()
		for end := clk.Now().Add(d); clk.Now().Before(end); {
			got := step(map[int]bool{i: true})
			if len(got) > 1 || len(got) == 1 && got[0] != i {
				t.Fatalf("at %s: members %v got datagrams, want only member %d", clk.Now().Sub(start), got, i)
			}
			if len(got) == 1 {
				last = clk.Now()
			}
			if clk.Now().Sub(last) > 11*time.Second {
				t.Fatalf("at %s: member %d got nothing for 11 s", clk.Now().Sub(start), i)
			}
		}
	}
	// failsOver steps with member from silent: it keeps getting the
	// heartbeats until after its last ACK (or since it got the host),
	// when member to gets one at once, which to answers if toAnswers (a
	// live member answers the heartbeat that comes with a fail-over in
	// milliseconds; unanswered, it has only the probe time).
	failsOver := func(from, to int, after time.Duration, toAnswers bool) {
		t.Helper()
		for {
			silentSince := lastAck
			got := step(map[int]bool{to: toAnswers})
			// from's last heartbeat may come in the same second.
			if slices.Contains(got, to) && !slices.ContainsFunc(got, func(i int) bool { return i != to && i != from }) {
				if silent := clk.Now().Sub(silentSince); silent != after {
					t.Fatalf("failed over from member %d to %d %s after its last ACK, want %s", from, to, silent, after)
				}
				break
			}
			if len(got) > 1 || len(got) == 1 && got[0] != from || clk.Now().Sub(lastAck) > after {
				t.Fatalf("at %s (last ACK at %s): members %v got datagrams, want member %d until %s after its last ACK, then %d",
					clk.Now().Sub(start), lastAck.Sub(start), got, from, after, to)
			}
		}
		lastAck = clk.Now()
	}
	failovers := func() []string {
		var out []string
		for _, w := range log.msgs("WARN") {
			if strings.Contains(w, "failing over") {
				out = append(out, w)
			}
		}
		return out
	}

	// Answered heartbeats keep the agent on the first member.
	answers(0, 40*time.Second)
	if st := a.Clusters()[0]; st.Failovers != 0 || st.Active[famV4] != m[0].addr().String() {
		t.Fatalf("status while the first member answers: %+v", st)
	}
	failsOver(0, 1, 20*time.Second, true)
	if f := failovers(); len(f) != 1 || f[0] != fmt.Sprintf("no ACK from cluster member %s over IPv4 for 20s: failing over to %s", m[0].addr(), m[1].addr()) {
		t.Fatalf("fail-over warnings %q", f)
	}
	// The second answers: the agent stays there (the first does not
	// get it back); then the third, which never answers: after the
	// second had answered, it has half an interval; then round to the
	// first, which does not answer either: after the third, which never
	// answered, it has the full 20 s.
	answers(1, 60*time.Second)
	failsOver(1, 2, 20*time.Second, false)
	failsOver(2, 0, 5*time.Second, false)
	failsOver(0, 1, 20*time.Second, false)
	st := a.Clusters()
	if len(st) != 1 || st[0].Failovers != 4 || st[0].Active[famV4] != m[1].addr().String() || st[0].Active[famV6] != "" || st[0].Entry != entry {
		t.Fatalf("status after four fail-overs: %+v", st)
	}
	if f := failovers(); len(f) != 4 || !strings.Contains(f[2], "for 5s: failing over to "+m[0].addr().String()) {
		t.Fatalf("fail-over warnings %q, want 4, the third after 5s", f)
	}

	stop()
	m[1].nextKind(t, wire.KindShutdown)
	for _, i := range []int{0, 2} {
		if q := m[i].queued(t); len(q) != 0 {
			t.Fatalf("member %d got %d datagrams after the fail-over away from it", i, len(q))
		}
	}
	// The separate entry got every heartbeat: one per 9-11 s throughout.
	elapsed := clk.Now().Sub(start)
	if min := int(elapsed/(11*time.Second)) + 1; soloBeats < min {
		t.Fatalf("the separate server got %d heartbeats in %s, want at least %d", soloBeats, elapsed, min)
	}
	if q := solo.queued(t); len(q) != 1 || q[0].Kind != wire.KindShutdown {
		t.Fatalf("the separate server's last datagrams: %d, want its shutdown", len(q))
	}
}

// Each address family has a member of its own: a member without an
// address in a family leaves that family to the next member that has
// one, and a family fails over without moving the other.
func TestRunClusterPerFamily(t *testing.T) {
	a4 := listenDaemon(t, "127.0.0.1:0")
	port := a4.addr().Port()
	b4 := listenDaemon(t, fmt.Sprintf("127.0.0.2:%d", port))
	c6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback, Port: int(port)})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { c6.Close() })
	b6 := &daemonSock{c: c6, sg: wire.NewSigner(testKey)}
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "a.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "b.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.IPv6Loopback()}, nil
		}
		return nil, errors.New("no such host")
	}
	clk := &armedClock{Clock: fakeclock.New(time.Unix(1_800_000_000, 0))}
	var log logBuffer
	entry := fmt.Sprintf("a.test:%d;b.test:%d", port, port)
	a := newRunAgent(t, clk, &log, resolve, entry)
	runAgent(t, a)

	a4.nextKind(t, wire.KindBoot)
	a4.nextKind(t, wire.KindHeartbeat)
	b6.nextKind(t, wire.KindBoot)
	hb6 := b6.nextKind(t, wire.KindHeartbeat)
	if q := b4.queued(t); len(q) != 0 {
		t.Fatalf("b.test's IPv4 address got %d datagrams while a.test's answers for IPv4", len(q))
	}
	want := fmt.Sprintf("cluster member a.test:%d has no IPv6 address; sending to b.test:%d", port, port)
	if !slices.Contains(log.msgs("INFO"), want) {
		t.Fatalf("log %q lacks %q", log.msgs("INFO"), want)
	}
	clk.waitArmed(t, 4)
	b6.ack(t, hb6, 0, testKey)
	waitAcked(t, a, b6, hb6.Seq)

	// IPv4 gets no ACK, IPv6 does: after 20 s IPv4 moves to b.test,
	// IPv6 stays there.
	for range 20 {
		clk.Advance(time.Second)
		for _, g := range b6.queued(t) {
			b6.ack(t, g, 0, testKey)
			waitAcked(t, a, b6, g.Seq)
		}
	}
	st := a.Clusters()[0]
	b := fmt.Sprintf("b.test:%d", port)
	if st.Active[famV4] != b || st.Active[famV6] != b || st.Failovers != 1 {
		t.Fatalf("status %+v, want both families on %s after one fail-over", st, b)
	}
	if q := b4.queued(t); len(q) == 0 {
		t.Fatal("b.test's IPv4 address got no heartbeat after the fail-over")
	}
}
