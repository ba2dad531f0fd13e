package actors

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/clusterwire"
)

// recordingNode is the part of a cluster member the fleet index talks to,
// recording the frames it is given; the real member.Node needs a running
// protoactor cluster, which the e2e tests start (not the actors tests).
type recordingNode struct {
	placement *member.Placement
	sent      map[string][][]byte // member -> frames
}

func (n *recordingNode) Self() string                            { return n.placement.Self }
func (n *recordingNode) Placement() *member.Placement            { return n.placement }
func (n *recordingNode) Send(m, service string, frame []byte)    { n.sent[m] = append(n.sent[m], frame) }
func (n *recordingNode) Subscribe(*actor.PID)                    {}
func (n *recordingNode) Handle(service string, h member.Handler) {}

// fleets decodes the fleet frames sent to m since the last call.
func (n *recordingNode) fleets(t *testing.T, m string) (fleets []clusterwire.Fleet, requests int) {
	t.Helper()
	for _, b := range n.sent[m] {
		k, body, err := clusterwire.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		switch k {
		case clusterwire.KindFleet:
			f, err := clusterwire.DecodeFleet(body)
			if err != nil {
				t.Fatal(err)
			}
			fleets = append(fleets, f)
		case clusterwire.KindFleetRequest:
			requests++
		}
	}
	n.sent[m] = nil
	return fleets, requests
}

func names(hs []*HostSummary) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// hostOwnedBy returns a host name the placement gives to m.
func hostOwnedBy(p *member.Placement, m string) string {
	for i := 0; ; i++ {
		if n := fmt.Sprintf("h%d", i); p.Owner(n) == m {
			return n
		}
	}
}

// A member's fleet index greets the other members with its whole fleet
// and a request for theirs, merges their frames into the snapshot it
// publishes (states counted, alerts listed, JSON encoded as for its own
// hosts), keeps its own hosts against a stale claim, takes removals, and
// names a member whose frames stopped, or that left, as partial until it
// is heard again or its hosts are dropped.
func TestFleetMergesMembers(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	clock := newFakeClock(time.Unix(1_800_000_000, 0))
	f := &Fleet{}
	stats := NewStats()
	a := newFleetActor(f, clock, time.Hour, sys, stats)
	a.self = sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	defer func() {
		if a.timer != nil {
			a.timer.Stop()
		}
	}()
	const self, other = "127.0.0.11:51410", "127.0.0.12:51410"
	node := &recordingNode{placement: member.NewPlacement(2, self, []string{self, other}, nil, 0), sent: map[string][][]byte{}}
	mine := hostOwnedBy(node.placement, self)

	a.pending[mine] = &HostSummary{Name: mine, State: StateUp}
	a.publish()
	a.attach(&fleetCluster{node: node, every: time.Second})
	fl, req := node.fleets(t, other)
	if req != 1 || len(fl) != 1 || len(fl[0].Hosts) != 1 || fl[0].Hosts[0].Name != mine || fl[0].Origin != self {
		t.Fatalf("greeting to %s: %d requests, fleets %+v; want one request and our host %s", other, req, fl, mine)
	}

	since := clock.Now().Add(-time.Minute)
	alerting := clusterwire.FleetHost{Name: "r1", State: uint8(StateDown), LastSeen: since.UnixNano(), Interval: int64(10 * time.Second),
		AgentVersion: "0.1.0", Alerts: []clusterwire.FleetAlert{{Path: "heartbeat", Level: uint8(alert.LevelCritical), Since: since.UnixNano(), JSONOpen: []byte(`{"host":"r1"`)}}}
	a.merge(nil, &clusterwire.Fleet{Origin: other, Hosts: []clusterwire.FleetHost{
		alerting,
		{Name: "r2", State: uint8(StateUp)},
		{Name: mine, State: uint8(StateDown)}, // a stale claim on our host
		{Name: "bad", State: 99},
	}}, clock.Now())
	a.publish()
	s := f.Snapshot()
	if got := names(s.Hosts); !slices.Equal(got, []string{mine, "r1", "r2"}) || len(s.Partial) != 0 {
		t.Fatalf("merged hosts %v, partial %v", got, s.Partial)
	}
	if s.CountByState(StateUp) != 2 || s.CountByState(StateDown) != 1 || !slices.Equal(alertHosts(s), []string{"r1"}) {
		t.Fatalf("by state %v, alerting %v", s.ByState, alertHosts(s))
	}
	if j := string(s.Find("r1").JSON()); !strings.Contains(j, `"name":"r1"`) || !strings.Contains(j, `"state":"DOWN"`) || !strings.Contains(j, `"agent_version":"0.1.0"`) {
		t.Fatalf("r1's JSON: %s", j)
	}
	if stats.ClusterBadFrames.Load() != 1 {
		t.Fatalf("bad summaries counted %d, want 1", stats.ClusterBadFrames.Load())
	}

	// Our changes go out at the next push; nothing changed: an empty frame.
	a.pending[mine] = &HostSummary{Name: mine, State: StateDegraded}
	a.noteLocal(mine)
	a.push()
	if fl, _ := node.fleets(t, other); len(fl) != 1 || len(fl[0].Hosts) != 1 || fl[0].Hosts[0].State != uint8(StateDegraded) {
		t.Fatalf("push of one change: %+v", fl)
	}
	a.push()
	if fl, _ := node.fleets(t, other); len(fl) != 1 || len(fl[0].Hosts) != 0 {
		t.Fatalf("push of nothing: %+v, want one empty frame", fl)
	}

	// Three periods without a frame: partial; a frame ends it.
	clock.Advance(3 * time.Second)
	a.push()
	a.publish()
	if p := f.Snapshot().Partial; len(p) != 0 {
		t.Fatalf("partial %v after exactly three periods", p)
	}
	clock.Advance(time.Millisecond)
	a.push()
	a.publish()
	if p := f.Snapshot().Partial; !slices.Equal(p, []string{other}) {
		t.Fatalf("partial %v after three periods without a frame, want [%s]", p, other)
	}
	a.merge(nil, &clusterwire.Fleet{Origin: other, Removed: []string{"r2", mine}}, clock.Now())
	a.publish()
	if s := f.Snapshot(); len(s.Partial) != 0 || !slices.Equal(names(s.Hosts), []string{mine, "r1"}) || s.CountByState(StateUp) != 0 {
		t.Fatalf("after a frame removing r2: hosts %v, partial %v, by state %v", names(s.Hosts), s.Partial, s.ByState)
	}

	// The member leaves: partial at once; its hosts go after the grace.
	a.topology(nil, []string{other})
	a.publish()
	if s := f.Snapshot(); !slices.Equal(s.Partial, []string{other}) || s.Find("r1") == nil {
		t.Fatalf("after the leave: hosts %v, partial %v", names(s.Hosts), s.Partial)
	}
	clock.Advance(leftGrace)
	a.push()
	a.publish()
	if s := f.Snapshot(); len(s.Partial) != 0 || !slices.Equal(names(s.Hosts), []string{mine}) || len(alertHosts(s)) != 0 || s.CountByState(StateDown) != 0 {
		t.Fatalf("after the grace: hosts %v, partial %v, alerting %v, by state %v", names(s.Hosts), s.Partial, alertHosts(s), s.ByState)
	}
}
