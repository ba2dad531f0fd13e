package broadcast

import (
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
		h.push(m.c, h.snapshot(f), false)
	case *subscribe:
		if _, ok := h.clients[m.c]; ok {
			h.clients[m.c] = m.f
			h.push(m.c, h.snapshot(m.f), false)
		}
	case *rejected:
		if _, ok := h.clients[m.c]; ok {
			h.push(m.c, m.frame, true)
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
			h.push(c, e.Frame, true)
		}
	}
}

// push enqueues frame for c, cutting c off if it is too far behind.
func (h *hub) push(c *client, frame []byte, counted bool) {
	if c.enqueue(frame, counted) {
		return
	}
	frames, bytes := c.pending()
	delete(h.clients, c)
	c.markDead()
	h.b.cutOff.Add(1)
	c.log.Debug("websocket client cut off: it fell too far behind", "queued_frames", frames, "queued_bytes", bytes)
}

// snapshot builds {"type":"snapshot","data":{"hosts":[...]}} with the
// hosts f wants.
func (h *hub) snapshot(f *filter) []byte {
	const head, tail = `{"type":"snapshot","data":{"hosts":[`, `]}}`
	hosts := h.b.opt.Snapshot()
	n := len(head) + len(tail)
	for _, o := range hosts {
		n += len(o) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, head...)
	first := true
	for _, o := range hosts {
		if len(f.hosts) > 0 {
			name, ok := hostName(o)
			if !ok || !f.wantsHost(name) {
				continue
			}
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, o...)
	}
	return append(out, tail...)
}
