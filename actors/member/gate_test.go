package member

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

// A topology change runs the BeforePublish hook first: while it runs,
// readers still get the old placement; the subscribers hear of the change
// after it. No cluster is started: the provider's event is handed to the
// node as the provider would.
func TestBeforePublishHoldsThePlacement(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	n := NewNode(sys, Config{Name: "t", Listen: "127.0.0.11:51520"})
	got := make(chan *TopologyChanged, 1)
	sub := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*TopologyChanged); ok {
			got <- m
		}
	}))
	n.Subscribe(sub)
	var seen *Placement
	var change *TopologyChanged
	n.BeforePublish(func(ch *TopologyChanged) {
		seen, change = n.Placement(), ch
		select {
		case <-got:
			t.Error("a subscriber heard of the change before the hook returned")
		default:
		}
	})
	before := n.Placement()
	member := func(host string) *cluster.Member {
		return &cluster.Member{Host: host, Port: 51520, Kinds: []string{KindHost}}
	}
	n.onEvent(&cluster.ClusterTopology{TopologyHash: 7, Members: []*cluster.Member{member("127.0.0.11"), member("127.0.0.12")}})
	if seen != before {
		t.Errorf("the hook saw placement %d, want the old one (%d)", seen.Version, before.Version)
	}
	if change == nil || change.New.Version != before.Version+1 || len(change.Joined) != 1 || change.Joined[0] != "127.0.0.12:51520" {
		t.Fatalf("hook got %+v", change)
	}
	if n.Placement() != change.New {
		t.Error("the new placement was not published after the hook")
	}
	select {
	case m := <-got:
		if m.New != change.New {
			t.Error("subscribers got another placement than the hook")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber was not told")
	}
	// No change of membership (a topology hash only): no hook.
	change = nil
	n.onEvent(&cluster.ClusterTopology{TopologyHash: 8, Members: []*cluster.Member{member("127.0.0.11"), member("127.0.0.12")}})
	if change != nil {
		t.Error("the hook ran without a change of membership")
	}
}
