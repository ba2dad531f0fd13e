package broadcast

import (
	"sync"

	"github.com/hbd-project/hbd/internal/contract"
)

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
	// EnqueueBatch queues every frame of b, in order: the frames of one
	// flush for every connection that takes all of them, shared by those
	// connections and framed once (Batch.Framed). b counts b.Size()
	// bytes against the bound.
	EnqueueBatch(b *Batch, allowance int) bool
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

// Batch is the frames one flush hands every client whose filter takes
// everything, in order: one queue entry per client instead of one per
// frame and client, and the frames encoded for the wire once, by the
// first writer that sends them (Framed), for all of them. Immutable once
// the hub has queued it.
type Batch struct {
	frames [][]byte
	bytes  int

	once   sync.Once
	framed []byte
}

// Len is the number of frames in b.
func (b *Batch) Len() int { return len(b.frames) }

// Size is the bytes of b's frames, without any transport's framing.
func (b *Batch) Size() int { return b.bytes }

// Frames are b's frames; not to be modified.
func (b *Batch) Frames() [][]byte { return b.frames }

// Framed is b's frames encoded by frame (which appends one frame's
// transport encoding to dst), built by the first caller and shared with
// every other; every caller must pass the same encoding. Safe to call
// from any goroutine; the result must not be modified.
func (b *Batch) Framed(frame func(dst, payload []byte) []byte) []byte {
	b.once.Do(func() {
		n := b.bytes + 10*len(b.frames)
		out := make([]byte, 0, n)
		for _, f := range b.frames {
			out = frame(out, f)
		}
		b.framed = out
	})
	return b.framed
}

func (b *Batch) add(frame []byte) {
	b.frames = append(b.frames, frame)
	b.bytes += len(frame)
}
