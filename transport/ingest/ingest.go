package ingest

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// Config is what the sockets and the readers need to know.
type Config struct {
	Host          string // "" = every interface, IPv4 and IPv6
	Port          int
	RecvBuffer    int // bytes
	Keys          *Keys
	Watch         map[string]bool // the declared hosts
	AcceptDynamic bool            // whether undeclared hosts are registered
	MaxClockSkew  time.Duration
	// MaxBacklog bounds the messages handed to the actors and not yet
	// taken by them (Counters.Backlog): at the bound the readers stop
	// reading until the actors catch up, so a daemon short of CPU leaves
	// the excess in the socket's buffer, where the kernel drops what does
	// not fit (counted by the kernel, see udp.Conn.KernelDrops) at no
	// cost to the daemon, instead of queueing it in memory without end or
	// spending CPU on datagrams it would drop after checking them. A
	// reader checks between batches, so the backlog may pass the bound by
	// one batch per socket. 0: no bound.
	MaxBacklog int
}

// Router finds the receiver of a host's messages. See the package doc for
// which goroutine calls it and what it must not do.
type Router interface {
	// Lookup returns the route of a registered host; a reader caches it.
	Lookup(host string) (Route, bool)
	// SourceFull reports whether addr has registered as many dynamic
	// hosts as [limits] hosts_per_source allows.
	SourceFull(addr netip.Addr) bool
	// Unrouted takes a message of a host Lookup does not know (yet):
	// declared, or dynamic and admitted by the checks above.
	Unrouted(m Message)
}

// Route delivers the messages of one host.
type Route interface {
	Deliver(m Message)
}

// Deps are what the readers report to; Start needs them.
type Deps struct {
	Router Router
	Clock  clock.Clock
	Stats  *Counters
	// Rejected has a table per socket, in the order of the sockets (see
	// Sockets): reader i is the only writer of table i.
	Rejected *rejected.Sources
	// Limits caps sample sizes and the hosts one address registers;
	// Refusals counts and logs what they refuse.
	Limits   *limits.Config
	Refusals *limits.Refusals
	Logger   *slog.Logger
}

// Ingest owns the daemon's UDP sockets, one reader goroutine and one ACK
// writer per socket. The readers do the CPU-heavy, per-datagram work in
// parallel (parse, MAC, payload decode) and hand each valid message to its
// Route.
type Ingest struct {
	cfg Config
	// watch is Config.Watch, replaced whole by SetWatch (a reload); the
	// readers load it on a cache miss only, never per datagram.
	watch   atomic.Pointer[map[string]bool]
	conns   []*udp.Conn
	writers []*ackWriter
	log     *slog.Logger

	done chan struct{}
	wg   sync.WaitGroup
}

// Bind opens the sockets: for an empty host, 0.0.0.0 and [::] (the IPv6
// socket is V6ONLY); for "localhost", both loopbacks; otherwise every
// address the host resolves to. Nothing is read before Start: datagrams
// wait in the kernel's buffers.
func Bind(cfg Config, log *slog.Logger) (*Ingest, error) {
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
	in := &Ingest{cfg: cfg, log: log}
	in.SetWatch(cfg.Watch)
	for _, a := range addrs {
		network := "udp6"
		if a.Is4() {
			network = "udp4"
		}
		c, err := udp.Listen(network, netip.AddrPortFrom(a, uint16(cfg.Port)).String(), udp.Options{RecvBuffer: cfg.RecvBuffer})
		if err != nil {
			if (cfg.Host == "" || cfg.Host == "localhost") && a.Is6() && len(in.conns) > 0 {
				log.Warn("IPv6 is unavailable; listening on IPv4 only", "err", err)
				continue
			}
			in.Close()
			return nil, err
		}
		if got := c.RecvBufferGranted(); got < cfg.RecvBuffer {
			log.Warn("kernel granted a smaller UDP receive buffer than configured; bursts may be lost (raise net.core.rmem_max or run with CAP_NET_ADMIN)",
				"addr", c.LocalAddr(), "wanted_bytes", cfg.RecvBuffer, "granted_bytes", got)
		}
		in.conns = append(in.conns, c)
	}
	return in, nil
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

// Sockets returns how many sockets are open: the readers' rejected tables
// are the first Sockets() of Deps.Rejected.
func (in *Ingest) Sockets() int { return len(in.conns) }

// Addrs returns the addresses the sockets listen on.
// SetWatch replaces the declared hosts (Config.Watch), for a reload. A
// host the readers already route to is not asked about again; the change
// decides about hosts not registered yet.
func (in *Ingest) SetWatch(watch map[string]bool) {
	in.watch.Store(&watch)
}

// KernelDrops returns, summed over the sockets, the datagrams the kernel
// dropped because a receive buffer was full; ok is false when the platform
// cannot tell (only Linux does).
func (in *Ingest) KernelDrops() (n uint64, ok bool) {
	for _, c := range in.conns {
		d, err := c.KernelDrops()
		if err != nil {
			return 0, false
		}
		n += d
	}
	return n, true
}

func (in *Ingest) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(in.conns))
	for _, c := range in.conns {
		out = append(out, c.LocalAddr().AddrPort())
	}
	return out
}

// Start starts a reader and an ACK writer per socket. Call it once.
func (in *Ingest) Start(d Deps) {
	in.done = make(chan struct{})
	for i, c := range in.conns {
		w := &ackWriter{conn: c, queue: make(chan ackRequest, ackQueue), keys: in.cfg.Keys, clock: d.Clock, stats: d.Stats, log: d.Logger}
		in.writers = append(in.writers, w)
		r := newReader(in.cfg, d, w, d.Rejected.Table(i))
		r.watch = &in.watch
		r.done = in.done
		r.socket = i
		in.wg.Add(2)
		go func() { defer in.wg.Done(); r.run(c) }()
		go func() { defer in.wg.Done(); w.run(in.done) }()
	}
}

// Close closes the sockets, which ends the readers and writers.
func (in *Ingest) Close() {
	for _, c := range in.conns {
		c.Close()
	}
}

// Stop closes the sockets and waits for the readers and writers: once it
// returns, no Router or Route method is called again and no ACK is sent.
// Safe to call twice, and without Start.
func (in *Ingest) Stop() {
	in.Close()
	if in.done != nil {
		select {
		case <-in.done:
		default:
			close(in.done)
		}
	}
	in.wg.Wait()
}

// readBatch is how many datagrams one recvmmsg call may return.
const readBatch = 64

// route is a reader's cached route of a host, with the host's name, so a
// message's Header.Host costs no allocation. fwd is to as a RemoteRoute,
// found once when the route is cached; nil in single-node mode.
type route struct {
	to   Route
	host string
	fwd  RemoteRoute
}

// reader is one socket's read loop and what it keeps between datagrams;
// only its goroutine uses it.
type reader struct {
	cfg     Config
	d       Deps
	acks    *ackWriter
	rej     *rejected.Table
	sg      *signers
	routes  map[string]route // this reader's cache of the Router; grows with the registered hosts
	scratch []byte           // decompression buffer, reused
	// watch is the declared hosts: Ingest's, which a reload replaces;
	// cfg.Watch for a reader made alone.
	watch *atomic.Pointer[map[string]bool]
	// done is closed when the ingest stops (nil for a reader made alone).
	done <-chan struct{}
	// pauseLogged is when this reader last logged a pause (see wait).
	pauseLogged time.Time
	// socket is the index of the reader's socket; fwd the datagram it
	// hands a RemoteRoute, reused.
	socket int
	fwd    Datagram
}

func newReader(cfg Config, d Deps, acks *ackWriter, rej *rejected.Table) *reader {
	r := &reader{cfg: cfg, d: d, acks: acks, rej: rej, sg: newSigners(cfg.Keys), routes: make(map[string]route)}
	r.watch = new(atomic.Pointer[map[string]bool])
	r.watch.Store(&cfg.Watch)
	return r
}

// run reads the socket until it is closed.
func (r *reader) run(c *udp.Conn) {
	batch := udp.NewBatch(readBatch, 1<<16)
	for {
		r.wait()
		n, err := c.ReadBatch(batch)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.d.Logger.Warn("UDP read failed", "err", err)
			continue
		}
		r.d.Stats.Reads.Add(1)
		if n == batch.Cap() {
			r.d.Stats.FullBatches.Add(1)
		}
		if at, ok := batch.Arrived(); ok {
			// Real time, not the injected clock: the kernel's stamp is
			// the wall clock's, and this measures the socket, not logic.
			r.d.Stats.NoteWait(time.Since(at))
		}
		r.handle(batch)
	}
}

// handle checks, decodes and delivers every datagram of a batch. Every
// datagram it rejects is counted by reason and noted with its source in
// the socket's table, which logs the source at most once a minute.
func (r *reader) handle(batch *udp.Batch) {
	n := batch.Len()
	now := r.d.Clock.Now()
	r.d.Stats.Received.Add(uint64(n))
	for i := 0; i < n; i++ {
		from := batch.Addr(i)
		if batch.Truncated(i) {
			r.reject(now, from, nil, wire.ReasonOversize)
			continue
		}
		p := batch.Payload(i)
		h, err := wire.Parse(p)
		if err != nil {
			r.reject(now, from, nil, wire.ReasonOf(err))
			continue
		}
		if !r.sg.forHost(h.Host).Verify(p) {
			r.reject(now, from, h.Host, wire.ReasonBadMAC)
			continue
		}
		if !wire.ClockOK(h.Time, now.UnixNano(), r.cfg.MaxClockSkew) {
			r.reject(now, from, h.Host, wire.ReasonClock)
			continue
		}
		rt, ok := r.routes[string(h.Host)]
		if !ok {
			if rt, ok = r.lookup(now, from, h.Host); !ok {
				continue
			}
		}
		// In cluster mode a host owned by another member gets the
		// verified datagram undecoded: the owner decodes and caps it.
		if rt.fwd != nil {
			r.fwd = Datagram{Socket: r.socket, From: from, Recv: now, Raw: p}
			if rt.fwd.Forward(&r.fwd) {
				continue
			}
		}
		if h.Kind == wire.KindSample && !r.admitSampleSize(now, from, &h) {
			continue
		}
		var m Message
		var keys int
		m, keys, r.scratch, err = decode(&h, Header{Host: rt.host, Version: h.Version, Instance: h.Instance, Seq: h.Seq,
			Sent: h.Time, Recv: now, From: from, acks: r.acks}, r.scratch)
		if err != nil {
			r.reject(now, from, h.Host, wire.ReasonOf(err))
			continue
		}
		if s, ok := m.(*Sample); ok && !r.admitSampleKeys(now, s, keys) {
			continue
		}
		r.d.Stats.Backlog.Add(1)
		if rt.to == nil {
			r.d.Router.Unrouted(m)
			continue
		}
		rt.to.Deliver(m)
	}
}

// wait holds the reader while the actors have MaxBacklog messages
// waiting, polling every millisecond, until they are below it or the
// ingest stops. The time is counted (Counters.Paused) and logged at most
// once a minute.
func (r *reader) wait() {
	limit := int64(r.cfg.MaxBacklog)
	if limit <= 0 || r.d.Stats.Backlog.Load() < limit {
		return
	}
	start := time.Now()
	r.d.Stats.Pauses.Add(1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for r.d.Stats.Backlog.Load() >= limit {
		select {
		case <-r.done:
			return
		case <-tick.C:
		}
	}
	r.d.Stats.PausedNanos.Add(uint64(time.Since(start)))
	if start.Sub(r.pauseLogged) < time.Minute {
		return
	}
	r.pauseLogged = start
	r.d.Logger.Warn("ingest is behind: the hosts' actors had as many datagrams waiting as [limits] ingest_backlog allows, so the reader paused and left the rest in the socket's buffer (hbd_ingest_paused_seconds_total; what the buffer could not hold: hbd_udp_kernel_drops_total); the daemon needs more CPU or fewer datagrams",
		"max_backlog", limit, "paused", time.Since(start).Round(time.Millisecond))
}

// lookup is the cache miss: it asks the Router, caching what it knows, and
// otherwise decides whether the host may be registered. false: the
// datagram was rejected or refused.
func (r *reader) lookup(now time.Time, from netip.AddrPort, host []byte) (route, bool) {
	name := string(host)
	if to, ok := r.d.Router.Lookup(name); ok {
		rt := route{to: to, host: name}
		rt.fwd, _ = to.(RemoteRoute)
		r.routes[name] = rt
		return rt, true
	}
	declared := (*r.watch.Load())[name]
	if !declared && !r.cfg.AcceptDynamic {
		r.reject(now, from, host, wire.ReasonUnknownHost)
		return route{}, false
	}
	if !declared && r.d.Router.SourceFull(from.Addr()) {
		r.refuseNewHost(now, from, name)
		return route{}, false
	}
	return route{host: name}, true
}

// reject notes a dropped datagram's source and counts it by reason (in
// that order, so whoever sees the counter move also finds the source). The
// daemon never answers it: a reply to an unauthenticated sender could be
// aimed at a third party by forging the source address.
func (r *reader) reject(now time.Time, from netip.AddrPort, host []byte, reason wire.Reason) {
	r.rej.Note(now, from, host, reason)
	r.d.Stats.Drop(reason)
}
