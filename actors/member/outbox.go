package member

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Outbox batches one kind of frame entry to each member: a bounded queue
// per member, drained by a goroutine that packs up to Batch entries, or
// what came within Linger of the first, into one frame and sends it to the
// member's service. A full queue drops the entry, counts it and logs at
// most once a minute per member: nothing a member receives from the
// network waits unbounded for a slow peer.
type Outbox struct {
	node    *Node
	service string
	what    string // for logs: "datagrams to forward", "ACK requests"
	frame   func(entries []byte, n int) []byte
	opt     OutboxOptions
	log     *slog.Logger

	mu      sync.Mutex // guards creating queues and stopped
	queues  sync.Map   // member -> *Queue, read without the lock
	stopped bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// OutboxOptions size an Outbox; zero fields take their defaults.
type OutboxOptions struct {
	Queue  int           // entries waiting per member; default 65536
	Batch  int           // entries per frame; default 256
	Bytes  int           // entry bytes per frame; default 1 MiB
	Linger time.Duration // how long a frame waits for more entries; default 1 ms
}

// Queue is one member's queue of an Outbox.
type Queue struct {
	Member  string
	ch      chan []byte
	Sent    atomic.Uint64 // entries sent
	Bytes   atomic.Uint64 // entry bytes sent
	Frames  atomic.Uint64 // frames sent
	Dropped atomic.Uint64 // entries dropped: the queue was full
	lastLog atomic.Int64  // unix nanoseconds of the last "queue full" log
	log     *slog.Logger
	what    string
}

// NewOutbox makes an outbox sending frame(entries, n) to service on each
// member.
func NewOutbox(node *Node, service, what string, frame func(entries []byte, n int) []byte, opt OutboxOptions) *Outbox {
	if opt.Queue <= 0 {
		opt.Queue = 1 << 16
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.Bytes <= 0 {
		opt.Bytes = 1 << 20
	}
	if opt.Linger <= 0 {
		opt.Linger = time.Millisecond
	}
	return &Outbox{node: node, service: service, what: what, frame: frame, opt: opt, log: node.log, done: make(chan struct{})}
}

// Queue returns member's queue, making it (and its sender) on first use.
// After Stop it returns a queue nobody drains, which drops everything.
func (o *Outbox) Queue(member string) *Queue {
	if q, ok := o.queues.Load(member); ok {
		return q.(*Queue)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if q, ok := o.queues.Load(member); ok {
		return q.(*Queue)
	}
	q := &Queue{Member: member, ch: make(chan []byte, o.opt.Queue), log: o.log, what: o.what}
	o.queues.Store(member, q)
	if !o.stopped {
		o.wg.Add(1)
		go o.run(q)
	}
	return q
}

// Queues returns every member's queue, sorted by member.
func (o *Outbox) Queues() []*Queue {
	var out []*Queue
	o.queues.Range(func(_, v any) bool { out = append(out, v.(*Queue)); return true })
	sort.Slice(out, func(i, j int) bool { return out[i].Member < out[j].Member })
	return out
}

// Put queues entry without blocking; false: the queue was full and the
// entry is dropped (counted, logged once a minute).
func (q *Queue) Put(entry []byte) bool {
	select {
	case q.ch <- entry:
		return true
	default:
	}
	q.Dropped.Add(1)
	now := time.Now().UnixNano()
	if last := q.lastLog.Load(); now-last >= int64(time.Minute) && q.lastLog.CompareAndSwap(last, now) {
		q.log.Warn("cluster: queue to a member is full; dropping", "what", q.what, "member", q.Member,
			"capacity", cap(q.ch), "dropped_total", q.Dropped.Load())
	}
	return false
}

// Stop ends the senders; what is still queued is not sent.
func (o *Outbox) Stop() {
	o.mu.Lock()
	if !o.stopped {
		o.stopped = true
		close(o.done)
	}
	o.mu.Unlock()
	o.wg.Wait()
}

func (o *Outbox) run(q *Queue) {
	defer o.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var entries []byte
	for {
		var e []byte
		select {
		case <-o.done:
			return
		case e = <-q.ch:
		}
		entries = append(entries[:0], e...)
		n := 1
		timer.Reset(o.opt.Linger)
	fill:
		for n < o.opt.Batch && len(entries) < o.opt.Bytes {
			select {
			case e = <-q.ch:
				entries = append(entries, e...)
				n++
			case <-timer.C:
				break fill
			case <-o.done:
				timer.Stop()
				return
			}
		}
		timer.Stop()
		o.node.Send(q.Member, o.service, o.frame(entries, n))
		q.Sent.Add(uint64(n))
		q.Bytes.Add(uint64(len(entries)))
		q.Frames.Add(1)
	}
}
