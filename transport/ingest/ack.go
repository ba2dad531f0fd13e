package ingest

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// ackRequest asks a socket's writer to acknowledge a datagram.
type ackRequest struct {
	host string
	to   netip.AddrPort
	v1   bool // answer in protocol version 1: the sender speaks nothing newer
	seq  uint64
	sent int64     // the acked datagram's timestamp, echoed
	recv time.Time // when the daemon read it, to report how long it held it
}

// ackQueue is how many ACKs one socket's writer holds before it drops.
const ackQueue = 8192

// ackWriter sends the ACKs of one socket in batches. Receivers enqueue
// (Header.Ack) without blocking; when the queue is full the ACK is dropped
// and counted.
type ackWriter struct {
	// remote, when set, takes every request instead (cluster mode: the ACK
	// of a datagram another member received goes back to it); such a
	// writer has no socket and does not run.
	remote *remoteAck

	conn  *udp.Conn
	queue chan ackRequest
	keys  *Keys
	clock clock.Clock
	stats *Counters
	log   *slog.Logger
}

func (w *ackWriter) enqueue(r ackRequest) {
	if w.remote != nil {
		w.remote.enqueue(r)
		return
	}
	select {
	case w.queue <- r:
	default:
		w.stats.AcksDropped.Add(1)
	}
}

const ackBatch = 64

func (w *ackWriter) run(done <-chan struct{}) {
	sg := newSigners(w.keys)
	out := udp.NewOutBatch(ackBatch)
	buf := make([]byte, 0, wire.MaxSmall)
	start := w.clock.Now()
	seq := uint64(start.UnixNano())
	// Version-2 ACKs carry this writer's own sender instance; version-1
	// ACKs have none, so that version-1 agents can read them.
	self := wire.NewInstance(start)
	for {
		var r ackRequest
		select {
		case <-done:
			return
		case r = <-w.queue:
		}
		out.Reset()
		for {
			now := w.clock.Now()
			seq++
			inst := self
			if r.v1 {
				inst = 0
			}
			var err error
			buf, err = wire.AppendAck(buf[:0], sg.forName(r.host),
				wire.Envelope{Host: r.host, Seq: seq, Time: now.UnixNano(), Instance: inst},
				wire.Ack{Seq: r.seq, Time: r.sent, HoldNanos: uint32(min(now.Sub(r.recv), time.Duration(1<<32-1)))})
			if err == nil {
				out.Add(buf, r.to)
			} else {
				w.stats.AcksDropped.Add(1)
			}
			if out.Len() == ackBatch {
				break
			}
			select {
			case r = <-w.queue:
				continue
			default:
			}
			break
		}
		n, err := w.conn.WriteBatch(out)
		w.stats.AcksSent.Add(uint64(n))
		if err != nil {
			w.stats.AcksDropped.Add(uint64(out.Len() - n))
			if errors.Is(err, net.ErrClosed) {
				return
			}
			w.log.Debug("cannot send ACKs", "err", err)
		}
	}
}
