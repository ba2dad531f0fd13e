package ingest

import (
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// In cluster mode (actors/member) any member reads a host's datagrams and
// the host's owner applies them. The readers verify each datagram (the key
// is fleet-wide) and hand it, undecoded, to its route when the route is a
// RemoteRoute that says another member owns the host; the owner feeds it
// to an Injector, which decodes, caps and delivers it as a reader would,
// with the receiving member's metadata, and sends its ACK back to that
// member's socket through an AckSink. Single-node mode uses none of this.

// Datagram is a verified datagram and where and when it was read.
type Datagram struct {
	Socket int // index of the socket that read it, on the receiving member
	From   netip.AddrPort
	Recv   time.Time // the receiving member's clock
	Raw    []byte    // valid only during the call it is passed to
	// Forwarded is set on a datagram another member forwarded here: a
	// route that finds its host owned elsewhere drops it (the members'
	// views differ for a moment) rather than forward it on.
	Forwarded bool
}

// RemoteRoute is a Route that may belong to another cluster member.
type RemoteRoute interface {
	Route
	// Forward takes d and reports true when another member owns the
	// host (it forwards, or drops and counts); false: deliver here.
	// It runs on a reader's goroutine and must not block.
	Forward(d *Datagram) bool
}

// AckTo is an ACK the owner asks the receiving member to send from the
// socket the datagram came in on.
type AckTo struct {
	Socket int
	To     netip.AddrPort
	Host   string
	V1     bool // answer in protocol version 1
	Seq    uint64
	Sent   int64     // the datagram's timestamp, echoed
	Recv   time.Time // when the receiving member read it
}

// AckSink carries an owner's ACK requests back to the receiving member
// (origin, its advertised address). Ack must not block.
type AckSink interface {
	Ack(origin string, a AckTo)
}

// remoteAck is where the ACKs of injected messages go: one per origin
// member and socket (inside an ackWriter, see ackWriter.remote), reused by
// every message from there.
type remoteAck struct {
	origin string
	socket int
	sink   AckSink
}

func (r *remoteAck) enqueue(a ackRequest) {
	r.sink.Ack(r.origin, AckTo{Socket: r.socket, To: a.to, Host: a.host, V1: a.v1, Seq: a.seq, Sent: a.sent, Recv: a.recv})
}

// SendAck sends an ACK the owner of a forwarded datagram asked for, from
// the socket that read it. Like every ACK it never blocks: a full queue
// drops and counts it. false: no such socket.
func (in *Ingest) SendAck(a AckTo) bool {
	if a.Socket < 0 || a.Socket >= len(in.writers) {
		return false
	}
	in.writers[a.Socket].enqueue(ackRequest{host: a.Host, to: a.To, v1: a.V1, seq: a.Seq, sent: a.Sent, recv: a.Recv})
	return true
}

// InjectResult is what became of an injected datagram.
type InjectResult int

// Results of Injector.Inject.
const (
	Injected InjectResult = iota // delivered to the host's receiver
	Rejected                     // rejected and counted like a datagram read here (see Counters)
	NotOwner                     // the host is not owned here (its RemoteRoute took it)
)

// Injector applies datagrams forwarded by other members. It is a reader
// without a socket: use it from one goroutine only.
type Injector struct {
	r    *reader
	sink AckSink
	acks map[remoteKey]*ackWriter
}

type remoteKey struct {
	origin string
	socket int
}

// NewInjector makes an Injector that reports like the readers, with its
// own rejected table (d.Rejected.Table(table)); sink carries its ACKs.
// Call it after Start.
func (in *Ingest) NewInjector(d Deps, table int, sink AckSink) *Injector {
	r := newReader(in.cfg, d, nil, d.Rejected.Table(table))
	r.watch = &in.watch
	return &Injector{r: r, sink: sink, acks: map[remoteKey]*ackWriter{}}
}

// Inject applies d, received by member origin. The datagram was verified
// there (members trust each other's links); its clock was checked there
// too, against d.Recv.
func (j *Injector) Inject(origin string, d *Datagram) InjectResult {
	r := j.r
	d.Forwarded = true
	h, err := wire.Parse(d.Raw)
	if err != nil {
		r.reject(d.Recv, d.From, nil, wire.ReasonOf(err))
		return Rejected
	}
	rt, ok := r.routes[string(h.Host)]
	if !ok {
		if rt, ok = r.lookup(d.Recv, d.From, h.Host); !ok {
			return Rejected
		}
	}
	if rt.fwd != nil && rt.fwd.Forward(d) {
		return NotOwner
	}
	if h.Kind == wire.KindSample && !r.admitSampleSize(d.Recv, d.From, &h) {
		return Rejected
	}
	m, keys, scratch, err := decode(&h, Header{Host: rt.host, Version: h.Version, Instance: h.Instance, Seq: h.Seq,
		Sent: h.Time, Recv: d.Recv, From: d.From, acks: j.ackFor(origin, d.Socket)}, r.scratch)
	r.scratch = scratch
	if err != nil {
		r.reject(d.Recv, d.From, h.Host, wire.ReasonOf(err))
		return Rejected
	}
	if s, ok := m.(*Sample); ok && !r.admitSampleKeys(d.Recv, s, keys) {
		return Rejected
	}
	if rt.to == nil {
		r.d.Router.Unrouted(m)
	} else {
		rt.to.Deliver(m)
	}
	return Injected
}

// ackFor is the reused ACK writer for origin's socket. The map grows with
// members times sockets, a handful.
func (j *Injector) ackFor(origin string, socket int) *ackWriter {
	k := remoteKey{origin, socket}
	w := j.acks[k]
	if w == nil {
		w = &ackWriter{remote: &remoteAck{origin: origin, socket: socket, sink: j.sink}}
		j.acks[k] = w
	}
	return w
}
