package broadcast

// pending is the hub's coalescing buffer: the "host" and "plugin" events
// waiting for a flush, one per (Type, Host, Key), in the order their key
// first arrived. A newer event of a waiting key takes the old one's place,
// so a key that changes faster than the hub may send it keeps its turn
// and goes out with its latest frame.
//
// The queue is a slice read from head; slot maps a key to its absolute
// position (base + index), so popping from the front and compacting never
// rewrite the map.
type pending struct {
	ev    []*Event
	head  int
	base  int
	slot  map[coalesceKey]int
	bytes int // frame bytes of ev[head:]
}

func newPending() *pending { return &pending{slot: make(map[coalesceKey]int)} }

func keyOf(e *Event) coalesceKey { return coalesceKey{e.Type, e.Host, e.Key} }

// len returns the number of events waiting.
func (p *pending) len() int { return len(p.ev) - p.head }

// put adds e, or replaces the waiting event of its key; it reports
// whether e replaced one. A new key is refused (false, false) when it
// would take the bytes waiting past limit; a replacement never is, since
// it holds one frame per key like the one it replaces.
func (p *pending) put(e *Event, limit int) (replaced, ok bool) {
	k := keyOf(e)
	if abs, found := p.slot[k]; found {
		i := abs - p.base
		p.bytes += len(e.Frame) - len(p.ev[i].Frame)
		p.ev[i] = e
		return true, true
	}
	if p.bytes+len(e.Frame) > limit {
		return false, false
	}
	p.slot[k] = p.base + len(p.ev)
	p.ev = append(p.ev, e)
	p.bytes += len(e.Frame)
	return false, true
}

// pop removes and returns the oldest waiting event; nil when none waits.
func (p *pending) pop() *Event {
	if p.head == len(p.ev) {
		return nil
	}
	e := p.ev[p.head]
	p.ev[p.head] = nil
	p.head++
	delete(p.slot, keyOf(e))
	p.bytes -= len(e.Frame)
	switch {
	case p.head == len(p.ev):
		p.base += len(p.ev)
		p.ev, p.head = p.ev[:0], 0
	case p.head >= 1024 && p.head >= len(p.ev)/2:
		// Most of the slice is spent: move the rest to the front, so a
		// queue that never empties does not grow for ever.
		n := copy(p.ev, p.ev[p.head:])
		clear(p.ev[n:])
		p.base += p.head
		p.ev, p.head = p.ev[:n], 0
	}
	return e
}
