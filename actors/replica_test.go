package actors

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/clusterwire"
	"github.com/hbd-project/hbd/internal/statefile"
)

// Members of the replication tests: real placements (protoactor's
// Rendezvous), no cluster. Frames go between two Systems of this process
// through pairLink, which hands them to the other System's ReplicaFrame
// as member.Node would after a gRPC hop.
const (
	memberA = "127.0.0.11:51510"
	memberB = "127.0.0.12:51510"
)

type pairLink struct {
	self  string
	p     atomic.Pointer[member.Placement]
	mu    sync.Mutex
	peers map[string]*System
	cut   bool // the member is "killed": nothing it sends arrives
	subs  []*actor.PID
}

func newPairLink(self string, members ...string) *pairLink {
	l := &pairLink{self: self, peers: map[string]*System{}}
	l.p.Store(member.NewPlacement(1, self, members, nil, 0))
	return l
}

func (l *pairLink) Placement() *member.Placement { return l.p.Load() }

func (l *pairLink) peer(m string) *System {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil
	}
	return l.peers[m]
}

func (l *pairLink) Send(m, service string, frame []byte) {
	if s := l.peer(m); s != nil && service == ReplicaService {
		s.ReplicaFrame(l.self, frame)
	}
}

func (l *pairLink) Request(m, service string, frame []byte, _ time.Duration) ([]byte, error) {
	s := l.peer(m)
	if s == nil || service != ReplicaService {
		return nil, fmt.Errorf("member %s unreachable", m)
	}
	return s.ReplicaFrame(l.self, frame), nil
}

func (l *pairLink) Subscribe(pid *actor.PID) { l.subs = append(l.subs, pid) }

// change publishes a new placement as member.Node does: BeforePlacement
// first, then the placement, then the subscribers' message.
func (l *pairLink) change(s *System, members []string) {
	old := l.p.Load()
	next := member.NewPlacement(old.Version+1, l.self, members, nil, 0)
	ch := &member.TopologyChanged{Old: old, New: next}
	for _, m := range next.Members {
		if !old.Has(m) {
			ch.Joined = append(ch.Joined, m)
		}
	}
	for _, m := range old.Members {
		if !next.Has(m) {
			ch.Left = append(ch.Left, m)
		}
	}
	s.BeforePlacement(ch)
	l.p.Store(next)
	for _, pid := range l.subs {
		s.actors.Root.Send(pid, ch)
	}
}

// startMember starts a System replicating over link.
func startMember(t *testing.T, clock *fakeClock, link *pairLink, o persistOpts) *System {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	o.replica = &ReplicaConfig{Link: link, Every: time.Hour}
	return startPersist(t, clock, o)
}

// ownedBy returns n host names that p places on owner.
func ownedBy(p *member.Placement, owner string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if h := fmt.Sprintf("host%d", i); p.Owner(h) == owner {
			out = append(out, h)
		}
	}
	return out
}

// caughtUp waits until s has sent everything its hosts asked to
// replicate and its successor acknowledged it.
func caughtUp(t *testing.T, s *System) {
	t.Helper()
	settle(s)
	s.wait(s.replicator) // flushes
	eventually(t, "replication caught up", func() bool { return s.ReplicaLag() == 0 })
}

// A member dies: the successor restores its hosts from their replicas.
// No host turns DOWN or UNKNOWN for the move, no heartbeat alert fires,
// the page already delivered is not sent again, and liveness counts from
// the takeover: a host that stays silent turns DOWN down_after intervals
// later, not never.
func TestTakeoverRestoresWithoutDown(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	la, lb := newPairLink(memberA, memberA, memberB), newPairLink(memberB, memberA, memberB)
	a := startMember(t, clock, la, persistOpts{hook: hook.URL})
	b := startMember(t, clock, lb, persistOpts{hook: hook.URL})
	la.peers[memberB], lb.peers[memberA] = b, a

	names := ownedBy(la.Placement(), memberA, 2)
	up, down := newTestAgent(t, a, clock, names[0]), newTestAgent(t, a, clock, names[1])
	up.beat()
	down.beat()
	clock.Advance(20 * time.Second)
	up.beat()
	clock.Advance(10 * time.Second) // down's deadline: DOWN, paged
	eventually(t, "the page of the DOWN host", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	eventually(t, "its delivery noted", func() bool {
		return strings.Contains(alertsOf(t, a, down.name), `"notification_count":1`)
	})
	caughtUp(t, a)
	b.wait(b.replicator)
	if got := b.Replica.Stored.Load(); got != 2 {
		t.Fatalf("successor holds %d replicas, want 2", got)
	}
	if got := b.Registry.Len(); got != 0 {
		t.Fatalf("successor runs %d hosts before the takeover", got)
	}

	// Member A is killed: what it sends is lost from now on.
	la.mu.Lock()
	la.cut = true
	la.mu.Unlock()
	a.Stop()
	clock.Advance(time.Second)
	lb.change(b, []string{memberB})
	settle(b)
	if got := stateOf(b, up.name); got != StateUp {
		t.Errorf("%s after the takeover: %s, want UP", up.name, got)
	}
	if got := stateOf(b, down.name); got != StateDown {
		t.Errorf("%s after the takeover: %s, want DOWN (as it was)", down.name, got)
	}
	if got := b.Replica.TakenOver.Load(); got != 2 {
		t.Errorf("taken over: %d hosts, want 2", got)
	}
	if got := b.Replica.Stored.Load(); got != 0 {
		t.Errorf("replicas left in the store: %d", got)
	}

	// up's last heartbeat was 11 s before the takeover: its deadline
	// counts from the takeover, so 25 s on it is still UP.
	clock.Advance(25 * time.Second)
	settle(b)
	if got := stateOf(b, up.name); got != StateUp {
		t.Errorf("%s 25 s after the takeover: %s, want UP", up.name, got)
	}
	// The DOWN host comes back, on its new owner: its recovery is the
	// barrier after which every page there is to send has been sent.
	down.s = b
	down.beat()
	eventually(t, "the recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:heartbeat:OK") })
	if got := hook.got(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Errorf("pages %q: the takeover sent a page again, or a heartbeat alert fired", got)
	}
	// The notifier records the delivery on the host after the receiver
	// has it.
	eventually(t, "the alert state moved with the host (notification_count 2)", func() bool {
		return strings.Contains(alertsOf(t, b, down.name), `"notification_count":2`)
	})
	// Silent since: DOWN 30 s after the takeover.
	clock.Advance(5 * time.Second)
	eventually(t, "the silent host DOWN 30 s after the takeover", func() bool { return stateOf(b, up.name) == StateDown })
}

// A page that was not delivered before its member died is sent once by
// the member that took the host over.
func TestTakeoverSendsUndeliveredPageOnce(t *testing.T) {
	hook := newHookRecorder(t)
	hook.setStatus(503)
	clock := newFakeClock(time.Unix(1795510000, 0))
	la, lb := newPairLink(memberA, memberA, memberB), newPairLink(memberB, memberA, memberB)
	a := startMember(t, clock, la, persistOpts{hook: hook.URL})
	b := startMember(t, clock, lb, persistOpts{hook: hook.URL})
	la.peers[memberB], lb.peers[memberA] = b, a

	h := newTestAgent(t, a, clock, ownedBy(la.Placement(), memberA, 1)[0])
	h.beat()
	clock.Advance(30 * time.Second)
	eventually(t, "the page tried and failed", func() bool { return a.Stats.NotifyFailed.Load() == 1 })
	caughtUp(t, a)
	la.mu.Lock()
	la.cut = true
	la.mu.Unlock()
	a.Stop()

	hook.setStatus(204)
	lb.change(b, []string{memberB})
	eventually(t, "the page sent by the new owner", func() bool {
		return hook.got() == "problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL"
	})
	hook.mu.Lock()
	msg := hook.msgs[1]
	hook.mu.Unlock()
	if !strings.Contains(msg, "not delivered before its cluster member left") {
		t.Errorf("message %q", msg)
	}
	h.s = b
	clock.Advance(time.Second)
	h.beat()
	eventually(t, "the recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:heartbeat:OK") })
	if got := hook.got(); got != "problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Errorf("pages %q", got)
	}
}

// A member joins: the owner hands it its hosts with their whole record,
// rings included; they keep their state and alerts and nothing is paged.
func TestHandOverToJoiningMember(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	la, lb := newPairLink(memberA, memberA), newPairLink(memberB, memberA, memberB)
	rules := []alert.Rule{{Metric: "cpu.pct", Op: alert.OpGT, Warning: ptr(50.0), Critical: ptr(90.0)}}
	a := startMember(t, clock, la, persistOpts{hook: hook.URL, rules: rules})
	b := startMember(t, clock, lb, persistOpts{hook: hook.URL, rules: rules})
	la.peers[memberB], lb.peers[memberA] = b, a

	both := member.NewPlacement(2, memberA, []string{memberA, memberB}, nil, 0)
	moving := newTestAgent(t, a, clock, ownedBy(both, memberB, 1)[0])
	staying := newTestAgent(t, a, clock, ownedBy(both, memberA, 1)[0])
	moving.beat()
	staying.beat()
	moving.sample("cpu", `{"pct":95}`)
	eventually(t, "the page", func() bool { return hook.got() == "problem:cpu.pct:CRITICAL" })
	// The notifier notes the delivery on the host after the receiver has
	// the page: hand over after that, or the record says "never paged"
	// and the new owner rightly pages again.
	eventually(t, "its delivery noted", func() bool {
		return strings.Contains(alertsOf(t, a, moving.name), `"notification_count":1`)
	})
	settle(a)

	la.change(a, []string{memberA, memberB})
	a.handoffs.Wait()
	settle(b)
	if got := a.Registry.Len(); got != 1 {
		t.Errorf("old owner still runs %d hosts, want 1", got)
	}
	if _, ok := a.Registry.Lookup(moving.name); ok {
		t.Errorf("%s still on the old owner", moving.name)
	}
	eventually(t, "the old owner's index forgets it", func() bool { return a.Fleet.Snapshot().Find(moving.name) == nil })
	if got := stateOf(b, moving.name); got != StateUp {
		t.Errorf("%s on its new owner: %s, want UP", moving.name, got)
	}
	if got := alertsOf(t, b, moving.name); !strings.Contains(got, `"level":"CRITICAL"`) || !strings.Contains(got, `"notification_count":1`) {
		t.Errorf("alert state did not move: %s", got)
	}
	ans := answerer{t}
	if got := ans.of(b.QueryPlugins(t.Context(), moving.name, "cpu", 10)); !strings.Contains(got, `"pct":95`) {
		t.Errorf("the ring did not move: %s", got)
	}
	if got := a.Replica.HandedOver.Load(); got != 1 {
		t.Errorf("handed over %d, want 1", got)
	}
	// The value drops on the new owner: one recovery, from there.
	moving.s = b
	clock.Advance(time.Second)
	moving.sample("cpu", `{"pct":5}`)
	eventually(t, "the recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:cpu.pct:OK") })
	if got := hook.got(); got != "problem:cpu.pct:CRITICAL recovery:cpu.pct:OK" {
		t.Errorf("pages %q", got)
	}
}

func replicaRec(t *testing.T, name string) []byte {
	t.Helper()
	return statefile.AppendHost(nil, &statefile.Host{Name: name, State: uint8(StateUp)})
}

// The replica store is bounded: a new host over the bound is refused and
// counted, an update of a kept one is not; an older record of the same
// owner never replaces a newer one.
func TestReplicaStoreBounded(t *testing.T) {
	stats := &ReplicaStats{}
	clock := newFakeClock(time.Unix(1795510000, 0))
	st := newReplicaStore(2, stats, clock, slog.New(slog.DiscardHandler))
	if !st.put(memberA, "h1", 5, replicaRec(t, "h1")) || !st.put(memberA, "h2", 1, replicaRec(t, "h2")) {
		t.Fatal("refused under the bound")
	}
	if st.put(memberA, "h3", 1, replicaRec(t, "h3")) {
		t.Error("a third host was kept over a bound of 2")
	}
	if got := stats.Refused.Load(); got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
	if !st.put(memberA, "h1", 6, replicaRec(t, "h1")) {
		t.Error("an update of a kept host was refused")
	}
	old := statefile.AppendHost(nil, &statefile.Host{Name: "h1", State: uint8(StateDown)})
	st.put(memberA, "h1", 4, old)
	if h, _ := statefile.DecodeHost(st.hosts["h1"].rec); h.State != uint8(StateUp) {
		t.Error("an older record replaced a newer one")
	}
	if got := stats.Stored.Load(); got != 2 {
		t.Errorf("stored gauge %d, want 2", got)
	}
}

// Bad frames change nothing and are counted.
func TestReplicaFrameRefusesBadInput(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	lb := newPairLink(memberB, memberA, memberB)
	b := startMember(t, clock, lb, persistOpts{})
	good := clusterwire.AppendRecords(nil, clusterwire.KindReplica, &clusterwire.Records{From: memberA, Seq: 1,
		Records: []clusterwire.Record{{Host: "h1", Seq: 1, Bytes: replicaRec(t, "h1")}}})
	bad := [][]byte{nil, []byte("HC"), good[:len(good)-1], clusterwire.AppendHeader(nil, clusterwire.KindForward)}
	for _, f := range bad {
		b.ReplicaFrame(memberA, f)
	}
	b.wait(b.replicator)
	if got, want := b.Replica.BadFrames.Load(), uint64(4); got != want {
		t.Errorf("bad frames %d, want %d", got, want)
	}
	if got := b.Replica.Stored.Load(); got != 0 {
		t.Errorf("stored %d from bad frames", got)
	}
	b.ReplicaFrame(memberA, good)
	b.wait(b.replicator)
	if got := b.Replica.Stored.Load(); got != 1 {
		t.Errorf("stored %d from a good frame, want 1", got)
	}
}

// A member restores from its own state files only the hosts it owns now:
// a copy of another member's host would turn DOWN here, for want of its
// datagrams, and page.
func TestRestoreKeepsOnlyOwnedHosts(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	dir := t.TempDir()
	both := member.NewPlacement(2, memberA, []string{memberA, memberB}, nil, 0)
	mine, theirs := ownedBy(both, memberA, 1)[0], ownedBy(both, memberB, 1)[0]
	alone := newPairLink(memberA, memberA)
	a := startMember(t, clock, alone, persistOpts{dir: dir, hook: hook.URL})
	newTestAgent(t, a, clock, mine).beat()
	newTestAgent(t, a, clock, theirs).beat()
	a.Stop()

	la, lb := newPairLink(memberA, memberA, memberB), newPairLink(memberB, memberA, memberB)
	a = startMember(t, clock, la, persistOpts{dir: dir, hook: hook.URL})
	b := startMember(t, clock, lb, persistOpts{hook: hook.URL})
	la.peers[memberB], lb.peers[memberA] = b, a
	if _, ok := a.Registry.Lookup(mine); !ok {
		t.Errorf("%s, owned here, not restored", mine)
	}
	if _, ok := a.Registry.Lookup(theirs); ok {
		t.Errorf("%s, owned by the other member, restored here", theirs)
	}
	// Past its deadline: nothing pages for the host left to its owner.
	// The page of the owned host's silence is the barrier.
	clock.Advance(time.Minute)
	eventually(t, "the owned host's page", func() bool { return hook.got() != "" })
	settle(a)
	if got := hook.got(); got != "problem:heartbeat:CRITICAL" {
		t.Errorf("pages %q, want the owned host's alone", got)
	}
}

// downWithSuccessorCut starts members A and B paging to one webhook, gives
// A a host, cuts B off from A once B has the host's record, and lets the
// host go DOWN on A: the page of that transition then waits for B's ack.
func downWithSuccessorCut(t *testing.T) (a *System, la *pairLink, hook *hookRecorder, clock *fakeClock) {
	t.Helper()
	hook = newHookRecorder(t)
	clock = newFakeClock(time.Unix(1795510000, 0))
	la, lb := newPairLink(memberA, memberA, memberB), newPairLink(memberB, memberA, memberB)
	a = startMember(t, clock, la, persistOpts{hook: hook.URL})
	b := startMember(t, clock, lb, persistOpts{hook: hook.URL})
	la.peers[memberB], lb.peers[memberA] = b, a

	h := newTestAgent(t, a, clock, ownedBy(la.Placement(), memberA, 1)[0])
	h.beat()
	caughtUp(t, a)
	la.mu.Lock()
	la.cut = true // B stops hearing from A
	la.mu.Unlock()
	clock.Advance(30 * time.Second)
	eventually(t, "DOWN", func() bool { return stateOf(a, h.name) == StateDown })
	settle(a)
	a.wait(a.replicator) // the record is sent: the page waits for its ack
	a.wait(a.notifier)
	return a, la, hook, clock
}

// A page waits until the host's successor has the transition: with the
// successor unreachable nothing is sent; once it is gone from the
// cluster, the page goes.
func TestPageWaitsForTheSuccessor(t *testing.T) {
	a, la, hook, _ := downWithSuccessorCut(t)
	if got := hook.got(); got != "" {
		t.Fatalf("paged before the successor had the transition: %q", got)
	}
	la.change(a, []string{memberA}) // B left
	eventually(t, "the page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
}

// A page whose successor never acknowledges (it hangs, and has not left)
// goes once the ack is replicaAckWait overdue.
func TestPageGoesWhenTheAckIsOverdue(t *testing.T) {
	a, _, hook, clock := downWithSuccessorCut(t)
	if got := hook.got(); got != "" {
		t.Fatalf("paged before the ack was overdue: %q", got)
	}
	clock.Advance(replicaAckWait + time.Second)
	// What the expiry timer (real time) sends when it fires.
	a.actors.Root.Send(a.replicator, &replicaExpire{})
	eventually(t, "the page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	if got := a.Replica.GivenUp.Load(); got == 0 {
		t.Error("the frame was not counted as given up")
	}
}
