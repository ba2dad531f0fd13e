package broadcast

// fifo is a queue of events read from head, bounded by its owner in frame
// bytes. Popping from the front never shifts the slice; once most of it is
// spent, the rest moves to the front, so a queue that never empties does
// not grow for ever. base is the absolute position of ev[0], for pending's
// index.
type fifo struct {
	ev    []*Event
	head  int
	base  int
	bytes int // frame bytes of ev[head:]
}

func (q *fifo) len() int { return len(q.ev) - q.head }

func (q *fifo) push(e *Event) {
	q.ev = append(q.ev, e)
	q.bytes += e.size()
}

// pop removes and returns the oldest event; nil when none waits.
func (q *fifo) pop() *Event {
	if q.head == len(q.ev) {
		return nil
	}
	e := q.ev[q.head]
	q.ev[q.head] = nil
	q.head++
	q.bytes -= e.size()
	switch {
	case q.head == len(q.ev):
		q.base += len(q.ev)
		q.ev, q.head = q.ev[:0], 0
	case q.head >= 1024 && q.head >= len(q.ev)/2:
		n := copy(q.ev, q.ev[q.head:])
		clear(q.ev[n:])
		q.base += q.head
		q.ev, q.head = q.ev[:n], 0
	}
	return e
}

// pending is the hub's coalescing buffer: the "host" and "plugin" events
// waiting for a flush, one per (Type, Host, Key), in the order their key
// first arrived. A newer event of a waiting key takes the old one's place,
// so a key that changes faster than the hub may send it keeps its turn
// and goes out with its latest frame. slot maps a key to its absolute
// position in the queue (fifo.base + index), which popping and compacting
// leave valid.
type pending struct {
	q    fifo
	slot map[coalesceKey]int
}

func newPending() *pending { return &pending{slot: make(map[coalesceKey]int)} }

func keyOf(e *Event) coalesceKey { return coalesceKey{e.Type, e.Host, e.Key} }

// len returns the number of events waiting.
func (p *pending) len() int { return p.q.len() }

// put adds e, or replaces the waiting event of its key; it reports
// whether e replaced one. A new key is refused (false, false) when it
// would take the bytes waiting past limit; a replacement never is, since
// it holds one frame per key like the one it replaces.
func (p *pending) put(e *Event, limit int) (replaced, ok bool) {
	k := keyOf(e)
	if abs, found := p.slot[k]; found {
		i := abs - p.q.base
		p.q.bytes += e.size() - p.q.ev[i].size()
		p.q.ev[i] = e
		return true, true
	}
	if p.q.bytes+e.size() > limit {
		return false, false
	}
	p.slot[k] = p.q.base + len(p.q.ev)
	p.q.push(e)
	return false, true
}

// pop removes and returns the oldest waiting event; nil when none waits.
func (p *pending) pop() *Event {
	e := p.q.pop()
	if e != nil {
		delete(p.slot, keyOf(e))
	}
	return e
}
