package ingest

import (
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// Header is what every message carries: who sent it, its place in the
// sender's sequence, when and where it was read, and the socket to ACK on.
type Header struct {
	Host     string // the sending host, as the datagram names it
	Version  uint8  // the wire-protocol version it speaks
	Instance uint64 // the sender process (version 2); 0: version 1
	Seq      uint64
	Sent     int64     // the agent's timestamp, unix nanoseconds
	Recv     time.Time // when the daemon read it
	From     netip.AddrPort

	// acks sends the ACK: the writer of the socket it came in on, or, for
	// a datagram another cluster member received, a writer whose remote
	// is the way back to that member's socket. nil sends no ACK.
	acks *ackWriter
}

// Head returns the header; it makes every message kind a [Message].
func (h *Header) Head() *Header { return h }

// Ack asks the socket the datagram came in on to acknowledge it: the ACK
// echoes Seq and Sent and reports how long the daemon held the datagram
// (Recv to the ACK's send). It never blocks: when the writer's queue is
// full the ACK is dropped and counted. A message built by hand (in tests)
// sends none.
func (h *Header) Ack() {
	if h.acks == nil {
		return
	}
	h.acks.enqueue(ackRequest{host: h.Host, to: h.From, v1: h.Version == 1, seq: h.Seq, sent: h.Sent, recv: h.Recv})
}

// Message is one verified, decoded datagram: a *Heartbeat, *Boot,
// *Shutdown, *Sample, *Silence or *Parents. Messages are pointers throughout.
type Message interface {
	Head() *Header
	Kind() wire.Kind
}

// Heartbeat says the host is alive on the address it came from.
type Heartbeat struct {
	Header
	Interval time.Duration // the agent's heartbeat interval
	ConnSeq  uint32        // this address family's own sequence, for loss
	RTT      time.Duration // the agent's last measured round trip; 0: none yet
}

// Boot announces an agent's start.
type Boot struct {
	Header
	Interval     time.Duration
	AgentVersion string
}

// Shutdown announces a clean stop: no "host down" alert follows.
type Shutdown struct {
	Header
	Reason string
}

// Sample is one plugin sample. Plugin and Data share one allocation made
// for this message alone.
type Sample struct {
	Header
	Plugin []byte
	Data   []byte // a validated JSON object
}

// Silence is an agent's request to mute alerts of its own host.
type Silence struct {
	Header
	Metric  string // a metric glob; "" mutes every metric
	For     time.Duration
	Comment string
}

// Parents is an agent's declaration of the hosts its host depends on;
// empty withdraws an earlier one.
type Parents struct {
	Header
	Names []string // valid host names, none twice, at most wire.MaxParents
}

// Kind returns wire.KindParents.
func (*Parents) Kind() wire.Kind { return wire.KindParents }

// Kind returns wire.KindHeartbeat.
func (*Heartbeat) Kind() wire.Kind { return wire.KindHeartbeat }

// Kind returns wire.KindBoot.
func (*Boot) Kind() wire.Kind { return wire.KindBoot }

// Kind returns wire.KindShutdown.
func (*Shutdown) Kind() wire.Kind { return wire.KindShutdown }

// Kind returns wire.KindSample.
func (*Sample) Kind() wire.Kind { return wire.KindSample }

// Kind returns wire.KindSilence.
func (*Silence) Kind() wire.Kind { return wire.KindSilence }

// decode builds the message of h's kind from its payload, copying what
// must outlive the socket buffer. hd is the header it carries. scratch is
// the reader's decompression buffer, returned for reuse. keys is a
// sample's object key count (wire.Sample.Keys), which the reader's key cap
// reads; it travels beside the message, not in it, as the cap is checked
// before delivery and nothing after needs it. An error is always a
// *wire.Error (see wire.ReasonOf).
func decode(h *wire.Header, hd Header, scratch []byte) (m Message, keys int, _ []byte, err error) {
	switch h.Kind {
	case wire.KindHeartbeat:
		hb, err := wire.DecodeHeartbeat(h)
		if err != nil {
			return nil, 0, scratch, err
		}
		return &Heartbeat{Header: hd, Interval: time.Duration(hb.IntervalMS) * time.Millisecond,
			ConnSeq: hb.ConnSeq, RTT: time.Duration(hb.RTTMicros) * time.Microsecond}, 0, scratch, nil
	case wire.KindBoot:
		b, err := wire.DecodeBoot(h)
		if err != nil {
			return nil, 0, scratch, err
		}
		return &Boot{Header: hd, Interval: time.Duration(b.IntervalMS) * time.Millisecond, AgentVersion: string(b.AgentVersion)}, 0, scratch, nil
	case wire.KindShutdown:
		sd, err := wire.DecodeShutdown(h)
		if err != nil {
			return nil, 0, scratch, err
		}
		return &Shutdown{Header: hd, Reason: string(sd.Reason)}, 0, scratch, nil
	case wire.KindSample:
		s, sc, err := wire.DecodeSample(h, scratch)
		if err != nil {
			return nil, 0, sc, err
		}
		// One allocation holds both: the receiver codes the data into its
		// ring, and the WebSocket frame and the next checkpoint delta use it.
		buf := make([]byte, len(s.Plugin)+len(s.Data))
		copy(buf, s.Plugin)
		copy(buf[len(s.Plugin):], s.Data)
		return &Sample{Header: hd, Plugin: buf[:len(s.Plugin)], Data: buf[len(s.Plugin):]}, s.Keys, sc, nil
	case wire.KindSilence:
		si, err := wire.DecodeSilence(h)
		if err != nil {
			return nil, 0, scratch, err
		}
		return &Silence{Header: hd, For: time.Duration(si.Seconds) * time.Second, Metric: string(si.Metric), Comment: string(si.Comment)}, 0, scratch, nil
	case wire.KindParents:
		ps, err := wire.DecodeParents(h)
		if err != nil {
			return nil, 0, scratch, err
		}
		names := make([]string, len(ps.Names))
		for i, n := range ps.Names {
			names[i] = string(n)
		}
		return &Parents{Header: hd, Names: names}, 0, scratch, nil
	}
	// ACKs flow from the daemon, never to it.
	return nil, 0, scratch, &wire.Error{Reason: wire.ReasonKind, Msg: "datagram of kind " + h.Kind.String() + " is not accepted by the daemon"}
}
