package deadman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/transport/wire"
)

// Resolver looks up a host name's addresses.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// bootVersion is what the peer shows as this host's agent_version.
const bootVersion = "hbd (dead man's switch)"

// ackQueue bounds the ACKs read but not yet matched; more are dropped (a
// flood of ACKs can only be forged or replayed ones).
const ackQueue = 64

// ackMsg is a verified ACK addressed to us.
type ackMsg struct {
	seq  uint64
	from netip.AddrPort
	at   time.Time
}

// sent is one heartbeat of the current ping awaiting its ACK.
type sent struct {
	addr netip.AddrPort
	at   time.Time
}

// peer sends heartbeats to another hbd as an agent would: a boot first,
// then one heartbeat per address per ping, each with its own sequence
// number, the per-address conn_seq and the last measured round trip; a
// shutdown on close. One socket per address family; a reader goroutine per
// socket passes verified ACKs to the ping.
type peer struct {
	host     string
	port     uint16
	name     string
	key      []byte
	interval time.Duration
	clock    actors.Clock
	log      *slog.Logger
	resolve  Resolver
	v4, v6   *net.UDPConn
	acks     chan ackMsg
	readers  sync.WaitGroup

	// Owned by the ping loop's goroutine, then by close once it has ended.
	sg      *wire.Signer
	seq     uint64
	buf     []byte
	booted  bool
	connSeq map[netip.AddrPort]uint32
	rtt     map[netip.AddrPort]time.Duration
	last    []netip.AddrPort // the latest ping's addresses, for the shutdown notice
}

func newPeer(opt Options, clock actors.Clock, log *slog.Logger) (*peer, error) {
	host, portStr, err := net.SplitHostPort(opt.Peer)
	if err != nil {
		return nil, fmt.Errorf("deadman: peer must be host:port, got %q: %w", opt.Peer, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("deadman: peer port must be 1..65535, got %q", portStr)
	}
	if !wire.ValidName([]byte(opt.Name)) {
		return nil, fmt.Errorf("deadman: invalid host name %q: set name in [deadman]", opt.Name)
	}
	if len(opt.Key) < wire.MinKeyLen {
		return nil, fmt.Errorf("deadman: the key is shorter than %d bytes", wire.MinKeyLen)
	}
	resolve := opt.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	p := &peer{
		host: host, port: uint16(port), name: opt.Name, key: opt.Key, interval: opt.Interval,
		clock: clock, log: log, resolve: resolve, acks: make(chan ackMsg, ackQueue),
		sg: wire.NewSigner(opt.Key), connSeq: map[netip.AddrPort]uint32{}, rtt: map[netip.AddrPort]time.Duration{},
		// Like an agent's, the sequence starts at the start time in
		// nanoseconds, so it keeps increasing across restarts and the
		// peer's replay window accepts a restarted daemon.
		seq: uint64(clock.Now().UnixNano()),
	}
	var err4, err6 error
	p.v4, err4 = net.ListenUDP("udp4", nil)
	p.v6, err6 = net.ListenUDP("udp6", nil)
	if p.v4 == nil && p.v6 == nil {
		return nil, fmt.Errorf("deadman: cannot open a UDP socket: %w", errors.Join(err4, err6))
	}
	for _, c := range []*net.UDPConn{p.v4, p.v6} {
		if c != nil {
			p.readers.Add(1)
			go p.read(c)
		}
	}
	return p, nil
}

// ping sends one heartbeat to every address of the peer and waits, until
// ctx ends, for their ACKs. It succeeds when at least one came back: the
// peer is up, knows our key and accepts our name.
func (p *peer) ping(ctx context.Context) error {
	addrs, err := p.lookup(ctx)
	if err != nil {
		return err
	}
	p.forget(addrs)
	p.last = addrs
	if !p.booted {
		p.booted = true
		_, _ = p.sendAll(func(b []byte, e wire.Envelope, _ netip.AddrPort) ([]byte, error) {
			return wire.AppendBoot(b, p.sg, e, wire.Boot{IntervalMS: p.intervalMS(), AgentVersion: []byte(bootVersion)})
		})
	}
	// ACKs of earlier pings that came too late are of no use now.
	for len(p.acks) > 0 {
		<-p.acks
	}
	want, sendErr := p.sendAll(func(b []byte, e wire.Envelope, a netip.AddrPort) ([]byte, error) {
		p.connSeq[a]++
		hb := wire.Heartbeat{IntervalMS: p.intervalMS(), ConnSeq: p.connSeq[a], RTTMicros: uint32(p.rtt[a].Microseconds())}
		return wire.AppendHeartbeat(b, p.sg, e, hb)
	})
	if len(want) == 0 {
		return fmt.Errorf("cannot send to any address of %s: %w", p.host, sendErr)
	}
	acked, total := 0, len(want)
	for acked < total {
		select {
		case a := <-p.acks:
			s, ok := want[a.seq]
			if !ok || s.addr != a.from {
				continue
			}
			delete(want, a.seq)
			acked++
			p.rtt[s.addr] = max(a.at.Sub(s.at), time.Microsecond)
		case <-ctx.Done():
			if acked > 0 {
				return nil // one path answered; the other is the peer's to report
			}
			if sendErr != nil {
				return fmt.Errorf("no ACK from %s %v; %w", p.host, addrs, sendErr)
			}
			return fmt.Errorf("no ACK from %s %v", p.host, addrs)
		}
	}
	return nil
}

func (p *peer) intervalMS() uint32 { return uint32(max(p.interval.Milliseconds(), 1)) }

// sendAll sends one datagram, built by enc, to every address of the
// latest ping, each with its own sequence number. It returns what was
// sent, by sequence number, and the errors of what could not be.
func (p *peer) sendAll(enc func(b []byte, e wire.Envelope, a netip.AddrPort) ([]byte, error)) (map[uint64]sent, error) {
	out := make(map[uint64]sent, len(p.last))
	var errs []error
	for _, a := range p.last {
		c := p.v4
		if a.Addr().Is6() {
			c = p.v6
		}
		p.seq++
		now := p.clock.Now()
		b, err := enc(p.buf[:0], wire.Envelope{Host: p.name, Seq: p.seq, Time: now.UnixNano()}, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot encode a datagram: %w", err))
			continue
		}
		p.buf = b
		if _, err := c.WriteToUDPAddrPort(b, a); err != nil {
			errs = append(errs, err)
			continue
		}
		out[p.seq] = sent{addr: a, at: now}
	}
	return out, errors.Join(errs...)
}

// lookup returns the peer's addresses that a socket is open for: an IP
// literal as it is, "localhost" as both loopbacks (whatever /etc/hosts
// says, as the agent does), a name through the resolver.
func (p *peer) lookup(ctx context.Context) ([]netip.AddrPort, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(p.host); err == nil {
		ips = []netip.Addr{ip}
	} else if p.host == "localhost" {
		ips = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	} else if ips, err = p.resolve(ctx, p.host); err != nil {
		return nil, fmt.Errorf("cannot resolve %s: %w", p.host, err)
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		ip = ip.Unmap()
		a := netip.AddrPortFrom(ip, p.port)
		if (ip.Is4() && p.v4 == nil) || (ip.Is6() && p.v6 == nil) || slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address this host can send to (%v)", p.host, ips)
	}
	return out, nil
}

// forget drops what was measured on addresses the peer no longer has, so
// the maps stay as small as its address list.
func (p *peer) forget(addrs []netip.AddrPort) {
	keep := make(map[netip.AddrPort]bool, len(addrs))
	for _, a := range addrs {
		keep[a] = true
	}
	for a := range p.connSeq {
		if !keep[a] {
			delete(p.connSeq, a)
			delete(p.rtt, a)
		}
	}
}

// read passes the verified ACKs for our name that arrive on c to the ping,
// until c is closed.
func (p *peer) read(c *net.UDPConn) {
	defer p.readers.Done()
	sg := wire.NewSigner(p.key) // HMAC state is not shared between goroutines
	buf := make([]byte, wire.MaxSmall+1)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := p.clock.Now()
		d := buf[:n]
		h, err := wire.Parse(d)
		if err != nil || h.Kind != wire.KindAck || string(h.Host) != p.name || !sg.Verify(d) {
			continue
		}
		ack, err := wire.DecodeAck(&h)
		if err != nil {
			continue
		}
		select {
		case p.acks <- ackMsg{seq: ack.Seq, from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), at: at}:
		default:
		}
	}
}

// close announces a clean stop to the peer, as an agent does (the peer
// shows this host STOPPED, not DOWN), and closes the sockets.
func (p *peer) close() {
	if p.booted {
		if _, err := p.sendAll(func(b []byte, e wire.Envelope, _ netip.AddrPort) ([]byte, error) {
			return wire.AppendShutdown(b, p.sg, e, wire.Shutdown{Reason: []byte("hbd stopped")})
		}); err != nil {
			p.log.Warn("cannot announce the shutdown to the hbd peer", "peer", p.host, "err", err)
		}
	}
	for _, c := range []*net.UDPConn{p.v4, p.v6} {
		if c != nil {
			c.Close()
		}
	}
	p.readers.Wait()
}
