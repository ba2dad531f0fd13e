package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// Generator limits and defaults.
const (
	// MaxTargets bounds the -addr list: an agent typically has one IPv4
	// and one IPv6 address per daemon; four leaves room for two daemons.
	MaxTargets = 4
	// MaxClusterMembers bounds the -cluster list.
	MaxClusterMembers = 8
	// DefaultSenders is the number of sender goroutines. Two sendmmsg
	// loops offer several hundred thousand datagrams/s on loopback, more
	// than a 2-core daemon accepts, while leaving a core to the daemon.
	DefaultSenders = 2
	// DefaultBatch is the number of datagrams per sendmmsg call, the
	// daemon's own receive batch size.
	DefaultBatch = 64
	// maxUnitsPerLoop bounds how many rate-mode samples one sender builds
	// between two looks at the clock, so paced heartbeats are not held
	// back behind a long catch-up burst.
	maxUnitsPerLoop = 4096
	// ackGrace is how long Close keeps reading ACKs after the last send
	// before closing the sockets (the daemon answers within microseconds on
	// loopback; a remote one within a round trip).
	ackGrace = 300 * time.Millisecond
)

// GenConfig configures a Generator.
type GenConfig struct {
	Targets []netip.AddrPort // daemon UDP addresses; every datagram goes to each (see Cluster)
	// Cluster makes Targets the members of one hbd cluster, as an agent's
	// "a;b;c" servers entry does: each host sends to one member at a
	// time, host i (counted from 0) starting on member i mod n, and moves
	// to the next member when FailoverAfter passes without an ACK from
	// its member. Needs ReadAcks and heartbeats.
	Cluster bool
	// FailoverAfter is the agent's failover_after; 0 = 2 × HeartbeatInterval.
	FailoverAfter time.Duration
	Key           []byte // the daemon's fleet key
	Hosts         int    // simulated hosts
	FirstHost     int    // number of the first host name; 0 means 1 (bench-000001)
	Senders       int    // sender goroutines; 0 means DefaultSenders; at most Hosts
	Batch         int    // datagrams per sendmmsg; 0 means DefaultBatch

	// HeartbeatInterval paces each host's heartbeats; 0 sends none.
	HeartbeatInterval time.Duration
	// SampleInterval paces each host's samples of each of Plugins; 0
	// sends no paced samples.
	SampleInterval time.Duration
	// Plugins are the paced samples' plugins, one sample of each per
	// SampleInterval.
	Plugins []Plugin
	// RatePlugins are what the rate-mode stream (SetRate, StartRounds)
	// cycles through; empty means Plugins, or PluginCPU4 if that is empty
	// too.
	RatePlugins []Plugin
	// Jitter spreads each next event over interval ± Jitter/2 × interval
	// (0..1), like the agent's jittered timers. 0 makes the schedule exact.
	Jitter float64
	// Boot sends a boot message just before each host's first heartbeat,
	// as a starting agent does.
	Boot bool
	// ReadAcks reads the daemon's ACKs on the sender sockets, counts them
	// and records their round trip (ack receive time - heartbeat timestamp
	// - hold_ns). Without it the ACKs are left in the socket buffer, where
	// the kernel drops them once it is full.
	ReadAcks bool
	// Seed makes the random walks and jitter reproducible.
	Seed uint64

	// Net is what the network does to every host's heartbeats (delay,
	// loss, bursts), and Lossy what it does instead to the LossyFrac
	// (0..1) of the hosts picked by Seed: a fleet with a few hosts on
	// bad links.
	Net       NetProfile
	Lossy     NetProfile
	LossyFrac float64
	// Kills stop hosts at set times (the detection scenario).
	Kills []Kill
	// MaxCatchUp is how far a sender that fell behind its schedule (the
	// harness starved of CPU) catches up by sending what is overdue at
	// once. Past it, the sender moves its schedule on by its lag instead,
	// as if its share of the fleet had paused, and sends at the fleet's
	// rate from there: a fleet's agents do not compress their sends
	// because the harness was busy, and a catch-up burst at several times
	// the fleet's rate measures the harness's stall, not the daemon. 0
	// means DefaultMaxCatchUp; negative means catch up however far behind
	// (the detection scenario, whose kills and deaths are timed by the
	// wall clock). Slipped (GenStats) says how far the schedules moved.
	MaxCatchUp time.Duration
}

// DefaultMaxCatchUp is GenConfig.MaxCatchUp's default: a sender woken a
// little late (the scheduler, a collection) catches up; one that stalled
// longer pauses. 100 ms of the fleet-100k's traffic is about 5,000
// datagrams, a burst the daemon's socket buffers hold.
const DefaultMaxCatchUp = 100 * time.Millisecond

func (c *GenConfig) validate() error {
	var errs []error
	switch {
	case c.Cluster && (len(c.Targets) == 0 || len(c.Targets) > MaxClusterMembers):
		errs = append(errs, fmt.Errorf("need 1..%d cluster members, have %d", MaxClusterMembers, len(c.Targets)))
	case c.Cluster && (!c.ReadAcks || c.HeartbeatInterval == 0):
		errs = append(errs, errors.New("a cluster needs ACKs read and heartbeats sent: they decide when a host fails over"))
	case c.Cluster && c.FailoverAfter < 0:
		errs = append(errs, fmt.Errorf("negative fail-over time %s", c.FailoverAfter))
	case !c.Cluster && (len(c.Targets) == 0 || len(c.Targets) > MaxTargets):
		errs = append(errs, fmt.Errorf("need 1..%d target addresses, have %d", MaxTargets, len(c.Targets)))
	}
	for _, t := range c.Targets {
		if !t.IsValid() || t.Port() == 0 {
			errs = append(errs, fmt.Errorf("invalid target address %s", t))
		}
	}
	if len(c.Key) == 0 {
		errs = append(errs, errors.New("no key"))
	}
	if c.Hosts < 1 {
		errs = append(errs, fmt.Errorf("need at least one host, have %d", c.Hosts))
	}
	if c.FirstHost < 0 {
		errs = append(errs, fmt.Errorf("first host number %d is negative", c.FirstHost))
	}
	if c.Senders < 0 || c.Batch < 0 {
		errs = append(errs, fmt.Errorf("negative sender count %d or batch size %d", c.Senders, c.Batch))
	}
	if c.HeartbeatInterval < 0 || c.SampleInterval < 0 {
		errs = append(errs, errors.New("negative interval"))
	}
	if c.HeartbeatInterval > 0 && c.HeartbeatInterval < time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat interval %s is below the wire's 1 ms resolution", c.HeartbeatInterval))
	}
	if c.SampleInterval > 0 && len(c.Plugins) == 0 {
		errs = append(errs, errors.New("a sample interval without plugins"))
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		errs = append(errs, fmt.Errorf("jitter %g out of range 0..1", c.Jitter))
	}
	if err := c.Net.validate(); err != nil {
		errs = append(errs, fmt.Errorf("network profile: %w", err))
	}
	if err := c.Lossy.validate(); err != nil {
		errs = append(errs, fmt.Errorf("lossy profile: %w", err))
	}
	if !(c.LossyFrac >= 0 && c.LossyFrac <= 1) {
		errs = append(errs, fmt.Errorf("lossy fraction %g out of range 0..1", c.LossyFrac))
	}
	for _, k := range c.Kills {
		if k.Host < 0 || k.Host >= c.Hosts || k.At <= 0 {
			errs = append(errs, fmt.Errorf("kill of host %d at %s: need a host index below %d and a positive time", k.Host, k.At, c.Hosts))
		}
	}
	return errors.Join(errs...)
}

// copies is how many datagrams each message makes: one per target, or
// one in all in a cluster.
func (c *GenConfig) copies() int {
	if c.Cluster {
		return 1
	}
	return len(c.Targets)
}

// HostName returns the name of simulated host number i: bench-000001 for 1.
// It is a valid wire name for every i >= 0.
func HostName(i int) string { return fmt.Sprintf("bench-%06d", i) }

// GenStats are a Generator's counters. Datagram counts include every
// target: one heartbeat to two addresses counts 2.
type GenStats struct {
	Sent       uint64        // datagrams the kernel accepted for sending
	SendErrors uint64        // datagrams the kernel refused
	Heartbeats uint64        // heartbeat datagrams queued
	Samples    uint64        // sample datagrams queued
	Boots      uint64        // boot datagrams queued
	Shutdowns  uint64        // shutdown datagrams queued
	Acks       uint64        // ACK datagrams read (with ReadAcks)
	Failovers  uint64        // hosts moved to the next cluster member (Cluster)
	MaxLag     time.Duration // worst delay of a paced event behind its schedule
	// Slipped is how far the paced schedule moved on (the worst sender's
	// sum) because a sender fell more than MaxCatchUp behind it: for that
	// long, that sender's hosts were silent.
	Slipped   time.Duration
	LastError error // the latest send error, if any
}

// Generator simulates hosts; see the package documentation.
type Generator struct {
	cfg     GenConfig
	lossy   []bool // per host index: on the Lossy profile
	kills   map[int]time.Duration
	senders []*sender
	job     atomic.Pointer[rateJob]
	pace    atomic.Pointer[pacedSamples] // set once by PaceSamples
	acks    atomic.Uint64
	ackRTT  atomic.Pointer[Histogram] // this phase's; see NewPhase
	readers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// pacedSamples is what PaceSamples asks for.
type pacedSamples struct {
	every   time.Duration
	plugins []Plugin
}

// rateJob is a request for a stream of datagrams at a fixed aggregate rate.
type rateJob struct {
	perS     float64 // datagrams per second over all senders and targets
	rounds   int     // 0 = until replaced; else each host (× plugin) this many times
	shutdown bool    // send shutdown messages instead of samples
	pending  atomic.Int32
	done     chan struct{} // closed when every sender finished its rounds
}

// NewGenerator validates cfg, builds the hosts and opens the sockets (one
// per sender and address family).
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid generator config: %w", err)
	}
	if cfg.FirstHost == 0 {
		cfg.FirstHost = 1
	}
	if cfg.Senders == 0 {
		cfg.Senders = DefaultSenders
	}
	cfg.Senders = min(cfg.Senders, cfg.Hosts)
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if len(cfg.RatePlugins) == 0 {
		cfg.RatePlugins = cfg.Plugins
		if len(cfg.RatePlugins) == 0 {
			cfg.RatePlugins = []Plugin{PluginCPU4}
		}
	}
	g := &Generator{cfg: cfg, lossy: pickLossy(cfg.Hosts, cfg.LossyFrac, cfg.Seed), kills: map[int]time.Duration{}}
	g.ackRTT.Store(new(Histogram))
	for _, k := range cfg.Kills {
		g.kills[k.Host] = k.At
	}
	for i := range cfg.Senders {
		s, err := newSender(g, i)
		if err != nil {
			_ = g.closeSockets() // the error that matters is err
			return nil, err
		}
		g.senders = append(g.senders, s)
	}
	if cfg.ReadAcks {
		for _, s := range g.senders {
			for _, c := range s.conns {
				if c != nil {
					g.readers.Go(func() { g.readAcks(c) })
				}
			}
		}
	}
	return g, nil
}

// Run sends the paced heartbeats and samples, and the rate stream when one
// is set, for d or until ctx is done. Call it once: the paced schedule is
// laid out from the start of the first Run.
func (g *Generator) Run(ctx context.Context, d time.Duration) {
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for _, s := range g.senders {
		wg.Go(func() { s.run(ctx, start, end, true) })
	}
	wg.Wait()
}

// PaceSamples starts paced samples of plugins, one of each per host every
// interval, on a generator made without them (GenConfig.SampleInterval
// 0), while Run goes on: the fleet keeps its heartbeats, its sender
// instances and its sequence numbers, as a fleet whose agents were told to
// sample more does. The first samples are spread over one interval from
// when each sender takes the request (within a millisecond while Run is
// running, else when it starts).
func (g *Generator) PaceSamples(interval time.Duration, plugins []Plugin) error {
	if interval <= 0 || len(plugins) == 0 {
		return fmt.Errorf("paced samples need an interval and plugins (have %s, %d plugins)", interval, len(plugins))
	}
	if len(plugins) > math.MaxInt16 {
		return fmt.Errorf("too many plugins: %d", len(plugins))
	}
	if g.cfg.SampleInterval > 0 || !g.pace.CompareAndSwap(nil, &pacedSamples{every: interval, plugins: slices.Clone(plugins)}) {
		return errors.New("the generator already sends paced samples")
	}
	g.wakeAll()
	return nil
}

// SetRate starts (or changes, or with 0 stops) a stream of samples of
// RatePlugins at perS datagrams per second in total, cycling through the
// hosts, on top of the paced traffic. It takes effect within a
// millisecond while Run is running.
func (g *Generator) SetRate(perS float64) { g.setJob(&rateJob{perS: perS}) }

// StartRounds is SetRate that stops by itself once every host has sent
// rounds samples of each of RatePlugins (the daemon's history per plugin,
// to fill its rings). The returned channel is closed then.
func (g *Generator) StartRounds(rounds int, perS float64) <-chan struct{} {
	j := &rateJob{perS: perS, rounds: max(rounds, 1), done: make(chan struct{})}
	j.pending.Store(int32(len(g.senders)))
	g.setJob(j)
	return j.done
}

// wakeAll tells every sender to look at the generator's requests now
// rather than at its next event.
func (g *Generator) wakeAll() {
	for _, s := range g.senders {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (g *Generator) setJob(j *rateJob) {
	g.job.Store(j)
	g.wakeAll()
}

// Shutdown sends every host's shutdown message to every target, at perS
// datagrams per second, and returns when all are sent. Call it after Run,
// so the daemon marks the hosts STOPPED rather than raising "host down"
// alerts for a whole simulated fleet. It goes on when ctx is already
// cancelled (an interrupted run should still clean up), but gives up after
// twice the time the messages should take plus 5 s.
func (g *Generator) Shutdown(ctx context.Context, perS float64) {
	if perS <= 0 {
		return
	}
	need := float64(g.cfg.Hosts*g.cfg.copies()) / perS
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(2*need*float64(time.Second))+5*time.Second)
	defer cancel()
	j := &rateJob{perS: perS, rounds: 1, shutdown: true, done: make(chan struct{})}
	j.pending.Store(int32(len(g.senders)))
	g.job.Store(j)
	var wg sync.WaitGroup
	for _, s := range g.senders {
		wg.Go(func() { s.run(ctx, time.Now(), time.Now().Add(24*time.Hour), false) })
	}
	wg.Wait()
}

// pickLossy picks round(frac × hosts) hosts at random (by seed) for the
// lossy profile.
func pickLossy(hosts int, frac float64, seed uint64) []bool {
	out := make([]bool, hosts)
	n := int(math.Round(frac * float64(hosts)))
	r := rand.New(rand.NewPCG(seed, 0x1055))
	for _, i := range r.Perm(hosts)[:n] {
		out[i] = true
	}
	return out
}

// Lossy reports whether host index i (from 0) is on the lossy profile.
func (g *Generator) Lossy(i int) bool { return g.lossy[i] }

// Stats returns the counters summed over the senders.
func (g *Generator) Stats() GenStats {
	var st GenStats
	for _, s := range g.senders {
		st.Sent += s.sent.Load()
		st.SendErrors += s.errs.Load()
		st.Heartbeats += s.kinds[wire.KindHeartbeat].Load()
		st.Samples += s.kinds[wire.KindSample].Load()
		st.Boots += s.kinds[wire.KindBoot].Load()
		st.Shutdowns += s.kinds[wire.KindShutdown].Load()
		st.MaxLag = max(st.MaxLag, time.Duration(s.maxLag.Load()))
		st.Slipped = max(st.Slipped, time.Duration(s.slipped.Load()-s.slip0.Load()))
		st.Failovers += s.failovers.Load()
		if e := s.lastErr.Load(); e != nil {
			st.LastError = *e
		}
	}
	st.Acks = g.acks.Load()
	return st
}

// AckRTT is the histogram of ACK round trips (with ReadAcks).
func (g *Generator) AckRTT() *Histogram { return g.ackRTT.Load() }

// NewPhase starts a new measured phase on a generator that goes on
// running (RunFull's load after its fill): the peaks (MaxLag, Slipped)
// and the ACK round-trip histogram start again from here. Counters (Sent,
// SendErrors, Failovers ...) stay totals, which a phase reads as
// differences.
func (g *Generator) NewPhase() {
	for _, s := range g.senders {
		s.maxLag.Store(0)
		s.slip0.Store(s.slipped.Load())
	}
	g.ackRTT.Store(new(Histogram))
}

// Close stops reading ACKs (after a short grace for the last ones) and
// closes the sockets. It is safe to call more than once; Run and Shutdown
// must have returned.
func (g *Generator) Close() error {
	g.closeOnce.Do(func() {
		if g.cfg.ReadAcks {
			t := time.NewTimer(ackGrace)
			<-t.C
		}
		g.closeErr = g.closeSockets()
		g.readers.Wait()
	})
	return g.closeErr
}

func (g *Generator) closeSockets() error {
	var errs []error
	for _, s := range g.senders {
		for _, c := range s.conns {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// readAcks counts the ACKs arriving on c and records their round trip,
// until c is closed. The MAC is not checked: nothing acts on an ACK here,
// and the harness's CPU is better spent sending.
func (g *Generator) readAcks(c *udp.Conn) {
	b := udp.NewBatch(64, 512)
	for {
		n, err := c.ReadBatch(b)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		for i := range n {
			h, err := wire.Parse(b.Payload(i))
			if err != nil || h.Kind != wire.KindAck {
				continue
			}
			a, err := wire.DecodeAck(&h)
			if err != nil {
				continue
			}
			g.acks.Add(1)
			g.ackRTT.Load().Record(time.Duration(now - a.Time - int64(a.HoldNanos)))
			if g.cfg.Cluster {
				g.clusterAck(h.Host, b.Addr(i), now)
			}
		}
	}
}

// clusterAck records, for the host an ACK answers, when it came and from
// which member, for the host's sender to decide on a fail-over. The
// host's number in its name gives its sender and place there.
func (g *Generator) clusterAck(host []byte, from netip.AddrPort, now int64) {
	num, ok := hostNumber(host)
	i := num - g.cfg.FirstHost
	if !ok || i < 0 || i >= g.cfg.Hosts {
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	for t, addr := range g.cfg.Targets {
		if addr == from {
			s := g.senders[i%len(g.senders)]
			s.acked[i/len(g.senders)].Store(now&^ackMemberMask | int64(t))
			return
		}
	}
}

// ackMemberMask keeps the member an ACK came from in the low bits of its
// time: one atomic word per host, so the reader and the sender need no lock.
const ackMemberMask = 0xf

// hostNumber parses the number of a HostName.
func hostNumber(name []byte) (int, bool) {
	const prefix = "bench-"
	if len(name) <= len(prefix) || string(name[:len(prefix)]) != prefix {
		return 0, false
	}
	n := 0
	for _, c := range name[len(prefix):] {
		if c < '0' || c > '9' || n > 1e9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// simHost is one simulated agent. It belongs to one sender goroutine.
type simHost struct {
	name    string
	seq     uint64 // next sequence number
	lastTS  int64  // last timestamp sent, unix ns
	booted  bool
	connSeq [MaxClusterMembers]uint32
	rttUS   [MaxClusterMembers]uint32
	w       walk
	// In a cluster: the member it sends to, and since when (unix ns);
	// idx is its place in its sender's hosts.
	member int
	since  int64
	idx    int
	// probing: the host came to member from one that had answered it, so
	// member has the agent's probe time to answer (see agent/cluster.go).
	probing bool
	// The network's part (NetProfile): the heartbeat schedule without
	// delays (ns after start), heartbeats so far, the burst phase, and
	// when the host is killed (ns after start; 0 = never).
	net    *NetProfile
	hbBase int64
	hbN    uint32
	phase  uint32
	killAt int64
}

// stamp returns the timestamp for the host's next message: now, but always
// after the previous one, because the daemon keeps only the first of two
// samples of a plugin with the same timestamp (the copy sent to another of
// its addresses).
func (h *simHost) stamp(now int64) int64 {
	h.lastTS = max(now, h.lastTS+1)
	return h.lastTS
}

func (h *simHost) nextSeq() uint64 {
	s := h.seq
	h.seq++
	return s
}

// event is a paced heartbeat (kind < 0) or sample of Plugins[kind] of one
// host, due at an offset from the schedule's start.
type event struct {
	due  int64 // ns after start
	host int32
	kind int16
}

// eventHeap is a binary min-heap on due. container/heap would box every
// element into an interface; with 250,000 events per sender that is
// garbage the harness does not need to make.
type eventHeap []event

func (h eventHeap) less(i, j int) bool { return h[i].due < h[j].due }

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// fixTop restores the heap after the top element's due time grew.
func (h eventHeap) fixTop() {
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// sender is one goroutine's share of the hosts with its own sockets,
// signer and buffers.
type sender struct {
	g      *Generator
	cfg    *GenConfig
	idx    int
	hosts  []simHost
	rng    *rand.Rand
	signer *wire.Signer
	inst   uint64                 // the sender instance of all its hosts' agents, as one process each
	conns  [2]*udp.Conn           // IPv4, IPv6; nil if no target of that family
	out    [2]*udp.OutBatch       // one per socket
	fam    [MaxClusterMembers]int // target index -> conns index
	buf    []byte                 // one datagram being built
	data   []byte                 // one sample's JSON
	wake   chan struct{}

	sched     eventHeap
	scheduled bool

	// rate stream state; see runRate.
	job      *rateJob
	jobBase  time.Time
	jobUnits int64 // units sent for job
	jobLimit int64 // units job asks for; 0 = unlimited
	jobDone  bool
	cursor   int64 // position in the host × plugin cycle, kept across jobs

	sent    atomic.Uint64
	errs    atomic.Uint64
	kinds   [wire.KindAck + 1]atomic.Uint64
	maxLag  atomic.Int64
	slipped atomic.Int64 // ns the paced schedule moved on; see GenConfig.MaxCatchUp
	slip0   atomic.Int64 // slipped at the start of the phase (NewPhase)
	// The paced samples: GenConfig's, or PaceSamples' once taken.
	sampleEvery time.Duration
	plugins     []Plugin
	paceTaken   bool
	lastErr     atomic.Pointer[error]

	// In a cluster: per host, the last ACK's time with its member in the
	// low bits (see clusterAck); and the fail-overs.
	acked     []atomic.Int64
	failovers atomic.Uint64
}

func newSender(g *Generator, idx int) (*sender, error) {
	cfg := &g.cfg
	s := &sender{
		g:      g,
		cfg:    cfg,
		idx:    idx,
		rng:    rand.New(rand.NewPCG(cfg.Seed, uint64(idx))),
		signer: wire.NewSigner(cfg.Key),
		buf:    make([]byte, 0, 4096),
		data:   make([]byte, 0, 2048),
		wake:   make(chan struct{}, 1),

		sampleEvery: cfg.SampleInterval,
		plugins:     cfg.Plugins,
	}
	// Each sender is a sender instance of its own for its hosts, as an
	// agent process is, so a later run never shares a replay window with
	// an earlier one for the same host names. Sequence numbers start at
	// the current time in ns, as version-1 agents' did.
	seq0 := uint64(time.Now().UnixNano())
	s.inst = wire.NewInstance(time.Now())
	// Host i goes to sender i mod Senders, so every sender has hosts from
	// the whole name range and equal shares within one.
	for i := idx; i < cfg.Hosts; i += cfg.Senders {
		h := simHost{name: HostName(cfg.FirstHost + i), seq: seq0, w: newWalk(s.rng), member: i % len(cfg.Targets), idx: len(s.hosts),
			net: &cfg.Net, killAt: int64(g.kills[i])}
		if g.lossy[i] {
			h.net = &cfg.Lossy
		}
		if h.net.BurstEvery > 0 {
			h.phase = uint32(s.rng.IntN(h.net.BurstEvery))
		}
		for t := range cfg.Targets {
			h.rttUS[t] = uint32(150 + s.rng.IntN(850))
		}
		s.hosts = append(s.hosts, h)
	}
	if cfg.Cluster {
		s.acked = make([]atomic.Int64, len(s.hosts))
	}
	for t, addr := range cfg.Targets {
		fi, network := 0, "udp4"
		if !addr.Addr().Unmap().Is4() {
			fi, network = 1, "udp6"
		}
		s.fam[t] = fi
		if s.conns[fi] != nil {
			continue
		}
		c, err := udp.ListenAny(network)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("cannot open sender socket for %s: %w", addr, err)
		}
		s.conns[fi] = c
		s.out[fi] = udp.NewOutBatch(cfg.Batch)
	}
	return s, nil
}

func (s *sender) close() {
	for _, c := range s.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// schedule puts every host's first heartbeat and samples on the heap. The
// (host, kind) pairs of all senders are spread evenly over the interval, so
// the fleet sends at a steady rate from the first second on rather than in
// bursts.
func (s *sender) schedule() {
	s.scheduled = true
	cfg := s.cfg
	kinds := len(s.plugins) + 1
	slots := int64(cfg.Hosts) * int64(kinds)
	for li := range s.hosts {
		gi := int64(li*cfg.Senders + s.idx)
		if cfg.HeartbeatInterval > 0 {
			slot := gi * int64(kinds)
			s.sched.push(event{due: int64(cfg.HeartbeatInterval) * slot / slots, host: int32(li), kind: -1})
		}
	}
	s.scheduleSamples(0)
}

// scheduleSamples puts every host's first paced sample of each plugin on
// the heap, spread over one sample interval from the offset from on, in
// the slots schedule gives them.
func (s *sender) scheduleSamples(from int64) {
	if s.sampleEvery <= 0 {
		return
	}
	cfg := s.cfg
	kinds := len(s.plugins) + 1
	slots := int64(cfg.Hosts) * int64(kinds)
	for li := range s.hosts {
		gi := int64(li*cfg.Senders + s.idx)
		for k := range s.plugins {
			slot := gi*int64(kinds) + int64(k) + 1
			s.sched.push(event{due: from + int64(s.sampleEvery)*slot/slots, host: int32(li), kind: int16(k)})
		}
	}
}

// takePace starts the paced samples PaceSamples asked for, once, from the
// schedule's offset off.
func (s *sender) takePace(off int64) {
	if s.paceTaken {
		return
	}
	p := s.g.pace.Load()
	if p == nil {
		return
	}
	s.paceTaken = true
	s.sampleEvery, s.plugins = p.every, p.plugins
	s.scheduleSamples(off)
}

// run is the sender loop: send what is due, flush, sleep until the next
// event or rate tick. With paced false only the rate job runs, and the loop
// ends when the job is done.
func (s *sender) run(ctx context.Context, start, end time.Time, paced bool) {
	if paced && !s.scheduled {
		s.schedule()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer s.flush()
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			return
		}
		if paced {
			s.takePace(int64(now.Sub(start)) - s.slipped.Load())
			s.runDue(start, now)
		}
		s.runRate(now)
		s.flush()
		if !paced && s.jobDone {
			return
		}
		next := end
		if paced && len(s.sched) > 0 && s.sched[0].due != never {
			next = minTime(next, start.Add(time.Duration(s.sched[0].due+s.slipped.Load())))
		}
		if w, ok := s.rateWake(now); ok {
			next = minTime(next, w)
		}
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// runDue sends every paced event due by now and schedules its next one.
// Schedules are offsets from start, moved on by the sender's slip (see
// GenConfig.MaxCatchUp); kills stay on the wall clock.
func (s *sender) runDue(start, now time.Time) {
	wall := int64(now.Sub(start))
	slip := s.slipped.Load()
	off := wall - slip
	if len(s.sched) > 0 && s.sched[0].due != never {
		lag := off - s.sched[0].due
		if lag > s.maxLag.Load() {
			s.maxLag.Store(lag)
		}
		if limit := s.maxCatchUp(); limit >= 0 && lag > int64(limit) {
			slip += lag
			off -= lag
			s.slipped.Store(slip)
		}
	}
	// The top of the heap is the earliest event: its lag, taken above, is
	// the worst of this call.
	for len(s.sched) > 0 && s.sched[0].due <= off {
		ev := &s.sched[0]
		if ev.kind < 0 {
			s.pacedHeartbeat(ev, wall, now)
			s.sched.fixTop()
			continue
		}
		interval := s.sampleEvery
		s.sample(&s.hosts[ev.host], s.plugins[ev.kind], now, interval.Seconds())
		ev.due += int64(interval)
		if s.cfg.Jitter > 0 {
			ev.due += int64((s.rng.Float64() - 0.5) * s.cfg.Jitter * float64(interval))
		}
		s.sched.fixTop()
	}
}

// maxCatchUp is the configured MaxCatchUp with its default applied.
func (s *sender) maxCatchUp() time.Duration {
	if s.cfg.MaxCatchUp == 0 {
		return DefaultMaxCatchUp
	}
	return s.cfg.MaxCatchUp
}

// never is the due time of a killed host's heartbeat: it sinks to the
// bottom of the heap and is never due.
const never = math.MaxInt64

// pacedHeartbeat sends (or loses, or for a killed host drops for good)
// the heartbeat event ev, and schedules the next: the undelayed schedule
// moves on by the interval (with the timer's jitter), and the network's
// delay is added to each heartbeat alone. wall is now's offset from the
// start without the sender's slip, which kills are timed by.
func (s *sender) pacedHeartbeat(ev *event, wall int64, now time.Time) {
	h := &s.hosts[ev.host]
	if h.killAt > 0 && wall >= h.killAt {
		ev.due = never
		return
	}
	if h.hbN == 0 {
		h.hbBase = ev.due
	}
	if h.net.lost(h.hbN, h.phase, s.rng) {
		s.loseHeartbeat(h)
	} else {
		s.heartbeat(h, now)
	}
	h.hbN++
	interval := int64(s.cfg.HeartbeatInterval)
	h.hbBase += interval
	if s.cfg.Jitter > 0 {
		h.hbBase += int64((s.rng.Float64() - 0.5) * s.cfg.Jitter * float64(interval))
	}
	ev.due = h.hbBase + int64(h.net.Delay.draw(s.rng))
}

// loseHeartbeat takes the conn_seq and sequence numbers of a heartbeat
// the network loses, without sending it.
func (s *sender) loseHeartbeat(h *simHost) {
	lo, hi := s.targets(h)
	for t := lo; t < hi; t++ {
		h.connSeq[t]++
		h.nextSeq()
	}
}

// rateUnits returns the job's rate in units (one sample or shutdown to
// every target) per second for this sender.
func (s *sender) rateUnits() float64 {
	return s.job.perS / float64(len(s.g.senders)) / float64(s.cfg.copies())
}

// runRate sends what the rate job owes by now: rate × time since the job
// started, minus what was sent. Debt from a stall is kept (the offered rate
// is then the configured one on average, or the report shows the harness
// fell short), but at most maxUnitsPerLoop units go out per call.
func (s *sender) runRate(now time.Time) {
	if j := s.g.job.Load(); j != s.job {
		s.job, s.jobBase, s.jobUnits, s.jobDone = j, now, 0, false
		s.jobLimit = 0
		if j != nil && j.rounds > 0 {
			per := int64(len(s.hosts))
			if !j.shutdown {
				per *= int64(len(s.cfg.RatePlugins))
			}
			s.jobLimit = int64(j.rounds) * per
		}
	}
	if s.job == nil || s.jobDone || s.job.perS <= 0 {
		return
	}
	owed := int64(s.rateUnits()*now.Sub(s.jobBase).Seconds()) - s.jobUnits
	owed = min(owed, maxUnitsPerLoop)
	nh := int64(len(s.hosts))
	elapsed := s.cfg.SampleInterval.Seconds()
	if elapsed == 0 {
		elapsed = 30
	}
	for ; owed > 0; owed-- {
		if s.jobLimit > 0 && s.jobUnits >= s.jobLimit {
			break
		}
		h := &s.hosts[s.cursor%nh]
		if s.job.shutdown {
			s.shutdownMsg(h, now)
		} else {
			p := s.cfg.RatePlugins[(s.cursor/nh)%int64(len(s.cfg.RatePlugins))]
			s.sample(h, p, now, elapsed)
		}
		s.cursor++
		s.jobUnits++
	}
	if s.jobLimit > 0 && s.jobUnits >= s.jobLimit {
		s.jobDone = true
		s.flush()
		if s.job.pending.Add(-1) == 0 {
			close(s.job.done)
		}
	}
}

// rateWake returns when the rate job next owes a batch worth of datagrams;
// ok is false when no job runs.
func (s *sender) rateWake(now time.Time) (time.Time, bool) {
	if s.job == nil || s.jobDone || s.job.perS <= 0 {
		return time.Time{}, false
	}
	units := float64(s.cfg.Batch) / float64(s.cfg.copies())
	d := time.Duration(units / s.rateUnits() * float64(time.Second))
	// Below 100 µs timers cost more than they save; above 10 ms a rate
	// change would lag visibly.
	d = min(max(d, 100*time.Microsecond), 10*time.Millisecond)
	return now.Add(d), true
}

// targets returns the targets h sends to: all, or in a cluster the one
// member it is on.
func (s *sender) targets(h *simHost) (lo, hi int) {
	if s.cfg.Cluster {
		return h.member, h.member + 1
	}
	return 0, len(s.cfg.Targets)
}

// failover moves h, in a cluster, to the next member when its member has
// sent no ACK for FailoverAfter (counted from when h came to it), give or
// take half an interval. The agent fails over on a timer, the moment
// FailoverAfter has passed, and sends a heartbeat to the next member at
// once; the simulated host only acts when it sends, so it moves at the
// heartbeat nearest that moment. Moving at the first heartbeat after it,
// as an earlier version did, was up to an interval late: with the
// defaults (fail over after 2 intervals, DOWN after 3) the daemon could
// call the host DOWN before its first heartbeat reached the next member.
// Moving at the last one before it leaves a healthy host no margin: a
// heartbeat the harness sends a little late (its pacing lags under load)
// would find the previous ACK more than an interval old. Half an interval
// is the margin both ways. As the agent does, a member the host came to
// from one that had answered it has only half an interval (at least 1 s)
// to answer: at the harness's pace, the next heartbeat.
func (s *sender) failover(h *simHost, now time.Time) {
	if !s.cfg.Cluster {
		return
	}
	ns := now.UnixNano()
	if h.since == 0 {
		h.since = ns
	}
	last := h.since
	answered := false
	if a := s.acked[h.idx].Load(); a != 0 && int(a&ackMemberMask) == h.member && a&^ackMemberMask > h.since {
		last, answered = a&^ackMemberMask, true
	}
	after := s.cfg.FailoverAfter
	if after == 0 {
		after = 2 * s.cfg.HeartbeatInterval
	}
	if h.probing && !answered {
		after = min(after, max(s.cfg.HeartbeatInterval/2, time.Second))
	}
	if ns+int64(s.cfg.HeartbeatInterval/2)-last >= int64(after) {
		h.member = (h.member + 1) % len(s.cfg.Targets)
		h.since = ns
		h.probing = answered
		s.failovers.Add(1)
	}
}

// heartbeat queues h's heartbeat to every target (and its boot first, once).
func (s *sender) heartbeat(h *simHost, now time.Time) {
	s.failover(h, now)
	ts := h.stamp(now.UnixNano())
	ms := uint32(s.cfg.HeartbeatInterval / time.Millisecond)
	lo, hi := s.targets(h)
	if s.cfg.Boot && !h.booted {
		h.booted = true
		for t := lo; t < hi; t++ {
			b, err := wire.AppendBoot(s.buf[:0], s.signer, wire.Envelope{Host: h.name, Seq: h.nextSeq(), Time: ts, Instance: s.inst},
				wire.Boot{IntervalMS: ms, AgentVersion: []byte("hbd-bench")})
			s.queue(b, t, wire.KindBoot, err)
		}
	}
	for t := lo; t < hi; t++ {
		h.connSeq[t]++
		// The RTT an agent would report: a walk around its start value.
		rtt := int64(h.rttUS[t]) + int64(s.rng.IntN(41)) - 20
		h.rttUS[t] = uint32(min(max(rtt, 50), 5000))
		b, err := wire.AppendHeartbeat(s.buf[:0], s.signer, wire.Envelope{Host: h.name, Seq: h.nextSeq(), Time: ts, Instance: s.inst},
			wire.Heartbeat{IntervalMS: ms, ConnSeq: h.connSeq[t], RTTMicros: h.rttUS[t]})
		s.queue(b, t, wire.KindHeartbeat, err)
	}
}

// sample queues one sample of p to every target, each copy with its own
// sequence number and the same timestamp, as the agent does.
func (s *sender) sample(h *simHost, p Plugin, now time.Time, elapsedS float64) {
	ts := h.stamp(now.UnixNano())
	s.data = h.w.appendSample(s.data[:0], p, s.rng, elapsedS)
	lo, hi := s.targets(h)
	for t := lo; t < hi; t++ {
		b, err := wire.AppendSample(s.buf[:0], s.signer, wire.Envelope{Host: h.name, Seq: h.nextSeq(), Time: ts, Instance: s.inst}, p.Name(), s.data)
		s.queue(b, t, wire.KindSample, err)
	}
}

func (s *sender) shutdownMsg(h *simHost, now time.Time) {
	ts := h.stamp(now.UnixNano())
	lo, hi := s.targets(h)
	for t := lo; t < hi; t++ {
		b, err := wire.AppendShutdown(s.buf[:0], s.signer, wire.Envelope{Host: h.name, Seq: h.nextSeq(), Time: ts, Instance: s.inst},
			wire.Shutdown{Reason: []byte("hbd-bench finished")})
		s.queue(b, t, wire.KindShutdown, err)
	}
}

// queue adds datagram b for target t to its socket's batch, sending the
// batch first if it is full. An encoding error can only be a harness bug
// (every input is generated valid); it is counted like a send error so it
// cannot go unnoticed.
func (s *sender) queue(b []byte, t int, k wire.Kind, encErr error) {
	if cap(b) > cap(s.buf) {
		s.buf = b[:0] // keep the grown buffer
	}
	if encErr != nil {
		s.errs.Add(1)
		err := fmt.Errorf("cannot encode %s: %w", k, encErr)
		s.lastErr.Store(&err)
		return
	}
	s.kinds[k].Add(1)
	fi := s.fam[t]
	if !s.out[fi].Add(b, s.cfg.Targets[t]) {
		s.flushOne(fi)
		s.out[fi].Add(b, s.cfg.Targets[t])
	}
}

func (s *sender) flush() {
	for fi := range s.out {
		if s.out[fi] != nil && s.out[fi].Len() > 0 {
			s.flushOne(fi)
		}
	}
}

func (s *sender) flushOne(fi int) {
	o := s.out[fi]
	n, err := s.conns[fi].WriteBatch(o)
	s.sent.Add(uint64(n))
	if err != nil {
		s.errs.Add(uint64(o.Len() - n))
		s.lastErr.Store(&err)
	}
	o.Reset()
}
