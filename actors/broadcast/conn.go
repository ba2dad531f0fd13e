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

// Snapshot is one client's snapshot frame, not yet built: the fleet's
// hosts at the publication current when it was asked for, and the filter
// to pick them with. The hub only takes the shared Hosts (a pointer): the
// connection's writer builds the frame (Frame) when it is about to send
// it, so the actor, which serves every client, never spends time on a
// snapshot, however large the fleet or however many clients reconnect.
type Snapshot struct {
	Hosts  *Hosts  // shared, immutable; nil: no hosts
	Filter *Filter // nil wants every host
	Size   int     // the frame's size if the filter keeps every host: what it counts against the queue's bound
}

// Frame builds {"type":"snapshot","data":{"hosts":[...]}} with the hosts
// s's filter wants. A filter without host globs gets the publication's
// shared frame, built once for every such client (Hosts.Frame); a filter
// with globs gets a frame of its own. It is safe to call from any
// goroutine; the result must not be modified.
func (s *Snapshot) Frame() []byte {
	if s.Hosts == nil {
		return contract.AppendSnapshot(nil, nil)
	}
	if s.Filter == nil || len(s.Filter.hosts) == 0 {
		return s.Hosts.Frame()
	}
	return s.Hosts.filtered(s.Filter)
}
