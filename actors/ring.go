package actors

// sample is one stored plugin sample: the agent's timestamp and the JSON
// object it sent, kept as the validated bytes so answering the API needs no
// re-encoding.
type sample struct {
	unixNano int64
	data     []byte
}

// ring keeps the last cap samples of one plugin. It grows lazily up to its
// capacity, so a host whose plugins have sent little costs little memory.
// It is owned by one HostActor and not safe for concurrent use.
type ring struct {
	name  string // the plugin's
	buf   []sample
	next  int // index the next sample is written to once buf is full
	limit int
	bytes int // the held samples' data, in bytes
}

func newRing(name string, limit int) *ring { return &ring{name: name, limit: limit} }

// push stores s, overwriting the oldest sample when the ring is full.
func (r *ring) push(s sample) {
	r.bytes += len(s.data)
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, s)
		return
	}
	r.bytes -= len(r.buf[r.next].data)
	r.buf[r.next] = s
	r.next++
	if r.next == r.limit {
		r.next = 0
	}
}

// insert stores s in time order and reports whether it was stored. The
// common case (newer than everything) is push. A sample that arrives late
// (UDP reorders, and a new host's first datagrams may overtake each other)
// is put in its place; one with a timestamp already stored (the agent sends
// each sample to every daemon address) is a duplicate and is not stored,
// nor is one older than everything in a full ring (it would be evicted at
// once).
func (r *ring) insert(s sample) bool {
	n := len(r.buf)
	if n == 0 || s.unixNano > r.newest(0).unixNano {
		r.push(s)
		return true
	}
	for i := 0; i < n; i++ {
		if r.newest(i).unixNano == s.unixNano {
			return false
		}
	}
	if n == r.limit && s.unixNano < r.newest(n-1).unixNano {
		return false
	}
	ordered := make([]sample, 0, n+1) // oldest first
	for i := n - 1; i >= 0; i-- {
		ordered = append(ordered, r.newest(i))
	}
	at := len(ordered)
	for at > 0 && ordered[at-1].unixNano > s.unixNano {
		at--
	}
	ordered = append(ordered[:at], append([]sample{s}, ordered[at:]...)...)
	if len(ordered) > r.limit {
		ordered = ordered[1:]
	}
	r.buf = append(r.buf[:0], ordered...)
	r.next = 0
	r.bytes = 0
	for _, o := range r.buf {
		r.bytes += len(o.data)
	}
	return true
}

// evicts returns how many bytes storing one more sample would free: the
// oldest sample's, when the ring is full.
func (r *ring) evicts() int {
	if len(r.buf) < r.limit || len(r.buf) == 0 {
		return 0
	}
	return len(r.newest(len(r.buf) - 1).data)
}

// len returns how many samples are stored.
func (r *ring) len() int { return len(r.buf) }

// newest returns the i-th newest sample (0 = the latest); i < r.len().
func (r *ring) newest(i int) sample {
	n := len(r.buf)
	// While growing, the latest is at n-1; once full, at next-1 (wrapping).
	last := n - 1
	if n == r.limit {
		last = r.next - 1
		if last < 0 {
			last = n - 1
		}
	}
	j := last - i
	if j < 0 {
		j += n
	}
	return r.buf[j]
}
