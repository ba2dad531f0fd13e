// Package member makes an hbd daemon a member of a protoactor cluster: it
// starts the cluster (remote, gossip and a membership provider), turns
// the provider's topology into a Placement that says which member owns
// each host, and carries our frames (internal/clusterwire) between
// members to named actors.
//
// HostActors stay local children of the registry: the cluster decides
// only where a host lives. Placement uses protoactor's cluster.Rendezvous
// (the function its identity lookup uses) with the host name as identity
// and kind KindHost, so every member computes the same owner from the same
// topology without asking anyone.
package member

import (
	"net"
	"slices"
	"strconv"

	"github.com/asynkron/protoactor-go/cluster"
)

// KindHost is the cluster kind every hbd member advertises. No grain of it
// is ever activated: it exists so that members advertise it and Rendezvous
// places hosts on them.
const KindHost = "hbd-host"

// Placement is one immutable view of the cluster: who is in it and so who
// owns each host. A new topology makes a new Placement with a higher
// Version; nothing changes one once it is published.
//
// Owner and Successor hash under a mutex of protoactor's Rendezvous: a
// caller on a hot path (the UDP readers) caches their answers per Version.
type Placement struct {
	Version uint64   // increases with every topology change this node sees
	Self    string   // this member's advertised remote address
	Members []string // advertised remote addresses, sorted; Self among them
	// Hash is the provider's topology hash (0 before the first topology);
	// IDs are the members' cluster IDs, in Members' order ("" unknown).
	Hash uint64
	IDs  []string

	rdv     *cluster.Rendezvous
	without map[string]*cluster.Rendezvous // member -> placement of the others
}

// NewPlacement builds the placement of members as seen by self. members
// need not be sorted; self is added when missing, so a placement is never
// empty. ids, when not nil, holds each member's cluster ID in members'
// order.
func NewPlacement(version uint64, self string, members, ids []string, hash uint64) *Placement {
	byAddr := make(map[string]string, len(members)+1)
	for i, m := range members {
		id := ""
		if i < len(ids) {
			id = ids[i]
		}
		byAddr[m] = id
	}
	if _, ok := byAddr[self]; !ok {
		byAddr[self] = ""
	}
	p := &Placement{Version: version, Self: self, Hash: hash, without: map[string]*cluster.Rendezvous{}}
	for m := range byAddr {
		p.Members = append(p.Members, m)
	}
	slices.Sort(p.Members)
	p.IDs = make([]string, len(p.Members))
	all := make(cluster.Members, 0, len(p.Members))
	for i, m := range p.Members {
		p.IDs[i] = byAddr[m]
		all = append(all, clusterMember(m, byAddr[m]))
	}
	p.rdv = rendezvous(all)
	if len(all) > 1 {
		for i, m := range p.Members {
			others := make(cluster.Members, 0, len(all)-1)
			others = append(others, all[:i]...)
			others = append(others, all[i+1:]...)
			p.without[m] = rendezvous(others)
		}
	}
	return p
}

// clusterMember is the cluster.Member for an advertised address, as the
// provider would publish it: Rendezvous hashes Member.Address(), which is
// Host + ":" + Port, so the address must round-trip through it.
func clusterMember(addr, id string) *cluster.Member {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		// Not host:port: hash it whole, as a host with port 0 would not
		// round-trip. Config validation keeps this from happening.
		return &cluster.Member{Id: id, Host: addr, Kinds: []string{KindHost}}
	}
	return &cluster.Member{Id: id, Host: host, Port: int32(n), Kinds: []string{KindHost}}
}

func rendezvous(ms cluster.Members) *cluster.Rendezvous {
	r := cluster.NewRendezvous()
	r.UpdateMembers(ms)
	return r
}

func identity(host string) *cluster.ClusterIdentity {
	return &cluster.ClusterIdentity{Kind: KindHost, Identity: host}
}

// Owner is the member that owns host.
func (p *Placement) Owner(host string) string {
	if len(p.Members) == 1 {
		return p.Members[0]
	}
	return p.rdv.GetByClusterIdentity(identity(host))
}

// Successor is the member that would own host if its owner left: where
// the owner replicates it. "" when the owner is alone.
func (p *Placement) Successor(host string) string {
	r := p.without[p.Owner(host)]
	if r == nil {
		return ""
	}
	return r.GetByClusterIdentity(identity(host))
}

// Local reports whether this member owns host.
func (p *Placement) Local(host string) bool { return p.Owner(host) == p.Self }

// Has reports whether member is in the placement.
func (p *Placement) Has(member string) bool {
	_, ok := slices.BinarySearch(p.Members, member)
	return ok
}

// ID is member's cluster ID, "" when unknown.
func (p *Placement) ID(member string) string {
	if i, ok := slices.BinarySearch(p.Members, member); ok {
		return p.IDs[i]
	}
	return ""
}

// diff lists the members of next that old lacks, and the other way round.
func diff(old, next *Placement) (joined, left []string) {
	for _, m := range next.Members {
		if !old.Has(m) {
			joined = append(joined, m)
		}
	}
	for _, m := range old.Members {
		if !next.Has(m) {
			left = append(left, m)
		}
	}
	return joined, left
}
