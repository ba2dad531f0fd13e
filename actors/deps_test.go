package actors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/deps"
	"github.com/hbd-project/hbd/transport/wire"
)

// startDeps starts a System whose hosts depend on each other by rules,
// with one webhook channel that does not group (each page is one post).
func startDeps(t *testing.T, rules ...deps.Rule) (*System, *hookRecorder, *fakeClock) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	return startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, deps: deps.NewRules(rules)}), hook, clock
}

// step moves the fake clock in steps of at most a second, letting every
// actor finish what each step started (and the fleet publish) before the
// next: the order of the hosts' timers within one step is not defined.
func step(s *System, clock *fakeClock, d time.Duration) {
	for d > 0 {
		n := min(d, time.Second)
		clock.Advance(n)
		settle(s)
		settle(s)
		d -= n
	}
}

func hostsIn(s *System, st HostState, names ...string) bool {
	for _, n := range names {
		if stateOf(s, n) != st {
			return false
		}
	}
	return true
}

// A switch and its hosts die together; the hosts cross their deadline 5 s
// before the switch (their last heartbeats were earlier). One page, the
// switch's, saying how many depend on it; the hosts are UNREACHABLE with
// a WARNING heartbeat alert, and their held pages are dropped.
func TestParentAndChildrenDieTogether(t *testing.T) {
	s, hook, clock := startDeps(t, deps.Rule{Hosts: []string{"c*"}, Parents: []string{"sw"}})
	sw := newTestAgent(t, s, clock, "sw")
	var kids []*agent
	var names []string
	for i := range 5 {
		a := newTestAgent(t, s, clock, fmt.Sprintf("c%d", i))
		a.beat()
		kids, names = append(kids, a), append(names, a.name)
	}
	step(s, clock, 5*time.Second)
	sw.beat()
	step(s, clock, 25*time.Second) // the children's deadline: DOWN, pages held
	if !hostsIn(s, StateDown, names...) || stateOf(s, "sw") != StateUp {
		t.Fatalf("children %v, sw %s", stateOf(s, "c0"), stateOf(s, "sw"))
	}
	step(s, clock, 5*time.Second) // the switch's
	eventually(t, "the switch's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	step(s, clock, 5*time.Second) // the children's next look at their parent, within their hold
	eventually(t, "children UNREACHABLE", func() bool { return hostsIn(s, StateUnreachable, names...) })
	hook.mu.Lock()
	body := hook.bodies[0]
	hook.mu.Unlock()
	if body["host"] != "sw" || body["dependents"] != float64(5) || len(body["dependent_hosts"].([]any)) != 5 ||
		!strings.Contains(body["message"].(string), "5 hosts depend on it: c0, c1, c2, c3, c4") {
		t.Fatalf("page %v", body)
	}
	if got := alertsOf(t, s, "c0"); !strings.Contains(got, `"level":"WARNING"`) {
		t.Errorf("an UNREACHABLE host's heartbeat alert: %s", got)
	}
	step(s, clock, 15*time.Second) // every hold is over
	// The switch comes back, and so do its hosts: their recoveries are
	// not sent (nobody was paged about them); the switch's is. It is the
	// second post on the channel's one queue, so no child page came before.
	sw.beat()
	for _, k := range kids {
		k.beat()
	}
	eventually(t, "the switch's recovery", func() bool { return strings.Count(hook.got(), "recovery") == 1 })
	step(s, clock, 15*time.Second)
	if got := hook.got(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Fatalf("pages %q", got)
	}
}

// A host with parents that dies alone pages, after the hold: one of its
// parent's intervals and the slack.
func TestChildDiesAlonePagesAfterHold(t *testing.T) {
	s, hook, clock := startDeps(t, deps.Rule{Hosts: []string{"c*"}, Parents: []string{"sw"}})
	sw, c := newTestAgent(t, s, clock, "sw"), newTestAgent(t, s, clock, "c")
	sw.beat()
	c.beat()
	for range 3 {
		step(s, clock, 10*time.Second)
		sw.beat()
	}
	if stateOf(s, "c") != StateDown {
		t.Fatalf("c is %s", stateOf(s, "c"))
	}
	step(s, clock, 10*time.Second) // within the hold (11 s)
	sw.beat()
	if got := hook.got(); got != "" {
		t.Fatalf("paged within the hold: %q", got)
	}
	step(s, clock, time.Second)
	eventually(t, "the child's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	hook.mu.Lock()
	body := hook.bodies[0]
	hook.mu.Unlock()
	if body["host"] != "c" || body["dependents"] != nil {
		t.Errorf("page %v", body)
	}
	c.beat()
	eventually(t, "its recovery", func() bool { return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK" })
}

// The parent comes back, its host does not: after the settle the host is
// DOWN and pages at once. Transitive: core <- sw <- c.
func TestChildStillSilentAfterParentReturns(t *testing.T) {
	s, hook, clock := startDeps(t,
		deps.Rule{Hosts: []string{"c"}, Parents: []string{"sw"}},
		deps.Rule{Hosts: []string{"sw"}, Parents: []string{"core"}})
	core, sw, c := newTestAgent(t, s, clock, "core"), newTestAgent(t, s, clock, "sw"), newTestAgent(t, s, clock, "c")
	c.beat()
	sw.beat()
	core.beat()
	step(s, clock, 30*time.Second)
	eventually(t, "core's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	step(s, clock, 5*time.Second) // their next look at their parents, within their hold
	eventually(t, "sw and c UNREACHABLE", func() bool { return hostsIn(s, StateUnreachable, "sw", "c") })
	hook.mu.Lock()
	body := hook.bodies[0]
	hook.mu.Unlock()
	if body["host"] != "core" || body["dependents"] != float64(2) {
		t.Fatalf("page %v", body)
	}
	step(s, clock, 10*time.Second)
	core.beat()
	sw.beat()
	eventually(t, "core's recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:heartbeat:OK") })
	// c stays UNREACHABLE while its heartbeats may still return (its
	// interval and the slack after it sees sw back), then pages.
	step(s, clock, 5*time.Second)
	if stateOf(s, "c") != StateUnreachable {
		t.Fatalf("c is %s within the settle", stateOf(s, "c"))
	}
	step(s, clock, 12*time.Second)
	eventually(t, "c DOWN", func() bool { return stateOf(s, "c") == StateDown })
	eventually(t, "c's page", func() bool {
		return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK problem:heartbeat:CRITICAL"
	})
	hook.mu.Lock()
	msg := hook.msgs[2]
	hook.mu.Unlock()
	if !strings.Contains(msg, "since its parents came back") {
		t.Errorf("c's page: %q", msg)
	}
}

// A parent whose rule gives it longer than its host's (down_after 6
// against 3; adaptive hosts under fixed-rule parents are the usual case)
// and that died with the host crosses its deadline 30 s after the host
// does, far past the hold of one interval: the hold lasts while the
// parent is overdue, until its own deadline, and the host is UNREACHABLE
// then, not paged.
func TestHoldLastsUntilAnOverdueParentsDeadline(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL,
		deps:     deps.NewRules([]deps.Rule{{Hosts: []string{"c"}, Parents: []string{"sw"}}}),
		liveness: &Liveness{Hosts: []HostDetection{{Match: "sw", Detection: Detection{DownAfter: 6}}}}})
	sw, c := newTestAgent(t, s, clock, "sw"), newTestAgent(t, s, clock, "c")
	sw.beat()
	c.beat()
	step(s, clock, 30*time.Second)
	eventually(t, "c DOWN", func() bool { return stateOf(s, "c") == StateDown })
	step(s, clock, 25*time.Second) // past the hold of one interval (11 s); sw still UP, overdue
	if st := stateOf(s, "sw"); st != StateUp {
		t.Fatalf("sw is %s 55 s after its last heartbeat, want UP (down_after 6)", st)
	}
	step(s, clock, 10*time.Second) // sw's deadline (60 s), and c's next look at it
	eventually(t, "c UNREACHABLE behind sw", func() bool { return stateOf(s, "c") == StateUnreachable && stateOf(s, "sw") == StateDown })
	eventually(t, "sw's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	// Exact: c's page would be before sw's or after it.
	sw.beat()
	eventually(t, "sw's recovery", func() bool { return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK" })
	hook.mu.Lock()
	host := hook.bodies[0]["host"]
	hook.mu.Unlock()
	if host != "sw" {
		t.Fatalf("the page is %v's, want sw's", host)
	}
}

// beatTo sends a heartbeat with conn_seq seq to the daemon's i-th address
// (the listener's addresses on "localhost": IPv4, then IPv6) and waits
// until it is applied.
func (a *agent) beatTo(i int, seq uint32) {
	a.t.Helper()
	before := a.s.Stats.AcceptedKind(wire.KindHeartbeat)
	b, err := wire.AppendHeartbeat(nil, wire.NewSigner(testKey), a.env(), wire.Heartbeat{IntervalMS: 10000, ConnSeq: seq, RTTMicros: 250})
	if err != nil {
		a.t.Fatal(err)
	}
	sendUDP(a.t, a.s.UDPAddrs()[i], b)
	eventually(a.t, "heartbeat accepted", func() bool { return a.s.Stats.AcceptedKind(wire.KindHeartbeat) > before })
	settle(a.s)
}

// dualStackUnderSwitch starts a daemon on IPv4 and IPv6 loopback where
// host c depends on sw; both heartbeat at 0 s (c on both families), and
// the clock is at 5 s.
func dualStackUnderSwitch(t *testing.T) (*System, *hookRecorder, *fakeClock, *agent, *agent) {
	t.Helper()
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), listen: "localhost", hook: hook.URL,
		deps: deps.NewRules([]deps.Rule{{Hosts: []string{"c"}, Parents: []string{"sw"}}})})
	if len(s.UDPAddrs()) != 2 || !s.UDPAddrs()[1].Addr().Is6() {
		t.Skipf("needs IPv4 and IPv6 loopback, listening on %v", s.UDPAddrs())
	}
	sw, c := newTestAgent(t, s, clock, "sw"), newTestAgent(t, s, clock, "c")
	sw.beat()
	c.beatTo(0, 1)
	c.beatTo(1, 1)
	step(s, clock, 5*time.Second)
	return s, hook, clock, sw, c
}

// A dual-stack host and its switch die together, and the host's address
// families cross their deadlines apart: one after the switch is DOWN
// (DEGRADED, its WARNING page held), the other later (UNREACHABLE, also
// WARNING, so no level change). The held DEGRADED page is dropped when the
// hold ends, not sent: the switch's page covers the host. When the switch
// comes back and the host does not, the host pages DOWN after the settle.
func TestDegradedChildBehindDownParentIsNotPaged(t *testing.T) {
	s, hook, clock, sw, c := dualStackUnderSwitch(t)
	c.beatTo(1, 2) // IPv6's deadline: 35 s
	step(s, clock, 3*time.Second)
	c.beatTo(0, 2) // IPv4's: 38 s
	step(s, clock, 23*time.Second)
	eventually(t, "the switch's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	step(s, clock, 5*time.Second)
	if st := stateOf(s, "c"); st != StateDegraded {
		t.Fatalf("c is %s with IPv6 overdue, want DEGRADED", st)
	}
	step(s, clock, 5*time.Second)
	eventually(t, "c UNREACHABLE", func() bool { return stateOf(s, "c") == StateUnreachable })
	step(s, clock, 20*time.Second) // well past the hold (11 s from 35 s)
	eventually(t, "the held page dropped", func() bool {
		b, _ := s.Messages(context.Background(), MessagesQuery{Limit: 100})
		return strings.Contains(string(b), "heartbeat WARNING not sent: the host is UNREACHABLE behind sw")
	})
	sw.beat()
	step(s, clock, 15*time.Second) // the settle: c's interval and the slack
	// Exact: a DEGRADED page of c would be among them.
	eventually(t, "c's own page", func() bool {
		return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK problem:heartbeat:CRITICAL"
	})
}

// A dual-stack host loses IPv6 after its switch died, and IPv4 keeps
// heartbeating: DEGRADED on its own, not behind the switch. Its page is
// held past the usual hold, once, until its IPv4 address would be due
// (the switch's outage could still take it), then sent: it is not held
// for as long as the switch stays DOWN.
func TestDegradedChildBehindDownParentPagesOnceItsOtherAddressLives(t *testing.T) {
	s, hook, clock, _, c := dualStackUnderSwitch(t)
	c.beatTo(1, 2) // IPv6's last: due at 35 s
	for seq := uint32(2); seq <= 9; seq++ {
		step(s, clock, 10*time.Second)
		c.beatTo(0, seq) // IPv4 every 10 s from 15 s to 85 s
		if seq == 4 {
			eventually(t, "the switch's page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
		}
	}
	// DEGRADED at 35 s behind a DOWN switch: held to 46 s, then once more
	// to IPv4's deadline as it stood then (its beat at 45 s: 75 s, and
	// the slack), and sent at 76 s although the switch is still DOWN.
	eventually(t, "c's own WARNING page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL problem:heartbeat:WARNING" })
	if st := stateOf(s, "c"); st != StateDegraded {
		t.Errorf("c is %s, want DEGRADED", st)
	}
}

// Rules that loop (agents can make loops the config check never sees;
// here the rules are given to the actors unchecked) are broken at the
// same dependency every time, counted and logged once: of two hosts that
// depend on each other and die together, exactly one pages.
func TestDependencyLoopBrokenAtRuntime(t *testing.T) {
	s, hook, clock := startDeps(t,
		deps.Rule{Hosts: []string{"a"}, Parents: []string{"b"}},
		deps.Rule{Hosts: []string{"b"}, Parents: []string{"a"}})
	a, b := newTestAgent(t, s, clock, "a"), newTestAgent(t, s, clock, "b")
	a.beat()
	b.beat()
	step(s, clock, 30*time.Second)
	eventually(t, "one page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	// Built in name order: a depends on b, and b's dependency on a closes
	// the loop, so it is left out: b pages, a is UNREACHABLE behind it
	// from its next look at b, within its hold.
	step(s, clock, 15*time.Second)
	if stateOf(s, "a") != StateUnreachable || stateOf(s, "b") != StateDown {
		t.Fatalf("a %s, b %s", stateOf(s, "a"), stateOf(s, "b"))
	}
	if n := s.Stats.DependencyLoops.Load(); n != 1 {
		t.Errorf("DependencyLoops = %d, want 1", n)
	}
	b.beat()
	eventually(t, "b's recovery", func() bool { return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK" })
}

// parentsOf is name's parents in the published graph.
func parentsOf(s *System, name string) string {
	return strings.Join(s.Fleet.Snapshot().Deps.Parents(name), ",")
}

// An agent's declared parents count like the rules' (merged after them),
// survive a restart in the state files, and an empty declaration
// withdraws them.
func TestAgentParents(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	rules := deps.NewRules([]deps.Rule{{Hosts: []string{"c"}, Parents: []string{"hv1"}}})
	s := startPersist(t, clock, persistOpts{dir: dir, deps: rules})
	c := newTestAgent(t, s, clock, "c")
	c.instance = 7
	c.beat()
	c.send(wire.AppendParents(nil, wire.NewSigner(testKey), c.env(), wire.Parents{Names: [][]byte{[]byte("sw")}}))
	eventually(t, "the agent's parents in the graph", func() bool { settle(s); return parentsOf(s, "c") == "hv1,sw" })
	if n := s.Stats.AcceptedKind(wire.KindParents); n != 1 {
		t.Errorf("accepted parents datagrams: %d", n)
	}
	s.Stop()

	// Without the rule now: the agent's parent is what was saved.
	s = startPersist(t, clock, persistOpts{dir: dir})
	eventually(t, "the agent's parents after the restart", func() bool { settle(s); return parentsOf(s, "c") == "sw" })
	c.s = s
	c.send(wire.AppendParents(nil, wire.NewSigner(testKey), c.env(), wire.Parents{}))
	eventually(t, "the parents withdrawn", func() bool { settle(s); return parentsOf(s, "c") == "" })
}

// The host object lists a host's parents, the rules' and its agent's,
// and the stream's host frame with it.
func TestHostObjectParents(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), deps: deps.NewRules([]deps.Rule{{Hosts: []string{"c"}, Parents: []string{"hv1"}}})})
	c := newTestAgent(t, s, clock, "c")
	c.instance = 3
	c.beat()
	if got := hostJSON(s, "c"); !strings.HasSuffix(got, `,"parents":["hv1"]}`) {
		t.Fatalf("host object %s", got)
	}
	c.send(wire.AppendParents(nil, wire.NewSigner(testKey), c.env(), wire.Parents{Names: [][]byte{[]byte("sw")}}))
	eventually(t, "the agent's parent in the host object", func() bool {
		settle(s)
		return strings.HasSuffix(hostJSON(s, "c"), `,"parents":["hv1","sw"]}`)
	})
}

// UNREACHABLE hosts stay so across a restart and page nobody then: their
// state comes back from the state files, and their heartbeat alerts,
// never notified, are not sent as "not delivered before the restart".
func TestUnreachableSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	rules := deps.NewRules([]deps.Rule{{Hosts: []string{"c*"}, Parents: []string{"sw"}}})
	s := startPersist(t, clock, persistOpts{dir: dir, hook: hook.URL, deps: rules})
	sw := newTestAgent(t, s, clock, "sw")
	names := []string{"c0", "c1", "c2"}
	for _, n := range names {
		newTestAgent(t, s, clock, n).beat()
	}
	step(s, clock, 5*time.Second)
	sw.beat()
	step(s, clock, 45*time.Second)
	eventually(t, "children UNREACHABLE", func() bool { return hostsIn(s, StateUnreachable, names...) })
	eventually(t, "the switch's page noted", func() bool {
		return hook.got() == "problem:heartbeat:CRITICAL" && strings.Contains(alertsOf(t, s, "sw"), `"notification_count":1`)
	})
	s.Stop()

	s = startPersist(t, clock, persistOpts{dir: dir, hook: hook.URL, deps: rules})
	step(s, clock, 30*time.Second)
	if !hostsIn(s, StateUnreachable, names...) || stateOf(s, "sw") != StateDown {
		t.Errorf("after the restart: c0 %s, sw %s; want UNREACHABLE and DOWN", stateOf(s, "c0"), stateOf(s, "sw"))
	}
	// The switch comes back: its recovery is the next post on the
	// channel's one queue, so no child's page came before it.
	sw.s = s
	sw.beat()
	eventually(t, "the switch's recovery", func() bool { return strings.Contains(hook.got(), "recovery") })
	if got := hook.got(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Errorf("pages %q, want the switch's page and recovery only", got)
	}
}
