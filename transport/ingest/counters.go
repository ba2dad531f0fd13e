package ingest

import (
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// maxReasons bounds the drop counters; every wire.Reason is below it
// (TestCountersHoldEveryReason).
const maxReasons = 32

// Counters are ingest's counters: plain atomics, written by the readers and
// ACK writers and read by /metrics and /api/0/stats, never behind a lock.
// The receiver of the messages adds its own drops (replays) through Drop,
// so one counter per reason covers every rejected datagram. The zero value
// is ready to use.
type Counters struct {
	Received    atomic.Uint64 // datagrams read from the sockets
	AcksSent    atomic.Uint64
	AcksDropped atomic.Uint64 // ACKs not sent because the writer's queue was full or the send failed
	// Backlog is the messages the readers handed to the actors that the
	// actors have not taken yet: the readers add, the receivers subtract
	// (Taken). Config.MaxBacklog bounds it.
	Backlog atomic.Int64
	// Pauses and PausedNanos count the readers' waits for the actors at
	// Config.MaxBacklog, and how long they waited in all.
	Pauses      atomic.Uint64
	PausedNanos atomic.Uint64
	// Reads counts the readers' batch reads; FullBatches those that filled
	// the whole batch: the socket had at least a batch waiting. Most reads
	// full means the readers are behind the senders.
	Reads       atomic.Uint64
	FullBatches atomic.Uint64
	// WaitMax is the longest a datagram waited in a socket's buffer
	// before a reader took it, in nanoseconds, since the last TakeWait
	// (the kernel's receive time against the read's; see
	// udp.Batch.Arrived); WaitKnown says the sockets tell it.
	WaitMax   atomic.Int64
	WaitKnown atomic.Bool
	dropped   [maxReasons]atomic.Uint64
}

// NoteWait records that a datagram waited d in a socket.
func (c *Counters) NoteWait(d time.Duration) {
	c.WaitKnown.Store(true)
	for {
		m := c.WaitMax.Load()
		if int64(d) <= m || c.WaitMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// TakeWait returns the longest wait in a socket since the last call, and
// starts over; ok is false where the sockets cannot tell.
func (c *Counters) TakeWait() (time.Duration, bool) {
	return time.Duration(c.WaitMax.Swap(0)), c.WaitKnown.Load()
}

// Taken tells the counters that a receiver took one message the readers
// handed over (or that it was lost on the way, as a dead letter).
func (c *Counters) Taken() { c.Backlog.Add(-1) }

// Drop counts one datagram rejected for reason r.
func (c *Counters) Drop(r wire.Reason) {
	if int(r) < len(c.dropped) {
		c.dropped[r].Add(1)
	}
}

// Dropped returns how many datagrams were rejected for reason r.
func (c *Counters) Dropped(r wire.Reason) uint64 {
	if int(r) < len(c.dropped) {
		return c.dropped[r].Load()
	}
	return 0
}

// DroppedTotal returns the datagrams rejected for any reason.
func (c *Counters) DroppedTotal() uint64 {
	var n uint64
	for i := range c.dropped {
		n += c.dropped[i].Load()
	}
	return n
}
