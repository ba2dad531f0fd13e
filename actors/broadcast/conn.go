package broadcast

import "github.com/hbd-project/hbd/internal/contract"

// Conn is one client's connection as the hub sees it: a bounded queue that
// the hub appends to and that someone else (http/ws) writes out. The hub
// calls it only from its actor, one call at a time, and never waits on
// it: every method must return without blocking on I/O.
//
// The Enqueue methods return false when the entry would take the queue
// past its bounds: its entry bound, or its byte bound plus allowance
// bytes, where allowance is the size of one snapshot of the whole fleet (a
// fleet whose snapshot outgrows the byte bound must not cut off every
// client before its first frame; the fleet's size is not the client's to
// choose). The hub then drops the connection from its routing set and
// calls CutOff, once, and nothing else afterwards. A connection that is
// closing or gone accepts and drops everything.
type Conn interface {
	// Enqueue queues an event frame, which is shared with every other
	// connection and must not be modified.
	Enqueue(frame []byte, allowance int) bool
	// EnqueueReply queues a frame that answers this connection's own
	// message (an error frame); a newer snapshot never replaces it.
	EnqueueReply(frame []byte, allowance int) bool
	// EnqueueSnapshot queues s, replacing a snapshot still waiting: a
	// connection holds at most one, however often it subscribes. s counts
	// s.Size bytes against the bound.
	EnqueueSnapshot(s *Snapshot, allowance int) bool
	// CutOff is called when an Enqueue method returned false: the
	// connection fell too far behind. It must count the cut-off, drop the
	// queue and have the connection closed, all without blocking.
	CutOff()
}

// Snapshot is a snapshot frame not yet built: the fleet's host objects as
// they were when it was asked for, and the filter to pick them with. The
// host objects are shared and immutable, so a snapshot costs a slice
// header per host; the connection's writer builds the frame (Frame) when
// it is about to send it, so only one snapshot per client is ever built at
// a time, and the actor, which serves every client, never spends time on
// one client's globs.
type Snapshot struct {
	Hosts  [][]byte // shared, immutable; read-only for everyone
	Filter *Filter  // nil wants every host
	Size   int      // the frame's size if the filter keeps every host: what it counts against the queue's bound
}

// Frame builds {"type":"snapshot","data":{"hosts":[...]}} with the hosts
// s's filter wants. It is safe to call from any goroutine.
func (s *Snapshot) Frame() []byte {
	hosts := s.Hosts
	if s.Filter != nil && len(s.Filter.hosts) > 0 {
		// Pick first and size the frame exactly: a filter that keeps
		// most of a large fleet must not cost twice its size in growth.
		var picked [][]byte
		for _, o := range hosts {
			if name, ok := contract.HostName(o); ok && s.Filter.wantsHost(name) {
				picked = append(picked, o)
			}
		}
		hosts = picked
	}
	return contract.AppendSnapshot(make([]byte, 0, contract.SnapshotSize(hosts)), hosts)
}
