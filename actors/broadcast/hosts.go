package broadcast

import (
	"iter"
	"sync"
	"sync/atomic"

	"github.com/hbd-project/hbd/internal/contract"
)

// HostList is the fleet's hosts at one publication, in the order a
// snapshot lists them. Implementations are immutable and safe for
// concurrent use; JSON may encode on first use, but must return the same
// bytes every time.
type HostList interface {
	Len() int
	Name(i int) string // host i's name, for filters
	JSON(i int) []byte // host i's object (contract.AppendHost); not to be modified
}

// Hosts is what a snapshot is built from: one fleet publication, shared by
// every client that subscribes while it is current (Options.Snapshot hands
// out the same *Hosts until the fleet publishes again). The frame of the
// whole fleet is built once, by the first writer that sends it, and every
// other client whose filter keeps every host sends the same bytes; so a
// reconnect storm costs at most one build per publication, and none of it
// in the hub's actor.
type Hosts struct {
	list     HostList
	estimate int // Size until the frame is built

	once  sync.Once
	frame []byte
	size  atomic.Int64 // len(frame) once built
}

// NewHosts returns the snapshot source of list. estimate is what a
// snapshot counts against a client's queue (Size) until the frame has been
// built; the hub must not build it to learn its size. A producer derives
// it from the previous publication's size.
func NewHosts(list HostList, estimate int) *Hosts {
	return &Hosts{list: list, estimate: estimate}
}

// HostsOf returns the snapshot source of hosts already encoded, one host
// object each; its size is known from the start (contract.SnapshotSize).
func HostsOf(hosts [][]byte) *Hosts {
	return NewHosts(encodedHosts(hosts), contract.SnapshotSize(hosts))
}

// Len is the number of hosts.
func (h *Hosts) Len() int { return h.list.Len() }

// Size is the size of the frame of every host: exact once it has been
// built, the producer's estimate before.
func (h *Hosts) Size() int {
	if n := h.size.Load(); n > 0 {
		return int(n)
	}
	return h.estimate
}

// Built reports whether the frame of every host has been built.
func (h *Hosts) Built() bool { return h.size.Load() > 0 }

// Frame returns {"type":"snapshot","data":{"hosts":[...]}} with every host.
// It is built on the first call, by that caller, and shared by every
// later one: the caller must not modify it.
func (h *Hosts) Frame() []byte {
	h.once.Do(func() {
		h.frame = build(func(yield func([]byte) bool) {
			for i := range h.list.Len() {
				if !yield(h.list.JSON(i)) {
					return
				}
			}
		})
		h.size.Store(int64(len(h.frame)))
	})
	return h.frame
}

// filtered builds a frame of the hosts f wants, for one client.
func (h *Hosts) filtered(f *Filter) []byte {
	return build(func(yield func([]byte) bool) {
		for i := range h.list.Len() {
			if f.wantsHost(h.list.Name(i)) && !yield(h.list.JSON(i)) {
				return
			}
		}
	})
}

// build writes the snapshot frame of the objects hosts yields, sized
// exactly: a first pass adds up their lengths (a HostList encodes on first
// use and keeps the bytes, so the second pass only copies), since a frame
// of tens of megabytes must not cost twice its size in growth.
func build(hosts iter.Seq[[]byte]) []byte {
	return contract.AppendSnapshotOf(make([]byte, 0, contract.SnapshotSizeOf(hosts)), hosts)
}

// encodedHosts is a HostList of host objects already encoded.
type encodedHosts [][]byte

func (e encodedHosts) Len() int          { return len(e) }
func (e encodedHosts) JSON(i int) []byte { return e[i] }
func (e encodedHosts) Name(i int) string {
	name, _ := contract.HostName(e[i])
	return name
}
