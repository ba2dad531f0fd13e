package broadcast

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/contract"
)

// Messages to the actor, from the connections' goroutines (through the
// Broadcaster's methods) and from its own coalescing timer. The actor
// receives them as pointers, like every actor in the daemon.
type (
	register struct {
		c Conn
		f *Filter // the subscription the client connected with; nil: everything
	}
	unregister struct{ c Conn }
	subscribe  struct {
		c Conn
		f *Filter
	}
	rejected struct {
		c     Conn
		frame []byte // the error frame to send back
	}
	flushTick struct{}
)

// coalesceKey identifies the events that replace one another in a window.
type coalesceKey struct{ typ, host, key string }

// hub is the broadcaster's actor. It owns the routing set and the
// coalescing buffer; everything it does to a connection is a call of
// Conn, which never blocks.
type hub struct {
	b       *Broadcaster
	clients map[Conn]*Filter

	// pending holds the coalesced events in order of first arrival, so a
	// flush keeps the order hosts changed in.
	pending *pending
	timer   *time.Timer
	armed   bool

	// tokens is what the hub may still hand out before the next flush, in
	// client frames (one frame queued for one client); see flush.
	tokens int
	// share is the part of the budget a flush grants, lowered while ingest
	// is behind (Options.Behind).
	share float64
	// events are the alert and message frames waiting for a flush under a
	// fan-out budget, in order.
	events fifo

	// fullSnapshot is the size of the latest snapshot of the whole fleet,
	// measured whenever a client asks for one; see allowance.
	fullSnapshot int

	self     *actor.PID
	stopOnce sync.Once
	spare    []item // the inbox's other slice; see inbox.take
}

func newHub(b *Broadcaster) *hub {
	return &hub{
		b:       b,
		clients: make(map[Conn]*Filter),
		pending: newPending(),
		share:   1,
	}
}

func (h *hub) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *drain:
		items := h.b.in.take(h.spare)
		for i := range items {
			if e := items[i].e; e != nil {
				h.publish(e)
			} else {
				h.control(items[i].ctl)
			}
		}
		clear(items)
		h.spare = items
	case *flushTick:
		h.armed = false
		h.flush()
	case *register, *subscribe, *rejected, *unregister:
		h.control(m)
	case *actor.Started:
		h.self = ctx.Self()
	case *actor.Stopping:
		if h.timer != nil {
			h.timer.Stop()
		}
	case *actor.Stopped:
		h.stopOnce.Do(func() { close(h.b.actorDone) })
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		// A message of a type the hub does not handle is a bug (a value
		// where a pointer is expected, say): count it and say so rather
		// than drop it without a trace.
		h.b.opt.Unexpected(m)
	}
}

// control applies a connection's registration, subscription, rejection
// or departure.
func (h *hub) control(msg any) {
	switch m := msg.(type) {
	case *register:
		f := m.f
		if f == nil {
			f = &Filter{}
		}
		h.clients[m.c] = f
		h.sendSnapshot(m.c, f)
	case *subscribe:
		if _, ok := h.clients[m.c]; ok {
			h.clients[m.c] = m.f
			h.sendSnapshot(m.c, m.f)
		}
	case *rejected:
		if _, ok := h.clients[m.c]; ok {
			if !m.c.EnqueueReply(m.frame, h.allowance()) {
				h.cutOff(m.c)
			}
		}
	case *unregister:
		delete(h.clients, m.c)
	default:
		h.b.opt.Unexpected(m)
	}
}

func (h *hub) publish(e *Event) {
	if e == nil || e.size() == 0 {
		return
	}
	if h.b.opt.Coalesce <= 0 {
		h.deliver(e)
		return
	}
	if e.Type != contract.FrameHost && e.Type != contract.FramePlugin {
		if h.b.opt.FanoutRate <= 0 {
			h.deliver(e)
			return
		}
		// Alert and message frames are never coalesced, but they are
		// frames like the others: a fleet of 100,000 hosts starting
		// sends hundreds of thousands. They wait for the next flush, in
		// order and ahead of host and plugin frames, within the budget
		// and a bound in bytes.
		if h.events.bytes+e.size() > h.b.opt.PendingBytes {
			h.b.pendingDropped.Add(1)
			h.b.noteDrop()
			return
		}
		h.events.push(e)
	} else if _, ok := h.pending.put(e, h.b.opt.PendingBytes); !ok {
		h.b.pendingDropped.Add(1)
		h.b.noteDrop()
		return
	}
	h.b.pendingFrames.Store(int64(h.pending.len() + h.events.len()))
	if !h.armed {
		h.armed = true
		h.arm()
	}
}

// arm schedules the next flush one window from now. The timer sends
// through the root context, which is safe from the timer's goroutine.
func (h *hub) arm() {
	if h.timer == nil {
		root, self, b := h.b.system.Root, h.self, h.b
		h.timer = time.AfterFunc(h.b.opt.Coalesce, func() {
			if !b.stopped.Load() {
				root.Send(self, &flushTick{})
			}
		})
		return
	}
	h.timer.Reset(h.b.opt.Coalesce)
}

// flush delivers the waiting events within the fan-out budget: alert and
// message events first, in order, then host and plugin events, oldest key
// first. Each flush grants FanoutRate × Coalesce client frames (never more
// than one window's worth, so an idle hub saves nothing up for a burst),
// less while ingest is behind (see grant). What the grant does not cover
// waits for the next window, where a newer frame of the same key replaces
// it in place: a daemon with more changes than its budget sends every
// host's latest state, later, instead of taking the cores that ingest
// needs. Without a FanoutRate everything waiting goes at once.
func (h *hub) flush() {
	batch := h.batchFor()
	if h.b.opt.FanoutRate <= 0 {
		for e := h.pending.pop(); e != nil; e = h.pending.pop() {
			h.deliverTo(e, batch)
		}
		h.sendBatch(batch)
		h.b.pendingFrames.Store(0)
		return
	}
	grant := h.grant()
	h.tokens = min(h.tokens+grant, grant)
	// Alert and message frames first, in order; then host and plugin
	// frames, oldest key first.
	for h.tokens > 0 {
		e := h.events.pop()
		if e == nil {
			e = h.pending.pop()
		}
		if e == nil {
			break
		}
		h.tokens -= h.deliverTo(e, batch)
	}
	h.sendBatch(batch)
	n := h.pending.len() + h.events.len()
	h.b.pendingFrames.Store(int64(n))
	if n > 0 && !h.armed {
		h.armed = true
		h.arm()
	}
}

// grant is the client frames one window may hand out: the window's part
// of the budget, times the share ingest leaves the stream.
func (h *hub) grant() int {
	if behind := h.b.opt.Behind; behind != nil && behind() {
		h.share = max(h.share/2, minShare)
	} else {
		h.share = min(h.share+shareStep, 1)
	}
	h.b.shareMilli.Store(int64(h.share * 1000))
	return max(1, int(float64(h.b.opt.FanoutRate)*h.b.opt.Coalesce.Seconds()*h.share))
}

// deliver queues e for every client whose filter wants it, one by one.
func (h *hub) deliver(e *Event) { h.deliverTo(e, nil) }

// deliverTo is deliver where the clients that take everything get e in
// batch (sent to them by sendBatch at the end of the flush) rather than
// one by one; nil batch: one by one. It returns what e cost the budget:
// one queue entry per filtered client that wants it, and one for the
// whole batch's share (an encoding shared by every client that takes
// everything, whatever their number).
func (h *hub) deliverTo(e *Event, batch *Batch) int {
	n := 0
	if batch != nil {
		batch.add(e.Frame)
		n++
	}
	for c, f := range h.clients {
		if batch != nil && f.All() {
			continue
		}
		if !f.Wants(e.Type, e.Host) {
			continue
		}
		n++
		if !c.Enqueue(e.Frame, h.allowance()) {
			h.cutOff(c)
		}
	}
	return n
}

// batchFor is a batch for the flush about to run when a client takes
// every frame; nil otherwise.
func (h *hub) batchFor() *Batch {
	for _, f := range h.clients {
		if f.All() {
			return &Batch{}
		}
	}
	return nil
}

// sendBatch queues batch, if it holds anything, for every client that
// takes everything.
func (h *hub) sendBatch(batch *Batch) {
	if batch == nil || batch.Len() == 0 {
		return
	}
	for c, f := range h.clients {
		if f.All() && !c.EnqueueBatch(batch, h.allowance()) {
			h.cutOff(c)
		}
	}
	h.b.batches.Add(1)
}

// allowance is what a client's queue may hold beyond QueueBytes: one
// snapshot of the whole fleet. Snapshot bytes count against the bound like
// any others, but a fleet whose snapshot outgrows QueueBytes must not cut
// off every client before its first frame; the fleet's size is not the
// client's to choose.
func (h *hub) allowance() int { return h.fullSnapshot }

// sendSnapshot queues a snapshot of the hosts f wants for c, replacing one
// still waiting. The hub only takes the current publication's shared Hosts
// (a pointer, the same for every client until the fleet publishes again):
// c's writer builds the frame (see Snapshot), so a client that connects or
// subscribes costs the actor the same with 10 or 100,000 hosts, and the
// frames queued after it are the changes that follow it.
func (h *hub) sendSnapshot(c Conn, f *Filter) {
	hosts := h.b.opt.Snapshot()
	h.fullSnapshot = 0
	if hosts != nil {
		h.fullSnapshot = hosts.Size()
	}
	h.b.snapshots.Add(1)
	if !c.EnqueueSnapshot(&Snapshot{Hosts: hosts, Filter: f, Size: h.fullSnapshot}, h.allowance()) {
		h.cutOff(c)
	}
}

// cutOff drops c, whose queue is full, from the routing set; c counts
// the cut-off and has itself closed.
func (h *hub) cutOff(c Conn) {
	delete(h.clients, c)
	c.CutOff()
}
