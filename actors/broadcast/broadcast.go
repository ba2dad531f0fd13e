package broadcast

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Event is one change to broadcast, already encoded by the actor that
// produced it. Frame is shared by every client and must not be modified
// after it is published.
type Event struct {
	Type  string // "host", "plugin", "alert" or "message"
	Host  string // the host it is about, for filtering and coalescing; "" for daemon-wide messages
	Key   string // coalescing key within (Type, Host): the plugin name for "plugin"; "" for "host"
	Frame []byte // the complete frame JSON: {"type":...,"data":...}
}

// size is what e's frame holds in memory, which the hub's and the
// inbox's bounds count: its buffer's capacity, which may exceed the
// frame's length (a host frame's buffer is allocated for its largest
// shape), so that a bound in bytes bounds the heap.
func (e *Event) size() int { return cap(e.Frame) }

// DefaultCoalesce is the coalescing window the daemon uses. Options.Coalesce
// has no implicit default because its zero value means "off".
const DefaultCoalesce = 20 * time.Millisecond

// Options configure a Broadcaster. The limits on what one connection may
// queue or send belong to the connections (http/ws), not to the hub.
type Options struct {
	Coalesce time.Duration // window for merging "host"/"plugin" events with the same (Type, Host, Key); 0 = off
	// Snapshot returns the fleet's hosts for snapshot frames: the same
	// *Hosts for every call until the fleet publishes again, so that the
	// clients subscribing within one publication share one frame. It is
	// called from the actor, once per (re)subscription, and must return
	// at once: a pointer, not a copy of the fleet. nil: no hosts.
	Snapshot func() *Hosts
	Logger   *slog.Logger
	// Unexpected is told of every message the hub has no case for. The
	// daemon passes the actors package's counter
	// (hbd_actor_unexpected_messages_total): this package cannot import
	// actors, which imports it, so the count is handed in rather than
	// reached for. nil logs the message's type as an error.
	Unexpected func(msg any)
	// InboxBytes bounds the frames published and not yet taken by the hub
	// (see inbox); 0 = DefaultInboxBytes.
	InboxBytes int
	// FanoutRate is the stream's CPU budget: how many frames a second the
	// hub may queue for all its clients together (a frame queued for 20
	// filtered clients counts 20; in the batch that the clients taking
	// everything share, 1: see hub.deliverTo). Host and plugin frames past it wait, one per
	// host and plugin, the newest replacing the older in its place (see
	// hub.flush); alert and message frames wait too, never replaced, in
	// order, ahead of the others. 0 = no budget: every frame goes at the
	// end of its window, alerts and messages at once. It needs a Coalesce
	// window.
	FanoutRate int
	// PendingBytes bounds the host and plugin frames waiting for a flush,
	// and separately the alert and message frames;
	// 0 = DefaultPendingBytes. A waiting frame replaced by a newer one of
	// its host and plugin never counts twice, so the bound is only reached
	// by a fleet whose one-frame-per-host-and-plugin outgrows it.
	PendingBytes int
	// Behind reports whether ingest is behind (its actors have datagrams
	// waiting); nil: never. While it says so, each flush halves the share
	// of FanoutRate the stream may use, down to 1/64; once it stops, the
	// share grows back by 1/32 a flush. Ingest comes first: a lost
	// heartbeat costs more than a late frame.
	Behind func() bool
}

// Bounds of the share of FanoutRate the hub uses (see Options.Behind).
const (
	minShare  = 1.0 / 64
	shareStep = 1.0 / 32
)

// DefaultPendingBytes bounds the frames waiting in the hub for their turn:
// enough for one host and four plugin frames of every host of a
// 100,000-host fleet.
const DefaultPendingBytes = 256 << 20

func (o *Options) setDefaults() {
	if o.Coalesce < 0 {
		o.Coalesce = 0
	}
	if o.InboxBytes <= 0 {
		o.InboxBytes = DefaultInboxBytes
	}
	if o.PendingBytes <= 0 {
		o.PendingBytes = DefaultPendingBytes
	}
	if o.FanoutRate < 0 {
		o.FanoutRate = 0
	}
	if o.Snapshot == nil {
		o.Snapshot = func() *Hosts { return nil }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Unexpected == nil {
		log := o.Logger
		o.Unexpected = func(msg any) {
			log.Error("websocket hub received a message it has no case for: dropped", "type", fmt.Sprintf("%T", msg))
		}
	}
}

// Broadcaster is the running hub actor and the way to reach it.
type Broadcaster struct {
	opt    Options
	log    *slog.Logger
	system *actor.ActorSystem
	pid    *actor.PID
	in     *inbox

	lastDropLog atomic.Int64 // unix ns of the last "frames dropped" warning

	pendingFrames  atomic.Int64  // host and plugin frames waiting in the hub for a flush
	shareMilli     atomic.Int64  // the share of FanoutRate in use, in thousandths (see Options.Behind)
	pendingDropped atomic.Uint64 // frames the hub dropped because PendingBytes were waiting

	clients   atomic.Int64
	snapshots atomic.Uint64 // snapshots queued, one per (re)subscription
	batches   atomic.Uint64 // shared batches queued (one per flush with a client that takes everything)
	stopped   atomic.Bool   // read by Publish and the coalescing timer
	stopOnce  sync.Once
	actorDone chan struct{} // closed when the actor has stopped
}

// Start spawns the broadcaster's actor in system.
func Start(system *actor.ActorSystem, opt Options) *Broadcaster {
	opt.setDefaults()
	b := &Broadcaster{
		opt:       opt,
		log:       opt.Logger,
		system:    system,
		actorDone: make(chan struct{}),
		in:        newInbox(opt.Coalesce > 0, opt.InboxBytes),
	}
	b.shareMilli.Store(1000)
	h := newHub(b)
	// The producer returns the same hub every time: if a panic makes
	// protoactor restart the actor, it keeps its clients instead of
	// silently forgetting them (they would stay connected and starve).
	b.pid = system.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return h }), "broadcast")
	return b
}

// PID is the actor's address.
func (b *Broadcaster) PID() *actor.PID { return b.pid }

// Publish hands e to the hub. It never blocks; after Stop it does nothing.
// e must not be modified afterwards.
func (b *Broadcaster) Publish(e *Event) {
	if e == nil || len(e.Frame) == 0 || b.stopped.Load() {
		return
	}
	post, dropped := b.in.put(e)
	if dropped {
		b.noteDrop()
	}
	if post {
		b.system.Root.Send(b.pid, &drain{})
	}
}

// control hands the hub a connection's registration, subscription,
// rejection or departure, in order with the events.
func (b *Broadcaster) control(m any) {
	if b.in.putControl(m) {
		b.system.Root.Send(b.pid, &drain{})
	}
}

// noteDrop logs, at most once a minute, that the hub fell so far behind
// that the inbox filled.
func (b *Broadcaster) noteDrop() {
	now := time.Now().UnixNano()
	last := b.lastDropLog.Load()
	if now-last < int64(time.Minute) || !b.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("the websocket hub is behind: frames dropped because the frames waiting for it reached their bound (counted in hbd_ws_frames_dropped_total)",
		"inbox_bytes", b.opt.InboxBytes, "pending_bytes", b.opt.PendingBytes, "dropped_so_far", b.Dropped())
}

// Conflated returns how many host and plugin frames were replaced by a
// newer one of the same host and plugin before the hub took them.
func (b *Broadcaster) Conflated() uint64 { return b.in.conflated.Load() }

// Dropped returns how many frames were dropped because the inbox, or the
// frames waiting in the hub for their turn, were full.
func (b *Broadcaster) Dropped() uint64 { return b.in.dropped.Load() + b.pendingDropped.Load() }

// Share returns the share of FanoutRate the hub uses now: 1 unless ingest
// has been behind (Options.Behind).
func (b *Broadcaster) Share() float64 { return float64(b.shareMilli.Load()) / 1000 }

// Pending returns how many host and plugin frames wait in the hub for a
// flush: past the coalescing window, the ones the fan-out budget holds
// back.
func (b *Broadcaster) Pending() int { return int(b.pendingFrames.Load()) }

// Snapshots returns how many snapshots the hub has queued: one per
// registration and subscription.
func (b *Broadcaster) Snapshots() uint64 { return b.snapshots.Load() }

// Batches returns how many flushes handed their frames as one shared
// Batch to the clients that take everything.
func (b *Broadcaster) Batches() uint64 { return b.batches.Load() }

// Clients returns the number of connections registered and not yet
// unregistered.
func (b *Broadcaster) Clients() int { return int(b.clients.Load()) }

// Register adds c to the routing set with filter f (nil wants everything)
// and queues its first snapshot. It counts c after sending, so that once
// Clients includes c, an event published afterwards reaches the actor
// after the registration and is delivered to c.
func (b *Broadcaster) Register(c Conn, f *Filter) {
	b.control(&register{c: c, f: f})
	b.clients.Add(1)
}

// Subscribe replaces c's filter with f and queues a fresh snapshot of the
// hosts f wants. f must not be modified afterwards.
func (b *Broadcaster) Subscribe(c Conn, f *Filter) {
	b.control(&subscribe{c: c, f: f})
}

// Reject queues frame, the answer to a message c sent that was not a valid
// subscription. It goes through the actor so that it keeps its place
// among the frames the actor queues for c (after the snapshot of an
// earlier subscription, say).
func (b *Broadcaster) Reject(c Conn, frame []byte) {
	b.control(&rejected{c: c, frame: frame})
}

// Unregister drops c from the routing set: the connection has ended. The
// actor may still hold a message queued for c before this one and act on
// it, so c must keep accepting (and dropping) what it is given.
func (b *Broadcaster) Unregister(c Conn) {
	b.control(&unregister{c: c})
	b.clients.Add(-1)
}

// Flush ends the current coalescing window at once: its events are
// delivered now instead of when the window's timer fires. The daemon never
// needs it; a test uses it to end a window that is made too long to end on
// its own.
func (b *Broadcaster) Flush() {
	if !b.stopped.Load() {
		b.system.Root.Send(b.pid, &flushTick{})
	}
}

// Stop stops the actor and waits for it. Stop the connections first
// (http/ws's Endpoint.Stop): the hub never closes them. It is safe to call
// more than once and from several goroutines.
func (b *Broadcaster) Stop() {
	b.stopOnce.Do(func() {
		b.stopped.Store(true)
		b.system.Root.Poison(b.pid)
		wait := time.NewTimer(10 * time.Second)
		defer wait.Stop()
		select {
		case <-b.actorDone:
		case <-wait.C:
			b.log.Warn("websocket broadcaster actor did not stop in time")
		}
	})
}
