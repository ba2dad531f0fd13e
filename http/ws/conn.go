package ws

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// clientState is where a client is in its life.
type clientState uint8

const (
	stateOpen    clientState = iota
	stateClosing             // Stop asked for a close frame; queued frames are dropped
	stateDead                // nothing more is written; the writer closes the connection
)

// itemKind is what a queue entry holds.
type itemKind uint8

const (
	itemFrame    itemKind = iota // an event frame, shared with other clients
	itemError                    // an error frame answering this client
	itemSnapshot                 // a snapshot, built when its turn comes
	itemHole                     // a snapshot that a newer one replaced
	itemBatch                    // a flush's frames, shared with every client that takes everything
)

// queued is one entry waiting for the writer.
type queued struct {
	frame []byte              // itemFrame, itemError
	snap  *broadcast.Snapshot // itemSnapshot; built by the writer when its turn comes
	batch *broadcast.Batch    // itemBatch; framed once, by the first writer to send it
	size  int                 // bytes it counts against the bound
	kind  itemKind
}

// client is one WebSocket connection and the hub's broadcast.Conn. Its
// queue is the only state shared between the hub's actor (which appends)
// and the writer goroutine (which pops); both hold mu only for a slice
// operation, so the actor never waits on I/O.
type client struct {
	ws  *websocket.Conn
	raw net.Conn // the TCP connection itself; see rawConn
	log *slog.Logger
	cut func(CutReason, ...any) // counts and logs a cut-off; see Endpoint.cutOff

	maxFrames int
	maxBytes  int

	mu    sync.Mutex
	queue []queued // entries queue[head:] wait; the prefix is already written
	head  int
	bytes int // bytes of the entries waiting
	// snap is the index in queue of the snapshot waiting to be sent, or
	// -1: a client has at most one, however often it subscribes.
	snap int
	// baseline is set once the writer has taken a snapshot: until then the
	// client has seen nothing, and its first frame must be a snapshot.
	baseline  bool
	state     clientState
	closeCode int    // the close frame's code, for stateClosing
	closeText string // and its reason

	wake       chan struct{} // capacity 1: "look at the queue again"
	pong       chan string   // capacity 1: a ping's payload for the writer to answer
	batch      []byte        // the writer's buffer of encoded frames
	writerDone chan struct{}
	closeOnce  sync.Once
	goingAway  atomic.Bool // set by closeWith; stops the reader from extending its deadline
	isCut      atomic.Bool // set by the first cut-off, so that one client counts once
}

// rawConn returns the TCP connection under a hijacked fasthttp connection.
// fasthttp's hijack wrapper ignores Close unless Server.KeepHijackedConns is
// set (it closes the socket itself when the hijack handler returns), so a
// writer blocked on a stalled peer could not be released through it.
func rawConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return c
}

func newClient(ws *websocket.Conn, opt *Options, log *slog.Logger, cut func(*client, CutReason, ...any)) *client {
	c := &client{
		ws:         ws,
		raw:        rawConn(ws.NetConn()),
		log:        log,
		maxFrames:  opt.QueueFrames,
		maxBytes:   opt.QueueBytes,
		snap:       -1,
		wake:       make(chan struct{}, 1),
		pong:       make(chan string, 1),
		writerDone: make(chan struct{}),
	}
	c.cut = func(r CutReason, args ...any) { cut(c, r, args...) }
	return c
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Enqueue queues an event frame; see broadcast.Conn.
func (c *client) Enqueue(frame []byte, allowance int) bool {
	return c.enqueue(frame, itemFrame, allowance)
}

// EnqueueReply queues an error frame answering the client; see
// broadcast.Conn.
func (c *client) EnqueueReply(frame []byte, allowance int) bool {
	return c.enqueue(frame, itemError, allowance)
}

// enqueue appends a frame of the given kind (itemFrame or itemError)
// without blocking. It returns false when the frame would take the queue
// past its bounds: QueueFrames entries, or QueueBytes plus allowance bytes
// (see broadcast.Conn). The caller must then cut the client off rather
// than wait. A client that is closing or dead accepts and drops
// everything.
func (c *client) enqueue(frame []byte, kind itemKind, allowance int) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return true
	}
	if !c.fits(len(frame), allowance) {
		c.mu.Unlock()
		return false
	}
	c.push(queued{frame: frame, size: len(frame), kind: kind})
	c.mu.Unlock()
	c.signal()
	return true
}

// EnqueueBatch queues a flush's frames, shared with other clients; see
// broadcast.Conn. It counts as one entry and b.Size() bytes.
func (c *client) EnqueueBatch(b *broadcast.Batch, allowance int) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return true
	}
	if !c.fits(b.Size(), allowance) {
		c.mu.Unlock()
		return false
	}
	c.push(queued{batch: b, size: b.Size(), kind: itemBatch})
	c.mu.Unlock()
	c.signal()
	return true
}

// EnqueueSnapshot queues a snapshot of r.Size bytes (its size if nothing
// is filtered out). A snapshot still waiting is replaced, not joined: a client
// that subscribes a thousand times a second still has one snapshot
// waiting. The new one goes to the end, after the frames queued since the
// old one, which the client still receives (they are older than the new
// snapshot); but a client that has not yet had its first snapshot gets the
// new one first and loses the frames queued behind the old one, except
// answers to its own messages, since they are older than its baseline.
// It returns false as enqueue does.
func (c *client) EnqueueSnapshot(r *broadcast.Snapshot, allowance int) bool {
	size := r.Size
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return true
	}
	item := queued{snap: r, size: size, kind: itemSnapshot}
	switch {
	case c.snap >= 0 && !c.baseline:
		kept := []queued{item}
		bytes := size
		for _, q := range c.queue[c.head:] {
			if q.kind == itemError {
				kept = append(kept, q)
				bytes += q.size
			}
		}
		c.queue, c.head, c.bytes, c.snap = kept, 0, bytes, 0
		ok := c.bytes <= c.maxBytes+allowance
		c.mu.Unlock()
		c.signal()
		return ok
	case c.snap >= 0:
		c.bytes -= c.queue[c.snap].size
		if c.snap == len(c.queue)-1 {
			c.queue = c.queue[:c.snap]
		} else {
			c.queue[c.snap] = queued{kind: itemHole}
		}
		c.snap = -1
	}
	if !c.fits(size, allowance) {
		c.mu.Unlock()
		return false
	}
	c.push(item)
	c.snap = len(c.queue) - 1
	c.mu.Unlock()
	c.signal()
	return true
}

// fits reports whether an entry of size bytes fits; mu must be held.
func (c *client) fits(size, allowance int) bool {
	return len(c.queue)-c.head < c.maxFrames && c.bytes+size <= c.maxBytes+allowance
}

// push appends q; mu must be held and q must fit.
func (c *client) push(q queued) {
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// Reuse the written prefix instead of growing the slice.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		if c.snap >= 0 {
			c.snap -= c.head
		}
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, q)
	c.bytes += q.size
}

// next pops the oldest entry. ok is false when the queue is empty or the
// client is no longer open.
func (c *client) next() (q queued, st clientState, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return queued{}, c.state, false
	}
	q, ok = c.pop(-1)
	return q, stateOpen, ok
}

// pop removes the oldest entry, skipping holes; mu must be held. With
// room >= 0 it pops only a frame (not a snapshot) of at most room bytes
// with its header.
func (c *client) pop(room int) (queued, bool) {
	for c.head < len(c.queue) && c.queue[c.head].kind == itemHole {
		c.queue[c.head] = queued{}
		c.head++
	}
	if c.head == len(c.queue) {
		c.reset()
		return queued{}, false
	}
	q := c.queue[c.head]
	if room >= 0 && (q.kind == itemSnapshot || q.kind == itemBatch || len(q.frame)+10 > room) {
		return queued{}, false
	}
	c.queue[c.head] = queued{}
	if c.head == c.snap {
		c.snap, c.baseline = -1, true
	}
	c.head++
	c.bytes -= q.size
	if c.head == len(c.queue) {
		c.reset()
	}
	return q, true
}

// reset empties the written queue; mu must be held.
func (c *client) reset() {
	c.head = 0
	c.queue = c.queue[:0]
	if cap(c.queue) > 64 {
		// Let a burst's backlog go; an idle client keeps a small queue.
		c.queue = nil
	}
}

// pending returns the number of entries and bytes waiting.
func (c *client) pending() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) - c.head, c.bytes
}

// CutOff is the hub's word that the client fell too far behind (an
// Enqueue method returned false): it counts the cut-off with the queue as
// it was, then drops the queue and lets the writer close the connection.
func (c *client) CutOff() {
	frames, bytes := c.pending()
	c.markDead()
	c.cut(CutQueue, "queued_frames", frames, "queued_bytes", bytes)
}

// markDead stops all further writes and drops the queue. The writer closes
// the connection when it sees the state (at once if idle, otherwise when its
// current write returns, at most WriteTimeout later).
func (c *client) markDead() {
	c.mu.Lock()
	c.state = stateDead
	c.queue, c.head, c.bytes, c.snap = nil, 0, 0, -1
	c.mu.Unlock()
	c.signal()
}

// goAway asks the writer to send a "going away" close frame and stop.
func (c *client) goAway() { c.closeWith(websocket.CloseGoingAway, "hbd is shutting down") }

// closeWith drops the queue and asks the writer to send a close frame with
// code and text, then stop. The reader stops extending its deadline, so
// the connection ends when the client answers or closeGrace has passed
// (see sayGoodbye). It does nothing to a client already closing or dead.
func (c *client) closeWith(code int, text string) {
	c.goingAway.Store(true)
	c.mu.Lock()
	if c.state == stateOpen {
		c.state = stateClosing
		c.closeCode, c.closeText = code, text
		c.queue, c.head, c.bytes, c.snap = nil, 0, 0, -1
	}
	c.mu.Unlock()
	c.signal()
}

// closeConn closes the TCP connection, which also ends a read or write
// blocked on it. Only the client's own goroutines and Stop call it.
func (c *client) closeConn() {
	c.closeOnce.Do(func() { _ = c.raw.Close() })
}

// writeLoop is the client's only writer. It writes queued frames in order,
// each with its own deadline, and pings every PingInterval, also during a
// long burst, so that the reader's pong deadline does not expire on a busy
// but healthy client.
func (c *client) writeLoop(opt *Options, sent *atomic.Uint64, closeGrace time.Duration) {
	defer close(c.writerDone)
	ping := time.NewTicker(opt.PingInterval)
	defer ping.Stop()
	sendPing := func() bool {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(opt.WriteTimeout)); err != nil {
			c.fail("ping", err)
			return false
		}
		return true
	}
	sendPong := func(data string) bool {
		if err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(opt.WriteTimeout)); err != nil {
			c.fail("pong", err)
			return false
		}
		return true
	}
	for {
		select {
		case <-c.wake:
		case data := <-c.pong:
			if !sendPong(data) {
				return
			}
			continue
		case <-ping.C:
			if !sendPing() {
				return
			}
			continue
		}
		for {
			q, st, ok := c.next()
			switch {
			case st == stateDead:
				c.closeConn()
				return
			case st == stateClosing:
				c.sayGoodbye(closeGrace)
				return
			}
			if !ok {
				break
			}
			var n int
			var err error
			switch q.kind {
			case itemBatch:
				n, err = c.writeFramed(q.batch, opt.WriteTimeout)
			case itemSnapshot:
				n, err = c.writeBatch(q.snap.Frame(), opt.WriteTimeout)
			default:
				n, err = c.writeBatch(q.frame, opt.WriteTimeout)
			}
			sent.Add(uint64(n))
			if err != nil {
				c.fail("write", err)
				return
			}
			select {
			case <-ping.C:
				if !sendPing() {
					return
				}
			case data := <-c.pong:
				if !sendPong(data) {
					return
				}
			default:
			}
		}
	}
}

// maxBatch is how many bytes of queued frames the writer gathers into one
// write. A client that receives tens of thousands of frames a second would
// otherwise cost a system call per frame; a fleet-scale load test showed
// that, across 20 clients, as the daemon's limit.
const maxBatch = 256 << 10

// writeBatch writes first and whatever else is queued, up to maxBatch
// bytes, as text frames in one write, and returns how many frames it wrote.
// The writer is the connection's only writer (pings, pongs and the close
// frame go out from it too), so frames encoded here never interleave with
// the library's own. Server frames are not masked (RFC 6455, 5.1).
func (c *client) writeBatch(first []byte, timeout time.Duration) (int, error) {
	_ = c.raw.SetWriteDeadline(time.Now().Add(timeout))
	if len(first) >= maxBatch {
		// A large frame (a snapshot) goes out as it is, without a copy.
		bufs := net.Buffers{appendFrameHeader(c.batch[:0], len(first)), first}
		_, err := bufs.WriteTo(c.raw)
		return 1, err
	}
	b := appendFrameHeader(c.batch[:0], len(first))
	b = append(b, first...)
	n := 1
	for len(b) < maxBatch {
		f := c.popSmall(maxBatch - len(b))
		if f == nil {
			break
		}
		b = appendFrameHeader(b, len(f))
		b = append(b, f...)
		n++
	}
	_, err := c.raw.Write(b)
	if cap(b) <= 2*maxBatch {
		c.batch = b[:0]
	}
	return n, err
}

// writeFramed writes a shared batch, framed once for every client that
// sends it, in one write, and returns how many frames it held.
func (c *client) writeFramed(b *broadcast.Batch, timeout time.Duration) (int, error) {
	_ = c.raw.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.raw.Write(b.Framed(appendFrame))
	return b.Len(), err
}

// appendFrame appends payload as an unmasked, final text frame.
func appendFrame(dst, payload []byte) []byte {
	return append(appendFrameHeader(dst, len(payload)), payload...)
}

// popSmall pops the oldest entry if it is a frame that fits in room bytes
// with its header; snapshots are built and written on their own.
func (c *client) popSmall(room int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return nil
	}
	q, _ := c.pop(room)
	return q.frame
}

// appendFrameHeader appends the header of an unmasked, final text frame
// carrying n bytes.
func appendFrameHeader(b []byte, n int) []byte {
	b = append(b, 0x81) // FIN, opcode 1 (text)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// queuePong hands a ping's payload to the writer; a ping arriving while
// one is waiting replaces nothing and is dropped (the peer sees the pong
// for the earlier one, which is what RFC 6455 allows).
func (c *client) queuePong(data string) {
	select {
	case c.pong <- data:
		c.signal()
	default:
	}
}

// fail ends the client after a write error. A write that timed out is a
// cut-off (the client stopped reading); any other error means the
// connection is gone.
func (c *client) fail(op string, err error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		c.cut(CutWriteTimeout, "op", op)
	case !errors.Is(err, net.ErrClosed):
		c.log.Debug("websocket client write failed", "op", op, "err", err)
	}
	c.markDead()
	c.closeConn()
}

// sayGoodbye sends the close frame closeWith asked for and gives the
// client closeGrace to answer it; the reader returns when the answer
// arrives or the deadline passes, and then closes the connection.
func (c *client) sayGoodbye(closeGrace time.Duration) {
	deadline := time.Now().Add(closeGrace)
	c.mu.Lock()
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	c.mu.Unlock()
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		c.closeConn()
		return
	}
	_ = c.raw.SetReadDeadline(deadline)
}
