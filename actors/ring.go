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
	buf   []sample
	next  int // index the next sample is written to once buf is full
	limit int
}

func newRing(limit int) *ring { return &ring{limit: limit} }

// push stores s, overwriting the oldest sample when the ring is full.
func (r *ring) push(s sample) {
	if len(r.buf) < r.limit {
		r.buf = append(r.buf, s)
		return
	}
	r.buf[r.next] = s
	r.next++
	if r.next == r.limit {
		r.next = 0
	}
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
