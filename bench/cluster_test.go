package bench

import (
	"errors"
	"maps"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// queuedHosts returns the hosts whose heartbeats r has queued, reading
// them all. The sender has returned, so everything it sent is queued.
func (r *receiver) queuedHosts(t *testing.T) []string {
	t.Helper()
	b := udp.NewBatch(64, 65536)
	var out []string
	for {
		if err := r.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		k, err := r.c.ReadBatch(b)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			slices.Sort(out)
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range verifyAll(t, cloneAll(b, k)) {
			if d.kind != wire.KindHeartbeat {
				t.Fatalf("%s from %s, want heartbeats only", d.kind, d.host)
			}
			out = append(out, d.host)
		}
	}
}

func cloneAll(b *udp.Batch, k int) [][]byte {
	out := make([][]byte, k)
	for i := range k {
		out[i] = slices.Clone(b.Payload(i))
	}
	return out
}

// With -cluster, host i starts on member i mod n and sends only there; a
// host whose member has sent no ACK for FailoverAfter (2 intervals by
// default), give or take half an interval, moves to the next member,
// wrapping around, and an ACK from another member than its own does not
// keep it. The heartbeats are sent
// with given times and the ACKs handed in as the reader would, so the
// test decides exactly what the generator saw.
func TestGeneratorClusterFailover(t *testing.T) {
	rx := []*receiver{newReceiver(t, "udp4", "127.0.0.1:0"), newReceiver(t, "udp4", "127.0.0.1:0"), newReceiver(t, "udp4", "127.0.0.1:0")}
	var members []netip.AddrPort
	for _, r := range rx {
		members = append(members, r.addr())
	}
	g, err := NewGenerator(GenConfig{Targets: members, Cluster: true, ReadAcks: true, Key: testKey, Hosts: 6, Senders: 2, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	t0 := time.Unix(1_800_000_000, 0)
	// beat sends every host's heartbeat at t0+at and returns which
	// member got which hosts' (numbered from 0).
	beat := func(at time.Duration) map[int][]int {
		t.Helper()
		for _, s := range g.senders {
			for i := range s.hosts {
				s.heartbeat(&s.hosts[i], t0.Add(at))
			}
			s.flush()
		}
		got := map[int][]int{}
		for m, r := range rx {
			for _, h := range r.queuedHosts(t) {
				n, _ := hostNumber([]byte(h))
				got[m] = append(got[m], n-1)
			}
			slices.Sort(got[m])
		}
		return got
	}
	ack := func(at time.Duration, member int, hosts ...int) {
		for _, h := range hosts {
			g.clusterAck([]byte(HostName(h+1)), members[member], t0.Add(at).UnixNano())
		}
	}
	check := func(at time.Duration, want map[int][]int) {
		t.Helper()
		if got := beat(at); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("at %s: member -> hosts %v, want %v", at, got, want)
		}
	}

	check(0, map[int][]int{0: {0, 3}, 1: {1, 4}, 2: {2, 5}})
	ack(500*time.Millisecond, 1, 1, 4)
	ack(500*time.Millisecond, 2, 2, 5) // member 0 answers nobody
	check(time.Second, map[int][]int{0: {0, 3}, 1: {1, 4}, 2: {2, 5}})
	ack(1500*time.Millisecond, 1, 1, 4)
	ack(1500*time.Millisecond, 2, 2, 5)
	// No ACK since 0 s: hosts 0 and 3 move on to member 1 at 2 s, as the
	// agent's timer would.
	check(2*time.Second, map[int][]int{1: {0, 1, 3, 4}, 2: {2, 5}})
	ack(2500*time.Millisecond, 0, 1) // not host 1's member: does not count
	ack(3*time.Second, 1, 4)
	// Host 1 (last ACK from its member at 1.5 s: the agent would move at
	// 3.5 s, half an interval from now) moves to member 2; hosts 2 and 5
	// wrap around to member 0; hosts 0 and 3 came to member 1 at 2 s and
	// stay; host 4 was answered.
	check(3*time.Second, map[int][]int{0: {2, 5}, 1: {0, 3, 4}, 2: {1}})
	if st := g.Stats(); st.Failovers != 5 || st.Heartbeats != 4*6 {
		t.Fatalf("stats %+v, want 5 fail-overs and 24 heartbeats", st)
	}
	// At 4 s nothing answered hosts 0 and 3 since they came to member 1:
	// they move on to member 2. Hosts 2 and 5 came to member 0 from one
	// that had answered them, so member 0 had only the probe time (1 s)
	// to answer: they move on to member 1. Host 1 came to member 2 from
	// member 1, whose last ACK the harness saw was not its own (member
	// 0's came after it): member 2 has the full 2 s.
	check(4*time.Second, map[int][]int{1: {2, 4, 5}, 2: {0, 1, 3}})
	// Every member answers; the next heartbeats go out 0.4 s late (the
	// harness's pacing lags under load) and find the last ACK 1.4
	// intervals old: nobody moves.
	ack(4001*time.Millisecond, 1, 2, 4, 5)
	ack(4001*time.Millisecond, 2, 0, 1, 3)
	check(5400*time.Millisecond, map[int][]int{1: {2, 4, 5}, 2: {0, 1, 3}})
}
