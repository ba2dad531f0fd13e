package contract

import (
	"slices"
	"strconv"
)

// Cluster is the answer of GET /api/0/cluster in cluster mode: this
// member, the members of its current topology and whether all of them
// agree on it.
type Cluster struct {
	Name       string
	Self       string // this member's advertised address
	Provider   string
	HostsOwned int // hosts whose HostActor runs on this member
	Version    uint64
	Hash       uint64 // the provider's topology hash; 0 before the first
	Consensus  bool
	Changes    uint64 // topology changes this member has seen
	Members    []ClusterMember
}

// ClusterMember is one member of the topology.
type ClusterMember struct {
	Address string // advertised remote address
	ID      string // the member's cluster ID; "" unknown
	Self    bool
}

// ClusterDisabledBody is the answer of GET /api/0/cluster on a daemon
// running alone.
func ClusterDisabledBody() []byte { return []byte(`{"enabled":false}`) }

// AppendCluster appends c as the cluster object. The topology hash is a
// 64-bit value, written as 16 hex digits: a JSON number would lose bits.
func AppendCluster(b []byte, c *Cluster) []byte {
	b = slices.Grow(b, 256+96*len(c.Members))
	b = append(b, `{"enabled":true,"name":`...)
	b = appendString(b, c.Name)
	b = append(b, `,"self":`...)
	b = appendString(b, c.Self)
	b = append(b, `,"provider":`...)
	b = appendString(b, c.Provider)
	b = append(b, `,"hosts_owned":`...)
	b = appendInt(b, c.HostsOwned)
	b = append(b, `,"topology":{"version":`...)
	b = appendUint(b, c.Version)
	b = append(b, `,"hash":"`...)
	h := strconv.FormatUint(c.Hash, 16)
	for range 16 - len(h) {
		b = append(b, '0')
	}
	b = append(b, h...)
	b = append(b, `","consensus":`...)
	b = appendBool(b, c.Consensus)
	b = append(b, `,"changes":`...)
	b = appendUint(b, c.Changes)
	b = append(b, `},"members":[`...)
	for i, m := range c.Members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"address":`...)
		b = appendString(b, m.Address)
		b = append(b, `,"id":`...)
		b = appendString(b, m.ID)
		b = append(b, `,"self":`...)
		b = appendBool(b, m.Self)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
