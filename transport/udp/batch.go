package udp

import (
	"fmt"
	"net/netip"
	"time"
)

// Batch is a reusable set of receive buffers for [Conn.ReadBatch], allocated
// once by [NewBatch]. It is not safe for concurrent use.
type Batch struct {
	// bufs are n slices of one backing array, so a batch is one large
	// allocation rather than n small ones.
	bufs  [][]byte
	lens  []int
	addrs []netip.AddrPort
	trunc []bool
	n     int // datagrams filled by the last ReadBatch
	// arrived is when the kernel received the first datagram of the last
	// ReadBatch, in Unix nanoseconds; 0: unknown.
	arrived int64

	// recv is the platform's recvmmsg state (empty where there is none).
	recv mmsgRecv
}

// NewBatch returns a batch of n receive buffers of bufSize bytes each, so it
// holds n*bufSize bytes. A datagram longer than bufSize is truncated (see
// [Batch.Truncated]). The daemon uses n=64 and bufSize=65536: that fits any
// UDP datagram that is not an IPv6 jumbogram, so only a bogus or hostile
// sender can be truncated, at 4 MiB per reader goroutine. A reader that
// only expects heartbeats could use a few KiB instead. NewBatch panics if n
// or bufSize is not positive: that is a programming error.
func NewBatch(n, bufSize int) *Batch {
	if n <= 0 || bufSize <= 0 {
		panic(fmt.Sprintf("udp.NewBatch(%d, %d): n and bufSize must be positive", n, bufSize))
	}
	slab := make([]byte, n*bufSize)
	b := &Batch{
		bufs:  make([][]byte, n),
		lens:  make([]int, n),
		addrs: make([]netip.AddrPort, n),
		trunc: make([]bool, n),
	}
	for i := range b.bufs {
		// The capacity limit keeps an append to one payload from
		// overwriting the next buffer.
		b.bufs[i] = slab[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
	}
	b.recv.init(b.bufs)
	return b
}

// Len returns the number of datagrams the last ReadBatch filled in.
func (b *Batch) Len() int { return b.n }

// Cap returns the number of datagrams b can hold.
func (b *Batch) Cap() int { return len(b.bufs) }

// Payload returns datagram i (0 <= i < Len()). The slice aliases b's buffer
// and is valid until the next ReadBatch on b; copy it to keep it.
func (b *Batch) Payload(i int) []byte { return b.bufs[i][:b.lens[i]] }

// Arrived returns when the kernel received the first (oldest) datagram of
// the last ReadBatch, and false where that is unknown (platforms without
// recvmmsg, or a kernel that gave no timestamp). The time since says how
// long datagrams waited in the socket's buffer before the reader took
// them.
func (b *Batch) Arrived() (time.Time, bool) {
	if b.arrived == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, b.arrived), true
}

// Addr returns the source address of datagram i. On an IPv4 socket it is an
// IPv4 address (never IPv4-mapped). An IPv6 link-local source carries its
// scope as a numeric zone ("fe80::1%2"), which Conn.WriteTo accepts back.
func (b *Batch) Addr(i int) netip.AddrPort { return b.addrs[i] }

// Truncated reports whether datagram i was longer than the buffer size and
// lost its tail (MSG_TRUNC). The daemon counts these as oversize.
func (b *Batch) Truncated(i int) bool { return b.trunc[i] }

// Put appends a copy of datagram p from addr to the batch, as a read
// would: a p longer than the buffer size is cut and flagged truncated. It
// returns false, adding nothing, when the batch is full. It is for code
// that feeds a batch's consumer without a socket (tests, benchmarks);
// ReadBatch replaces whatever Put added.
func (b *Batch) Put(p []byte, addr netip.AddrPort) bool {
	if b.n == len(b.bufs) {
		return false
	}
	i := b.n
	n := copy(b.bufs[i][:cap(b.bufs[i])], p)
	b.lens[i], b.addrs[i], b.trunc[i] = n, addr, n < len(p)
	b.n++
	return true
}

// OutBatch is a queue of datagrams for [Conn.WriteBatch], reusable through
// Reset. Add copies payloads into one growing arena, so once the arena has
// reached its working size, queueing and sending allocate nothing. It is not
// safe for concurrent use.
type OutBatch struct {
	arena []byte
	// ends[i] is the end offset of payload i in arena; it starts where
	// payload i-1 ends.
	ends []int
	dsts []netip.AddrPort

	// send is the platform's sendmmsg state (empty where there is none).
	send mmsgSend
}

// NewOutBatch returns an empty batch that holds up to n datagrams. It panics
// if n is not positive.
func NewOutBatch(n int) *OutBatch {
	if n <= 0 {
		panic(fmt.Sprintf("udp.NewOutBatch(%d): n must be positive", n))
	}
	o := &OutBatch{
		ends: make([]int, 0, n),
		dsts: make([]netip.AddrPort, 0, n),
	}
	o.send.init(n)
	return o
}

// Add queues a copy of payload for dst. It returns false, queueing nothing,
// when the batch is full.
func (o *OutBatch) Add(payload []byte, dst netip.AddrPort) bool {
	if len(o.ends) == cap(o.ends) {
		return false
	}
	o.arena = append(o.arena, payload...)
	o.ends = append(o.ends, len(o.arena))
	o.dsts = append(o.dsts, dst)
	return true
}

// Len returns the number of queued datagrams.
func (o *OutBatch) Len() int { return len(o.ends) }

// Reset empties the batch and keeps its memory for reuse.
func (o *OutBatch) Reset() {
	o.arena = o.arena[:0]
	o.ends = o.ends[:0]
	o.dsts = o.dsts[:0]
}

// payload returns queued datagram i; it aliases the arena.
func (o *OutBatch) payload(i int) []byte {
	start := 0
	if i > 0 {
		start = o.ends[i-1]
	}
	return o.arena[start:o.ends[i]]
}
