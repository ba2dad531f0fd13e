package member

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
)

var three = []string{"127.0.0.11:51310", "127.0.0.12:51310", "127.0.0.13:51310"}

func hostNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("host-%05d", i)
	}
	return out
}

// The owner is what protoactor's Rendezvous says for kind hbd-host, the
// same from every member's view, and every member owns a fair share of
// hosts (equal ports: the addresses differ before their last character).
func TestPlacementOwnerIsRendezvous(t *testing.T) {
	ref := cluster.NewRendezvous()
	var ms cluster.Members
	for _, a := range three {
		ms = append(ms, clusterMember(a, ""))
	}
	ref.UpdateMembers(ms)
	views := []*Placement{}
	for _, self := range three {
		views = append(views, NewPlacement(2, self, []string{three[2], three[0], three[1]}, nil, 7))
	}
	count := map[string]int{}
	for _, h := range hostNames(3000) {
		want := ref.GetByClusterIdentity(identity(h))
		for _, p := range views {
			if got := p.Owner(h); got != want {
				t.Fatalf("%s: Owner(%s) = %s, want %s", p.Self, h, got, want)
			}
		}
		count[want]++
		local := 0
		for _, p := range views {
			if p.Local(h) {
				local++
			}
		}
		if local != 1 {
			t.Fatalf("%s is local on %d members", h, local)
		}
	}
	for _, a := range three {
		if count[a] < 800 || count[a] > 1200 {
			t.Errorf("%s owns %d of 3000 hosts, want about 1000 (%v)", a, count[a], count)
		}
	}
}

// The successor of a host is the member that owns it once the owner is
// gone, and never the owner; alone, there is none.
func TestPlacementSuccessorIsOwnerWithoutIt(t *testing.T) {
	p := NewPlacement(2, three[0], three, nil, 0)
	for _, h := range hostNames(2000) {
		owner, succ := p.Owner(h), p.Successor(h)
		if succ == "" || succ == owner {
			t.Fatalf("Successor(%s) = %q, owner %q", h, succ, owner)
		}
		var rest []string
		for _, m := range three {
			if m != owner {
				rest = append(rest, m)
			}
		}
		if got := NewPlacement(3, rest[0], rest, nil, 0).Owner(h); got != succ {
			t.Fatalf("%s: owner without %s is %s, Successor said %s", h, owner, got, succ)
		}
	}
	alone := NewPlacement(1, three[0], nil, nil, 0)
	if s := alone.Successor("x"); s != "" || alone.Owner("x") != three[0] || !alone.Local("x") {
		t.Errorf("alone: Successor = %q, Owner = %q", s, alone.Owner("x"))
	}
}

// When a member leaves, only its hosts move.
func TestPlacementMinimalMovement(t *testing.T) {
	all := NewPlacement(2, three[0], three, nil, 0)
	two := NewPlacement(3, three[0], three[:2], nil, 0)
	moved := 0
	for _, h := range hostNames(5000) {
		before, after := all.Owner(h), two.Owner(h)
		if before != after {
			if before != three[2] {
				t.Fatalf("%s moved from %s to %s though %s stayed", h, before, after, before)
			}
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no host moved off the member that left")
	}
}

func TestPlacementMembersAndDiff(t *testing.T) {
	p := NewPlacement(4, three[1], []string{three[2], three[0]}, []string{"id-c", "id-a"}, 9)
	if len(p.Members) != 3 || p.Members[0] != three[0] || p.Members[1] != three[1] {
		t.Fatalf("Members = %v: want sorted, self added", p.Members)
	}
	if p.ID(three[2]) != "id-c" || p.ID(three[1]) != "" || !p.Has(three[1]) || p.Has("x:1") {
		t.Errorf("IDs = %v", p.IDs)
	}
	q := NewPlacement(5, three[1], three[1:], nil, 10)
	joined, left := diff(p, q)
	if len(joined) != 0 || len(left) != 1 || left[0] != three[0] {
		t.Errorf("diff = %v, %v", joined, left)
	}
}

func TestSkewedAddresses(t *testing.T) {
	if a, b := skewed([]string{"127.0.0.1:7001", "127.0.0.1:7002"}); a == "" || b == "" {
		t.Error("7001/7002 not reported")
	}
	if a, _ := skewed(three); a != "" {
		t.Errorf("%v reported as skewed", three)
	}
}
