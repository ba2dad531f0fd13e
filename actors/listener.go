package actors

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// Keys holds the fleet key and optional per-host keys. Immutable after
// construction; safe for concurrent use.
type Keys struct {
	fleet   []byte
	perHost map[string][]byte
}

// NewKeys returns the key set; perHost may be nil.
func NewKeys(fleet []byte, perHost map[string][]byte) *Keys {
	return &Keys{fleet: fleet, perHost: perHost}
}

// For returns the key datagrams from host are signed with.
func (k *Keys) For(host []byte) []byte {
	if key, ok := k.perHost[string(host)]; ok {
		return key
	}
	return k.fleet
}

// signers caches one keyed HMAC state per key for one goroutine.
type signers struct {
	keys    *Keys
	fleet   *wire.Signer
	perHost map[string]*wire.Signer
}

func newSigners(k *Keys) *signers {
	return &signers{keys: k, fleet: wire.NewSigner(k.fleet), perHost: make(map[string]*wire.Signer)}
}

// forHost returns the signer for a datagram's host field. The common case
// (one fleet key) touches no map; the map lookups with string(host) do not
// allocate.
func (s *signers) forHost(host []byte) *wire.Signer {
	if len(s.keys.perHost) == 0 {
		return s.fleet
	}
	if sg, ok := s.perHost[string(host)]; ok {
		return sg
	}
	return s.forName(string(host))
}

// forName is forHost for a name already held as a string (the ACK writer's).
func (s *signers) forName(host string) *wire.Signer {
	if len(s.keys.perHost) == 0 {
		return s.fleet
	}
	if sg, ok := s.perHost[host]; ok {
		return sg
	}
	key, ok := s.keys.perHost[host]
	if !ok {
		return s.fleet
	}
	sg := wire.NewSigner(key)
	s.perHost[host] = sg
	return sg
}

// ackRequest asks a socket's writer to acknowledge a datagram.
type ackRequest struct {
	host string
	to   netip.AddrPort
	v1   bool // answer in protocol version 1: the sender speaks nothing newer
	seq  uint64
	sent int64     // the acked datagram's timestamp, echoed
	recv time.Time // when the daemon read it, to report how long it held it
}

// ackWriter sends the ACKs of one socket in batches. HostActors enqueue
// without blocking; when the queue is full the ACK is dropped and counted.
type ackWriter struct {
	conn  *udp.Conn
	queue chan ackRequest
	keys  *Keys
	clock Clock
	stats *Stats
	log   *slog.Logger
}

func (w *ackWriter) enqueue(r ackRequest) bool {
	select {
	case w.queue <- r:
		return true
	default:
		return false
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

// ListenerConfig is what the UDP listener needs to know.
type ListenerConfig struct {
	Host          string // "" = every interface, IPv4 and IPv6
	Port          int
	RecvBuffer    int // bytes
	Keys          *Keys
	Watch         map[string]bool
	AcceptDynamic bool
	MaxClockSkew  time.Duration
}

// listener owns the daemon's UDP sockets, one reader goroutine and one ACK
// writer per socket. The readers do the CPU-heavy, per-datagram work in
// parallel (parse, MAC, payload decode) and hand each valid message to its
// HostActor; the replay check, which needs per-host state, happens there.
type listener struct {
	cfg      ListenerConfig
	conns    []*udp.Conn
	writers  []*ackWriter
	system   *actor.ActorSystem
	registry *Registry
	clock    Clock
	stats    *Stats
	// rejects has one table per socket, in the order of conns: reader i
	// is the only writer of table i besides the API's reads.
	rejects *rejected.Sources
	log     *slog.Logger
	// limits caps sample sizes and the hosts one address registers;
	// refusals counts what they refuse.
	limits   *limits.Config
	refusals *limits.Refusals

	done chan struct{}
	wg   sync.WaitGroup
}

// bindUDP opens the sockets: for an empty host, 0.0.0.0 and [::] (the IPv6
// socket is V6ONLY); otherwise every address the host resolves to.
func bindUDP(cfg ListenerConfig, log *slog.Logger) ([]*udp.Conn, error) {
	var addrs []netip.Addr
	var err error
	switch {
	case cfg.Host == "":
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	case cfg.Host == "localhost":
		// Both loopbacks, whatever /etc/hosts says (many list only 127.0.0.1).
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	default:
		addrs, err = lookupHost(cfg.Host)
		if err != nil {
			return nil, err
		}
	}
	var conns []*udp.Conn
	for _, a := range addrs {
		network := "udp6"
		if a.Is4() {
			network = "udp4"
		}
		c, err := udp.Listen(network, netip.AddrPortFrom(a, uint16(cfg.Port)).String(), udp.Options{RecvBuffer: cfg.RecvBuffer})
		if err != nil {
			if (cfg.Host == "" || cfg.Host == "localhost") && a.Is6() && len(conns) > 0 {
				log.Warn("IPv6 is unavailable; listening on IPv4 only", "err", err)
				continue
			}
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		if got := c.RecvBufferGranted(); got < cfg.RecvBuffer {
			log.Warn("kernel granted a smaller UDP receive buffer than configured; bursts may be lost (raise net.core.rmem_max or run with CAP_NET_ADMIN)",
				"addr", c.LocalAddr(), "wanted_bytes", cfg.RecvBuffer, "granted_bytes", got)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// lookupHost returns the addresses of an IP literal or a host name.
func lookupHost(host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs, nil
}

func (l *listener) start() {
	l.done = make(chan struct{})
	for i, c := range l.conns {
		w := l.writers[i]
		rej := l.rejects.Table(i)
		l.wg.Add(2)
		go func() { defer l.wg.Done(); l.read(c, w, rej) }()
		go func() { defer l.wg.Done(); w.run(l.done) }()
	}
}

// stop closes the sockets and waits for the goroutines. Safe to call twice.
func (l *listener) stop() {
	for _, c := range l.conns {
		c.Close()
	}
	if l.done != nil {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
	l.wg.Wait()
}

// readBatch is how many datagrams one recvmmsg call may return.
const readBatch = 64

// read is one socket's reader. Every datagram it rejects is counted by
// reason and noted with its source in rej, which logs the source at most
// once a minute.
func (l *listener) read(c *udp.Conn, w *ackWriter, rej *rejected.Table) {
	batch := udp.NewBatch(readBatch, 1<<16)
	sg := newSigners(l.cfg.Keys)
	routes := make(map[string]*actor.PID) // this reader's cache of the registry
	var scratch []byte
	root := l.system.Root
	skew := l.cfg.MaxClockSkew
	for {
		n, err := c.ReadBatch(batch)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("UDP read failed", "err", err)
			continue
		}
		now := l.clock.Now()
		l.stats.Received.Add(uint64(n))
		for i := 0; i < n; i++ {
			if batch.Truncated(i) {
				l.reject(rej, now, batch.Addr(i), nil, wire.ReasonOversize)
				continue
			}
			p := batch.Payload(i)
			h, err := wire.Parse(p)
			if err != nil {
				l.reject(rej, now, batch.Addr(i), nil, reasonOf(err))
				continue
			}
			if !sg.forHost(h.Host).Verify(p) {
				l.reject(rej, now, batch.Addr(i), h.Host, wire.ReasonBadMAC)
				continue
			}
			if !wire.ClockOK(h.Time, now.UnixNano(), skew) {
				l.reject(rej, now, batch.Addr(i), h.Host, wire.ReasonClock)
				continue
			}
			pid := routes[string(h.Host)]
			if pid == nil {
				if p, ok := l.registry.Lookup(string(h.Host)); ok {
					pid = p
					routes[string(h.Host)] = p
				} else if !l.cfg.AcceptDynamic && !l.cfg.Watch[string(h.Host)] {
					l.reject(rej, now, batch.Addr(i), h.Host, wire.ReasonUnknownHost)
					continue
				} else if !l.cfg.Watch[string(h.Host)] && l.registry.sourceFull(batch.Addr(i).Addr()) {
					l.refuseNewHost(now, batch.Addr(i), h.Host)
					continue
				}
			}
			if h.Kind == wire.KindSample && !l.admitSampleSize(now, batch.Addr(i), &h) {
				continue
			}
			m := &inbound{kind: h.Kind, ver: h.Version, instance: h.Instance, seq: h.Seq, sent: h.Time, recv: now, from: batch.Addr(i), acks: w}
			var reason wire.Reason
			scratch, reason = decodePayload(&h, m, scratch)
			if reason != wire.ReasonNone {
				l.reject(rej, now, batch.Addr(i), h.Host, reason)
				continue
			}
			if h.Kind == wire.KindSample && !l.admitSampleKeys(now, batch.Addr(i), h.Host, m) {
				continue
			}
			if pid == nil {
				m.host = string(h.Host)
				root.Send(l.registry.pid, m)
				continue
			}
			root.Send(pid, m)
		}
	}
}

// reject notes a dropped datagram's source and counts it by reason (in
// that order, so whoever sees the counter move also finds the source). The
// daemon never answers it: a reply to an unauthenticated sender could be
// aimed at a third party by forging the source address.
func (l *listener) reject(rej *rejected.Table, now time.Time, from netip.AddrPort, host []byte, r wire.Reason) {
	rej.Note(now, from, host, r)
	l.stats.Drop(r)
}

// decodePayload fills m from the datagram's payload, copying what must
// outlive the socket buffer.
func decodePayload(h *wire.Header, m *inbound, scratch []byte) ([]byte, wire.Reason) {
	switch h.Kind {
	case wire.KindHeartbeat:
		hb, err := wire.DecodeHeartbeat(h)
		if err != nil {
			return scratch, reasonOf(err)
		}
		m.interval = time.Duration(hb.IntervalMS) * time.Millisecond
		m.connSeq = hb.ConnSeq
		m.rtt = time.Duration(hb.RTTMicros) * time.Microsecond
	case wire.KindBoot:
		b, err := wire.DecodeBoot(h)
		if err != nil {
			return scratch, reasonOf(err)
		}
		m.interval = time.Duration(b.IntervalMS) * time.Millisecond
		m.text = string(b.AgentVersion)
	case wire.KindShutdown:
		sd, err := wire.DecodeShutdown(h)
		if err != nil {
			return scratch, reasonOf(err)
		}
		m.text = string(sd.Reason)
	case wire.KindSample:
		s, sc, err := wire.DecodeSample(h, scratch)
		scratch = sc
		if err != nil {
			return scratch, reasonOf(err)
		}
		// One allocation holds both: the HostActor codes the data into its
		// ring, and the WebSocket frame and the next checkpoint delta use it.
		buf := make([]byte, len(s.Plugin)+len(s.Data))
		copy(buf, s.Plugin)
		copy(buf[len(s.Plugin):], s.Data)
		m.plugin, m.data = buf[:len(s.Plugin)], buf[len(s.Plugin):]
	case wire.KindSilence:
		si, err := wire.DecodeSilence(h)
		if err != nil {
			return scratch, reasonOf(err)
		}
		m.silence = time.Duration(si.Seconds) * time.Second
		m.metric = string(si.Metric)
		m.text = string(si.Comment)
	default:
		// ACKs flow from the daemon, never to it.
		return scratch, wire.ReasonKind
	}
	return scratch, wire.ReasonNone
}

func reasonOf(err error) wire.Reason {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Reason
	}
	return wire.ReasonBadPayload
}
