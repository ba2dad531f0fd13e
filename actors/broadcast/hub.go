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

	// pending holds the coalesced events of the current window in order of
	// first arrival, so a flush keeps the order hosts changed in; slot
	// finds an entry to replace.
	pending []*Event
	slot    map[coalesceKey]int
	timer   *time.Timer
	armed   bool

	// fullSnapshot is the size of the latest snapshot of the whole fleet,
	// measured whenever a client asks for one; see allowance.
	fullSnapshot int

	self     *actor.PID
	stopOnce sync.Once
}

func newHub(b *Broadcaster) *hub {
	return &hub{
		b:       b,
		clients: make(map[Conn]*Filter),
		slot:    make(map[coalesceKey]int),
	}
}

func (h *hub) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Event:
		h.publish(m)
	case *flushTick:
		h.armed = false
		h.flush()
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

func (h *hub) publish(e *Event) {
	if e == nil || len(e.Frame) == 0 {
		return
	}
	if h.b.opt.Coalesce <= 0 || (e.Type != contract.FrameHost && e.Type != contract.FramePlugin) {
		h.deliver(e)
		return
	}
	k := coalesceKey{e.Type, e.Host, e.Key}
	if i, ok := h.slot[k]; ok {
		h.pending[i] = e
		return
	}
	h.slot[k] = len(h.pending)
	h.pending = append(h.pending, e)
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

func (h *hub) flush() {
	for _, e := range h.pending {
		h.deliver(e)
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	clear(h.slot)
}

func (h *hub) deliver(e *Event) {
	for c, f := range h.clients {
		if f.Wants(e.Type, e.Host) && !c.Enqueue(e.Frame, h.allowance()) {
			h.cutOff(c)
		}
	}
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
