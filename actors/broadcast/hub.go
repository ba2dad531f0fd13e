package broadcast

import (
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages from the clients' reader goroutines to the actor.
type (
	register   struct{ c *client }
	unregister struct{ c *client }
	subscribe  struct {
		c *client
		f *filter
	}
	rejected struct {
		c     *client
		frame []byte // the error frame to send back
	}
	flushTick struct{}
)

// coalesceKey identifies the events that replace one another in a window.
type coalesceKey struct{ typ, host, key string }

// hub is the broadcaster's actor. It owns the routing set and the
// coalescing buffer; everything it does to a client is a non-blocking
// enqueue or markDead.
type hub struct {
	b       *Broadcaster
	clients map[*client]*filter

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
		clients: make(map[*client]*filter),
		slot:    make(map[coalesceKey]int),
	}
}

func (h *hub) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Event:
		h.publish(m)
	case flushTick:
		h.armed = false
		h.flush()
	case *register:
		f := &filter{}
		h.clients[m.c] = f
		h.sendSnapshot(m.c, f)
	case *subscribe:
		if _, ok := h.clients[m.c]; ok {
			h.clients[m.c] = m.f
			h.sendSnapshot(m.c, m.f)
		}
	case *rejected:
		if _, ok := h.clients[m.c]; ok {
			h.push(m.c, m.frame, itemError)
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
		// A message of a type the hub does not handle is a bug: say so
		// rather than drop it without a trace.
		h.b.log.Error("websocket hub received a message it has no case for: dropped", "type", fmt.Sprintf("%T", m))
	}
}

func (h *hub) publish(e *Event) {
	if e == nil || len(e.Frame) == 0 {
		return
	}
	if h.b.opt.Coalesce <= 0 || (e.Type != "host" && e.Type != "plugin") {
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
				root.Send(self, flushTick{})
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
		if f.wants(e.Type, e.Host) {
			h.push(c, e.Frame, itemFrame)
		}
	}
}

// allowance is what a client's queue may hold beyond QueueBytes: one
// snapshot of the whole fleet. Snapshot bytes count against the bound like
// any others, but a fleet whose snapshot outgrows QueueBytes must not cut
// off every client before its first frame; the fleet's size is not the
// client's to choose.
func (h *hub) allowance() int { return h.fullSnapshot }

// push enqueues frame for c, cutting c off if it is too far behind.
func (h *hub) push(c *client, frame []byte, kind itemKind) {
	if !c.enqueue(frame, kind, h.allowance()) {
		h.cutOff(c)
	}
}

// sendSnapshot queues a snapshot of the hosts f wants for c, replacing one
// still waiting. The frame is built by c's writer (see snapRequest); here
// the fleet's host objects are only taken, as they are now, so that the
// frames queued after it are the changes that follow it.
func (h *hub) sendSnapshot(c *client, f *filter) {
	hosts := h.b.opt.Snapshot()
	h.fullSnapshot = snapshotSize(hosts)
	if !c.enqueueSnapshot(&snapRequest{hosts: hosts, f: f}, h.fullSnapshot, h.allowance()) {
		h.cutOff(c)
	}
}

// cutOff drops c, whose queue is full, from the routing set and counts it.
func (h *hub) cutOff(c *client) {
	frames, bytes := c.pending()
	delete(h.clients, c)
	c.markDead()
	h.b.cutOff(c, CutQueue, "queued_frames", frames, "queued_bytes", bytes)
}

const snapshotHead, snapshotTail = `{"type":"snapshot","data":{"hosts":[`, `]}}`

// snapshotSize is the size of a snapshot frame holding every host.
func snapshotSize(hosts [][]byte) int {
	n := len(snapshotHead) + len(snapshotTail)
	for _, o := range hosts {
		n += len(o) + 1
	}
	return n
}

// buildSnapshot builds {"type":"snapshot","data":{"hosts":[...]}} with
// the hosts r's filter wants.
func buildSnapshot(r *snapRequest) []byte {
	hosts := r.hosts
	if len(r.f.hosts) > 0 {
		// Pick first and size the frame exactly: a filter that keeps
		// most of a large fleet must not cost twice its size in growth.
		var picked [][]byte
		for _, o := range hosts {
			if name, ok := hostName(o); ok && r.f.wantsHost(name) {
				picked = append(picked, o)
			}
		}
		hosts = picked
	}
	out := make([]byte, 0, snapshotSize(hosts))
	out = append(out, snapshotHead...)
	for i, o := range hosts {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, o...)
	}
	return append(out, snapshotTail...)
}
