package broadcast

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// clientState is where a client is in its life.
type clientState uint8

const (
	stateOpen    clientState = iota
	stateClosing             // Stop asked for a close frame; queued frames are dropped
	stateDead                // nothing more is written; the writer closes the connection
)

// queued is one frame waiting for the writer.
type queued struct {
	frame   []byte
	counted bool // whether it counts against the byte bound (snapshots do not)
}

// client is one WebSocket connection. Its queue is the only state shared
// between the actor (which appends) and the writer goroutine (which pops);
// both hold mu only for a slice operation, so the actor never waits on I/O.
type client struct {
	ws  *websocket.Conn
	raw net.Conn // the TCP connection itself; see rawConn
	log *slog.Logger

	maxFrames int
	maxBytes  int

	mu    sync.Mutex
	queue []queued // frames queue[head:] wait; the prefix is already written
	head  int
	bytes int // bytes of the counted frames waiting
	state clientState

	wake       chan struct{} // capacity 1: "look at the queue again"
	pong       chan string   // capacity 1: a ping's payload for the writer to answer
	batch      []byte        // the writer's buffer of encoded frames
	writerDone chan struct{}
	closeOnce  sync.Once
	goingAway  atomic.Bool // set by goAway; stops the reader from extending its deadline
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

func newClient(ws *websocket.Conn, opt *Options, log *slog.Logger) *client {
	return &client{
		ws:         ws,
		raw:        rawConn(ws.NetConn()),
		log:        log,
		maxFrames:  opt.QueueFrames,
		maxBytes:   opt.QueueBytes,
		wake:       make(chan struct{}, 1),
		pong:       make(chan string, 1),
		writerDone: make(chan struct{}),
	}
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue appends frame without blocking. It returns false when the frame
// would take the queue past its bounds; the caller must then cut the client
// off rather than wait. A client that is closing or dead accepts and drops
// everything.
func (c *client) enqueue(frame []byte, counted bool) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return true
	}
	if len(c.queue)-c.head >= c.maxFrames || (counted && c.bytes+len(frame) > c.maxBytes) {
		c.mu.Unlock()
		return false
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// Reuse the written prefix instead of growing the slice.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, queued{frame: frame, counted: counted})
	if counted {
		c.bytes += len(frame)
	}
	c.mu.Unlock()
	c.signal()
	return true
}

// next pops the oldest frame. It returns nil when the queue is empty or the
// client is no longer open.
func (c *client) next() ([]byte, clientState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.head == len(c.queue) {
		return nil, c.state
	}
	q := c.queue[c.head]
	c.queue[c.head] = queued{}
	c.head++
	if c.head == len(c.queue) {
		c.head = 0
		c.queue = c.queue[:0]
		if cap(c.queue) > 64 {
			// Let a burst's backlog go; an idle client keeps a small queue.
			c.queue = nil
		}
	}
	if q.counted {
		c.bytes -= len(q.frame)
	}
	return q.frame, stateOpen
}

// pending returns the number of frames and counted bytes waiting.
func (c *client) pending() (frames, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) - c.head, c.bytes
}

// markDead stops all further writes and drops the queue. The writer closes
// the connection when it sees the state (at once if idle, otherwise when its
// current write returns, at most WriteTimeout later).
func (c *client) markDead() {
	c.mu.Lock()
	c.state = stateDead
	c.queue, c.head, c.bytes = nil, 0, 0
	c.mu.Unlock()
	c.signal()
}

// goAway asks the writer to send a close frame ("going away") and stop.
func (c *client) goAway() {
	c.goingAway.Store(true)
	c.mu.Lock()
	if c.state == stateOpen {
		c.state = stateClosing
		c.queue, c.head, c.bytes = nil, 0, 0
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
			frame, st := c.next()
			switch {
			case st == stateDead:
				c.closeConn()
				return
			case st == stateClosing:
				c.sayGoodbye(closeGrace)
				return
			case frame == nil:
			}
			if frame == nil {
				break
			}
			n, err := c.writeBatch(frame, opt.WriteTimeout)
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
		f, _ := c.peekSmall(maxBatch - len(b))
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

// peekSmall pops the oldest frame if it fits in room bytes.
func (c *client) peekSmall(room int) ([]byte, clientState) {
	c.mu.Lock()
	if c.state != stateOpen || c.head == len(c.queue) || len(c.queue[c.head].frame)+10 > room {
		st := c.state
		c.mu.Unlock()
		return nil, st
	}
	c.mu.Unlock()
	return c.next()
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

// fail ends the client after a write error.
func (c *client) fail(op string, err error) {
	if !errors.Is(err, net.ErrClosed) {
		c.log.Debug("websocket client write failed", "op", op, "err", err)
	}
	c.markDead()
	c.closeConn()
}

// sayGoodbye sends a "going away" close frame and gives the client
// closeGrace to answer it; the reader returns when the answer arrives or
// the deadline passes, and then closes the connection.
func (c *client) sayGoodbye(closeGrace time.Duration) {
	deadline := time.Now().Add(closeGrace)
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "hbd is shutting down")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		c.closeConn()
		return
	}
	_ = c.raw.SetReadDeadline(deadline)
}
