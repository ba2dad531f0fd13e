// Package agent is hbd-agent's send loop: it resolves the configured
// servers, sends signed heartbeats to every address of every server, runs
// the plugins on their own intervals and sends their samples, and measures
// the round trip to each address from the daemon's ACKs. A servers entry
// that names the members of one hbd cluster ("a;b;c") gets each message
// on one member at a time, per address family, and fails over to the next
// member when ACKs stop (cluster.go).
//
// An Agent is started once with Run, which returns after ctx is cancelled
// and the shutdown announcement has been sent; or used once for Check or
// SendSilence. Failures of the network, the daemon or a plugin are logged
// and the agent goes on. An address that leaves three heartbeats in a row
// unanswered is reported once per outage, and again when its ACKs resume:
// the daemon answers nothing it rejects (a wrong key, a clock too far
// off), so that silence is what the agent can see of such a mistake.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/agent/plugins"
	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/clock"
	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// Version is the agent's version, reported in its boot message.
const Version = "0.1.0"

// Plugin is a collector and how often it runs.
type Plugin struct {
	Collector plugins.Collector
	Interval  time.Duration
}

// Options configure an Agent.
type Options struct {
	Name     string
	Servers  []string // "host", "host:port", "[v6]:port"; "a;b;c": one cluster's members
	Interval time.Duration
	// FailoverAfter is how long the member of a cluster entry the agent
	// sends to may go without an ACK before the agent moves to the next
	// member; 0 = 2 × Interval.
	FailoverAfter time.Duration
	ResolveEvery  time.Duration // 0: every 5 minutes
	Key           []byte
	Plugins       []Plugin
	Logger        *slog.Logger
	// Resolve looks up a server name's addresses; nil uses the system resolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Clock is the agent's time: timestamps, round trips, the no-ACK
	// warning and the heartbeat, plugin and resolve intervals; nil is the
	// wall clock. Tests pass a fake, so intervals pass without waiting.
	Clock clock.Clock
	// Parents are the hosts this one depends on, declared to the daemons
	// in a parents datagram at the start and every ParentsEvery when
	// DeclareParents is set (an empty list then withdraws an earlier
	// one); nothing is sent otherwise, so a daemon that predates the
	// datagram kind never sees one.
	Parents        []string
	DeclareParents bool
}

// ParentsEvery is how often the agent declares its parents again: a
// daemon that restarted without its state, or a cluster member that took
// the host over, learns them within this time.
const ParentsEvery = 10 * time.Minute

// dest is one address of one server, and what we measured on it.
type dest struct {
	server  string   // the server (a cluster member) as written in servers
	cluster *cluster // the cluster entry server is a member of; nil if none
	member  int      // server's index in the cluster
	addr    netip.AddrPort
	connSeq uint32
	rtt     time.Duration        // last measured round trip
	pending map[uint64]time.Time // seq -> send time, awaiting ACK
	watch   ackWatch
}

// Agent sends one host's heartbeats and samples.
type Agent struct {
	opt      Options
	log      *slog.Logger
	instance uint64 // this process's sender instance (protocol version 2)
	seq      atomic.Uint64
	v4       *udp.Conn
	v6       *udp.Conn
	bufs     sync.Pool

	mu    sync.Mutex // guards dests and their fields, clusters' fields, failStopped and acked
	dests []*dest
	// clusters holds the fail-over state of every servers entry with
	// several members, by entry; fixed at New.
	clusters    map[string]*cluster
	failStopped bool       // Run has ended: the fail-over timers send nothing
	failMu      sync.Mutex // held while a fail-over runs; see stopFailover
	// acked, when set (by Check), gets a token for every matched ACK.
	acked chan struct{}
}

// New opens the agent's sockets (one per address family available).
func New(opt Options) (*Agent, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ResolveEvery <= 0 {
		opt.ResolveEvery = 5 * time.Minute // config's default
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.FailoverAfter <= 0 {
		opt.FailoverAfter = 2 * opt.Interval // config's default
	}
	if opt.Resolve == nil {
		opt.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if !wire.ValidName([]byte(opt.Name)) {
		return nil, fmt.Errorf("invalid host name %q: set name in the agent config", opt.Name)
	}
	a := &Agent{opt: opt, log: opt.Logger, clusters: newClusters(opt.Servers, config.SplitServers)}
	a.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	// Every process is a sender instance of its own, with a sequence of
	// its own counting from 1: the daemon keeps a replay window per
	// instance, so this process (a one-shot -silence run, say) and the
	// host's running agent cannot make each other look like replays.
	a.instance = wire.NewInstance(opt.Clock.Now())
	var err4, err6 error
	a.v4, err4 = udp.ListenAny("udp4")
	a.v6, err6 = udp.ListenAny("udp6")
	if a.v4 == nil && a.v6 == nil {
		return nil, fmt.Errorf("cannot open a UDP socket: %w", errors.Join(err4, err6))
	}
	return a, nil
}

// Run sends until ctx is cancelled, then announces the shutdown and returns.
func (a *Agent) Run(ctx context.Context) error {
	a.resolve(ctx)
	stopReaders := a.startReaders()

	a.sendAll(func(buf []byte, d *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		return wire.AppendBoot(buf, s, e, wire.Boot{IntervalMS: uint32(a.opt.Interval.Milliseconds()), AgentVersion: []byte(Version)})
	})
	if a.opt.DeclareParents {
		a.declareParents(ctx)
	}
	a.log.Info("agent started", "name", a.opt.Name, "servers", a.opt.Servers, "interval", a.opt.Interval, "plugins", len(a.opt.Plugins),
		"instance", fmt.Sprintf("%016x", a.instance))
	if len(a.clusters) > 0 {
		for _, c := range a.Clusters() {
			a.log.Info("sending to one cluster member at a time", "cluster", c.Entry, "ipv4", c.Active[famV4], "ipv6", c.Active[famV6],
				"failover_after", a.opt.FailoverAfter)
		}
		a.startFailover()
	}

	var loops sync.WaitGroup
	if a.opt.DeclareParents && len(a.opt.Parents) > 0 {
		loops.Add(1)
		go func() { defer loops.Done(); a.every(ctx, ParentsEvery, false, a.declareParents) }()
	}
	loops.Add(2 + len(a.opt.Plugins))
	go func() { defer loops.Done(); a.every(ctx, a.opt.Interval, true, a.heartbeat) }()
	go func() { defer loops.Done(); a.every(ctx, a.opt.ResolveEvery, false, a.resolve) }()
	for _, p := range a.opt.Plugins {
		go func() {
			defer loops.Done()
			a.every(ctx, p.Interval, true, func(ctx context.Context) { a.runPlugin(ctx, p) })
		}()
	}
	loops.Wait()
	a.stopFailover()

	a.sendAll(func(buf []byte, d *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		return wire.AppendShutdown(buf, s, e, wire.Shutdown{Reason: []byte("agent stopped")})
	})
	a.log.Info("agent stopped; shutdown announced")
	for _, c := range a.Clusters() {
		a.log.Info("cluster fail-overs", "cluster", c.Entry, "failovers", c.Failovers, "ipv4", c.Active[famV4], "ipv6", c.Active[famV6])
	}
	stopReaders()
	return nil
}

// declareParents sends the parents datagram to every daemon it sends to.
func (a *Agent) declareParents(context.Context) {
	names := make([][]byte, len(a.opt.Parents))
	for i, p := range a.opt.Parents {
		names[i] = []byte(p)
	}
	a.sendAll(func(buf []byte, d *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		return wire.AppendParents(buf, s, e, wire.Parents{Names: names})
	})
}

// startReaders starts one ACK reader per socket. The function it returns
// closes the sockets and waits for the readers; the Agent sends nothing
// after that.
func (a *Agent) startReaders() (stop func()) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for _, c := range []*udp.Conn{a.v4, a.v6} {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.readAcks(ctx, c) }()
	}
	return func() {
		cancel()
		for _, c := range []*udp.Conn{a.v4, a.v6} {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	}
}

// CheckResult is what Check found for one daemon address, or for a server
// that resolved to none (Addr is then the zero value).
type CheckResult struct {
	Server string
	Addr   netip.AddrPort
	RTT    time.Duration // > 0: the daemon acknowledged the heartbeat
	Err    error         // why no heartbeat could be sent, if none was
}

// Check sends one heartbeat to every address of every server, the same
// heartbeat Run sends, and waits up to timeout for the ACKs; then it closes
// the sockets and returns one result per address, in the order of the
// servers. A daemon does not answer what it rejects, so a missing ACK
// cannot tell a daemon that is down from a wrong key or a firewall: the
// daemon's log and its /api/0/stats rejected_sources say which.
func (a *Agent) Check(ctx context.Context, timeout time.Duration) []CheckResult {
	unresolved := a.resolveAll(ctx)
	stop := a.startReaders()
	defer stop()
	a.mu.Lock()
	dests := append([]*dest(nil), a.dests...)
	a.acked = make(chan struct{}, len(dests))
	a.mu.Unlock()

	results := make([]CheckResult, len(dests))
	waiting := 0
	for i, d := range dests {
		results[i] = CheckResult{Server: d.server, Addr: d.addr}
		if err := a.heartbeatTo(d); err != nil {
			results[i].Err = err
			continue
		}
		waiting++
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
wait:
	for ; waiting > 0; waiting-- {
		select {
		case <-a.acked:
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	a.mu.Lock()
	for i, d := range dests {
		results[i].RTT = d.rtt
	}
	a.mu.Unlock()
	// Servers without an address, in their configured place. Check tries
	// every member of a cluster: it is how to see which ones answer.
	var out []CheckResult
	for _, s := range a.members() {
		found := false
		for _, r := range results {
			if r.Server == s {
				out = append(out, r)
				found = true
			}
		}
		if !found {
			err := unresolved[s]
			if err == nil {
				err = errors.New("no address this host can reach (no IPv4 or IPv6 socket for it)")
			}
			out = append(out, CheckResult{Server: s, Err: err})
		}
	}
	return out
}

// SendSilence asks every server to silence this host's alerts on metrics
// matching metric ("" = all) for d, then returns. Like samples, every
// address gets a copy with the same timestamp, so the request survives the
// loss of one path and the daemon records it once. Every member of a
// cluster gets it too: a one-shot run has no ACKs to tell which member is
// up, and the cluster counts the copies after the first as duplicates.
func (a *Agent) SendSilence(ctx context.Context, d time.Duration, metric, comment string) error {
	defer func() {
		for _, c := range []*udp.Conn{a.v4, a.v6} {
			if c != nil {
				c.Close()
			}
		}
	}()
	secs := d.Round(time.Second).Seconds()
	if secs < 1 || secs > wire.MaxSilenceSeconds {
		return fmt.Errorf("silence of %s is outside 1s..%s", d, time.Duration(wire.MaxSilenceSeconds)*time.Second)
	}
	a.resolve(ctx)
	a.mu.Lock()
	n := len(a.dests)
	a.mu.Unlock()
	if n == 0 {
		return errors.New("no server address could be resolved")
	}
	at := a.opt.Clock.Now().UnixNano()
	a.mu.Lock()
	every := append([]*dest(nil), a.dests...)
	a.mu.Unlock()
	a.sendDests(every, func(buf []byte, _ *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		e.Time = at
		return wire.AppendSilence(buf, s, e, wire.Silence{Seconds: uint32(secs), Metric: []byte(metric), Comment: []byte(comment)})
	})
	return nil
}

// every runs f now (if now is set) and then every d with ±10% jitter, so a
// fleet started at once does not send in lockstep, until ctx is done; it
// returns once no f is running. The next run is timed on the clock before
// f starts, and runs never overlap: a run that takes longer than d delays
// the next. With a fake clock each run happens inside the Advance that
// made it due, so a test knows what was sent when Advance returns.
func (a *Agent) every(ctx context.Context, d time.Duration, now bool, f func(context.Context)) {
	var mu sync.Mutex // held while f runs; guards t and stopped
	var t clock.Timer
	stopped := false
	var tick func()
	tick = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		t = a.opt.Clock.AfterFunc(jitter(d), tick)
		f(ctx)
	}
	mu.Lock()
	t = a.opt.Clock.AfterFunc(jitter(d), tick)
	if now {
		f(ctx)
	}
	mu.Unlock()
	<-ctx.Done()
	mu.Lock() // waits for a run in progress: nothing is sent after Run's loops end
	stopped = true
	t.Stop()
	mu.Unlock()
}

// jitter returns d scaled by a random factor in [0.9, 1.1).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// resolve looks up every server's addresses, keeping what was measured on
// addresses that are still there.
func (a *Agent) resolve(ctx context.Context) { a.resolveAll(ctx) }

// resolveAll is resolve; it also returns why each server that has no
// address now could not be resolved.
func (a *Agent) resolveAll(ctx context.Context) (failed map[string]error) {
	failed = make(map[string]error)
	var next []*dest
	a.mu.Lock()
	old := make(map[netip.AddrPort]*dest, len(a.dests))
	for _, d := range a.dests {
		old[d.addr] = d
	}
	a.mu.Unlock()
	for _, m := range a.serverList() {
		s := m.server
		host, port, err := config.ParseServer(s)
		if err != nil {
			a.log.Warn("bad server address", "server", s, "err", err)
			failed[s] = fmt.Errorf("bad server address: %w", err)
			continue
		}
		var addrs []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{ip}
		} else if host == "localhost" {
			// Both loopbacks, whatever /etc/hosts says (many list only 127.0.0.1).
			addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
		} else {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			addrs, err = a.opt.Resolve(rctx, host)
			cancel()
			if err != nil {
				a.log.Warn("cannot resolve server; keeping its previous addresses", "server", s, "err", err)
				failed[s] = fmt.Errorf("cannot resolve %s: %w", host, err)
				for _, d := range old {
					if d.server == s {
						next = append(next, d)
					}
				}
				continue
			}
		}
		seen := make(map[netip.AddrPort]bool)
		for _, ip := range addrs {
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
			if seen[ap] || (ap.Addr().Is4() && a.v4 == nil) || (ap.Addr().Is6() && a.v6 == nil) {
				continue
			}
			seen[ap] = true
			if d, ok := old[ap]; ok && d.server == s && d.cluster == m.cluster {
				next = append(next, d)
			} else {
				next = append(next, &dest{server: s, cluster: m.cluster, member: m.member, addr: ap, pending: make(map[uint64]time.Time)})
			}
		}
	}
	a.mu.Lock()
	a.dests = next
	a.settleClusters(a.opt.Clock.Now())
	a.mu.Unlock()
	return failed
}

// server is one member of a servers entry.
type server struct {
	server  string
	cluster *cluster // nil: an entry of its own
	member  int
}

// serverList returns the members of every servers entry, in order.
func (a *Agent) serverList() []server {
	var out []server
	for _, e := range a.opt.Servers {
		c := a.clusters[e]
		if c == nil {
			out = append(out, server{server: e})
			continue
		}
		for i, m := range c.members {
			out = append(out, server{server: m, cluster: c, member: i})
		}
	}
	return out
}

// members returns the addresses of every servers entry's members, in order.
func (a *Agent) members() []string {
	var out []string
	for _, m := range a.serverList() {
		out = append(out, m.server)
	}
	return out
}

type encodeFunc func(buf []byte, d *dest, e wire.Envelope, s *wire.Signer) ([]byte, error)

// sendAll sends one datagram, built per destination, to every destination
// Run sends to: every address of every server, but only the addresses of
// the member each cluster sends to.
func (a *Agent) sendAll(enc encodeFunc) { a.sendDests(a.sendingDests(), enc) }

// sendDests sends one datagram, built per destination, to each of dests.
func (a *Agent) sendDests(dests []*dest, enc encodeFunc) {
	for _, d := range dests {
		_ = a.sendTo(d, enc) // logged by sendTo; each datagram is sent once
	}
}

// sendingDests returns the destinations Run sends to now (see sendAll).
func (a *Agent) sendingDests() []*dest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*dest, 0, len(a.dests))
	for _, d := range a.dests {
		if a.sending(d) {
			out = append(out, d)
		}
	}
	return out
}

// signer returns a signer for one use; HMAC state is not shared between goroutines.
func (a *Agent) signer() *wire.Signer { return wire.NewSigner(a.opt.Key) }

// sendTo sends one datagram to d. Failures are logged (at debug: a
// network that is down would otherwise fill the log) and returned.
func (a *Agent) sendTo(d *dest, enc encodeFunc) error {
	bp := a.bufs.Get().(*[]byte)
	defer a.bufs.Put(bp)
	seq := a.seq.Add(1)
	now := a.opt.Clock.Now()
	b, err := enc((*bp)[:0], d, wire.Envelope{Host: a.opt.Name, Seq: seq, Time: now.UnixNano(), Instance: a.instance}, a.signer())
	if err != nil {
		a.log.Warn("cannot encode datagram", "err", err)
		return fmt.Errorf("cannot encode datagram: %w", err)
	}
	*bp = b
	c := a.v4
	if d.addr.Addr().Is6() {
		c = a.v6
	}
	if err := c.WriteTo(b, d.addr); err != nil {
		a.log.Debug("send failed", "to", d.addr, "err", err)
		return fmt.Errorf("cannot send to %s: %w", d.addr, err)
	}
	return nil
}

func (a *Agent) heartbeat(context.Context) {
	for _, d := range a.sendingDests() {
		_ = a.heartbeatTo(d) // logged by sendTo; the next interval tries again
	}
}

// heartbeatTo sends one heartbeat to d, first warning if d left the
// previous ones unanswered.
func (a *Agent) heartbeatTo(d *dest) error {
	var silent time.Duration
	var warn bool
	err := a.sendTo(d, func(buf []byte, d *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		a.mu.Lock()
		now := a.opt.Clock.Now()
		silent, warn = d.watch.sent(now)
		d.connSeq++
		hb := wire.Heartbeat{IntervalMS: uint32(a.opt.Interval.Milliseconds()), ConnSeq: d.connSeq, RTTMicros: uint32(d.rtt.Microseconds())}
		d.pending[e.Seq] = now
		// Forget heartbeats whose ACK is overdue by more than a few intervals.
		if len(d.pending) > 16 {
			cutoff := now.Add(-4 * a.opt.Interval)
			for s, t := range d.pending {
				if t.Before(cutoff) {
					delete(d.pending, s)
				}
			}
		}
		a.mu.Unlock()
		return wire.AppendHeartbeat(buf, s, e, hb)
	})
	if warn {
		a.log.Warn(fmt.Sprintf("no ACK from %s for %s: daemon down, wrong key or blocked", d.addr, roundDuration(silent)),
			"server", d.server, "hint", "the daemon answers nothing it rejects; its log names this host's address and the reason (hbd-agent -check tests every address)")
	}
	return err
}

// runPlugin collects one sample and sends it to every address of every
// server, so a sample survives the loss of one path. All copies carry the
// collection time as their timestamp; the daemon stores a sample once per
// (plugin, timestamp) and drops the other copies.
func (a *Agent) runPlugin(ctx context.Context, p Plugin) {
	cctx, cancel := context.WithTimeout(ctx, max(p.Interval, time.Second))
	data, err := p.Collector.Collect(cctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("plugin failed", "plugin", p.Collector.Name(), "err", err)
		}
		return
	}
	name := p.Collector.Name()
	collected := a.opt.Clock.Now().UnixNano()
	a.sendAll(func(buf []byte, _ *dest, e wire.Envelope, s *wire.Signer) ([]byte, error) {
		e.Time = collected
		return wire.AppendSample(buf, s, e, name, data)
	})
}

// readAcks matches the daemon's ACKs to the heartbeats they answer and
// records the round trip, less the time the daemon held the heartbeat.
func (a *Agent) readAcks(ctx context.Context, c *udp.Conn) {
	batch := udp.NewBatch(16, 2048)
	sg := a.signer()
	go func() { <-ctx.Done(); c.Close() }()
	for {
		n, err := c.ReadBatch(batch)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := a.opt.Clock.Now()
		for i := 0; i < n; i++ {
			p := batch.Payload(i)
			h, err := wire.Parse(p)
			if err != nil || h.Kind != wire.KindAck || string(h.Host) != a.opt.Name || !sg.Verify(p) {
				continue
			}
			ack, err := wire.DecodeAck(&h)
			if err != nil {
				continue
			}
			a.matchAck(batch.Addr(i), ack, now)
		}
	}
}

func (a *Agent) matchAck(from netip.AddrPort, ack wire.Ack, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	outage, resumed := a.recordAck(from, ack, now)
	if resumed {
		a.log.Info(fmt.Sprintf("ACKs from %s again after %s", from, roundDuration(outage)))
	}
}

// recordAck records the round trip of the heartbeat ack answers, if it is
// one we are waiting for, and reports the end of a reported outage.
func (a *Agent) recordAck(from netip.AddrPort, ack wire.Ack, now time.Time) (outage time.Duration, resumed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range a.dests {
		if d.addr != from {
			continue
		}
		sent, ok := d.pending[ack.Seq]
		if !ok {
			// Two servers may resolve to the same address: each has
			// its own dest, so look on. Found in none: a duplicate or
			// replayed ACK.
			continue
		}
		delete(d.pending, ack.Seq)
		rtt := now.Sub(sent) - time.Duration(ack.HoldNanos)
		if rtt < time.Microsecond {
			rtt = time.Microsecond
		}
		d.rtt = rtt
		a.clusterAcked(d, now)
		if a.acked != nil {
			select {
			case a.acked <- struct{}{}:
			default:
			}
		}
		return d.watch.acked(now)
	}
	return 0, false
}
