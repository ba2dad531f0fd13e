package member

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hbd-project/hbd/internal/logx"
)

// Providers of membership.
const (
	ProviderStatic = "static" // protoactor's automanaged provider over a static peer list
	ProviderEtcd   = "etcd"   // protoactor's etcd provider
)

// Config is what a Node needs to join its cluster; cmd/hbd fills it from
// the [cluster] table.
type Config struct {
	Name          string        // cluster name; members must agree
	Listen        string        // host:port of the remote (gRPC) listener
	Advertise     string        // host:port peers dial; "" = Listen
	Provider      string        // ProviderStatic or ProviderEtcd
	Peers         []string      // static: every member's health_listen, self included
	HealthListen  string        // static: host:port of this member's /_health
	Refresh       time.Duration // static: how often every peer is polled
	EtcdEndpoints []string      // etcd: the client endpoints
	EtcdPrefix    string        // etcd: the key prefix members register under
	// ConsensusWait bounds how long Start waits for every member to agree
	// on the topology; default 5 s. Start returns without it: a member may
	// start while the others are down.
	ConsensusWait time.Duration
	Logger        *slog.Logger
}

// TopologyChanged is sent to every subscriber (see Node.Subscribe) when
// the cluster's membership changes: the placement before and after, and
// the members that joined and left.
type TopologyChanged struct {
	Old, New     *Placement
	Joined, Left []string
}

// Handler handles one frame sent to a service of this member: from is the
// sender's advertised address when known, frame the bytes it sent. For a
// Request the returned bytes are the answer; for a Send they are dropped.
// It runs on the service actor's goroutine, one frame at a time, and must
// be quick: decode and send to your own actors.
type Handler func(from string, frame []byte) []byte

// ServicePrefix prefixes a service's name to make the name of the actor
// that receives its frames on every member.
const ServicePrefix = "hbd-"

// fromID is the name of the sender PID on one-way sends: it carries the
// sender's address and tells the receiver not to answer.
const fromID = "hbd-from"

// Node is this daemon's membership of the cluster. Build it with NewNode,
// register services with Handle, then Start; Stop leaves the cluster. In
// single-node mode there is no Node: every user checks for nil.
type Node struct {
	cfg   Config
	log   *slog.Logger
	local *actor.ActorSystem // hbd's actor system: subscribers live there
	self  string             // advertised address

	// The cluster runs in an actor system of its own: protoactor's
	// Cluster.Shutdown shuts its actor system down, which must not stop
	// hbd's HostActors, and they must not stop with the cluster either.
	system   *actor.ActorSystem
	cluster  *cluster.Cluster
	from     *actor.PID
	topoSub  *eventstream.Subscription
	health   net.Listener
	prov     cluster.ClusterProvider
	handlers map[string]Handler

	placement atomic.Pointer[Placement]
	changes   atomic.Uint64
	consensus atomic.Pointer[consensusState]
	done      chan struct{} // stops watchConsensus

	mu      sync.Mutex // guards subs, gate and the version sequence of placements
	subs    []*actor.PID
	gate    func(*TopologyChanged)
	started bool
	stopped bool
}

// NewNode prepares a member. local is the actor system of the actors that
// Subscribe; it is not the cluster's.
func NewNode(local *actor.ActorSystem, cfg Config) *Node {
	if cfg.ConsensusWait == 0 {
		cfg.ConsensusWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	self := cfg.Advertise
	if self == "" {
		self = cfg.Listen
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("cluster", cfg.Name), local: local, self: self, handlers: map[string]Handler{}}
	n.handlers[topologyService] = n.answerTopology
	n.placement.Store(NewPlacement(1, self, nil, nil, 0))
	return n
}

// Config is the configuration the node was made with.
func (n *Node) Config() Config { return n.cfg }

// Self is this member's advertised remote address.
func (n *Node) Self() string { return n.self }

// Placement is the current placement; never nil. Before the first
// topology it holds this member alone.
func (n *Node) Placement() *Placement { return n.placement.Load() }

// TopologyChanges is how many topology changes this member has seen.
func (n *Node) TopologyChanges() uint64 { return n.changes.Load() }

// Subscribe makes pid (an actor of the local system) receive a
// *TopologyChanged on every change from now on.
func (n *Node) Subscribe(pid *actor.PID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs = append(n.subs, pid)
}

// BeforePublish makes f run on every change of membership before the new
// placement is published (Placement, and the subscribers' message): the
// readers keep routing by the old one until f returns. Replication uses it
// to restore the hosts of a member that left before their datagrams come
// here. f runs on the provider's goroutine and must return within seconds.
func (n *Node) BeforePublish(f func(*TopologyChanged)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gate = f
}

// Handle registers h for frames sent to service. Call it before Start.
func (n *Node) Handle(service string, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		panic("member: Handle(" + service + ") after Start")
	}
	n.handlers[service] = h
}

func servicePID(member, service string) *actor.PID {
	return actor.NewPID(member, ServicePrefix+service)
}

// Send sends frame to service on member, one way. Nothing tells whether it
// arrived: frames that need it carry their own acknowledgement. Sending
// to Self delivers locally.
func (n *Node) Send(member, service string, frame []byte) {
	if n.system == nil {
		return
	}
	n.system.Root.RequestWithCustomSender(servicePID(member, service), wrapperspb.Bytes(frame), n.from)
}

// ErrNoAnswer is returned by Request when the member answered with
// something other than bytes (no such service there, or it is gone).
var ErrNoAnswer = errors.New("member: no answer from the service")

// Request sends frame to service on member and waits up to timeout for the
// handler's answer.
func (n *Node) Request(member, service string, frame []byte, timeout time.Duration) ([]byte, error) {
	if n.system == nil {
		return nil, fmt.Errorf("member: request to %s on %s: not started", service, member)
	}
	res, err := n.system.Root.RequestFuture(servicePID(member, service), wrapperspb.Bytes(frame), timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("member: request to %s on %s: %w", service, member, err)
	}
	b, ok := res.(*wrapperspb.BytesValue)
	if !ok {
		return nil, fmt.Errorf("%w: %s on %s answered %T", ErrNoAnswer, service, member, res)
	}
	return b.Value, nil
}

// Consensus reports whether every member of this member's topology
// gossips the same topology, and its hash, as last checked (every
// consensusEvery): the API and /metrics read it without waiting on the
// gossip actor.
func (n *Node) Consensus() (uint64, bool) {
	c := n.consensus.Load()
	if c == nil || c.version != n.Placement().Version {
		return 0, false
	}
	return c.hash, c.ok
}

// consensusEvery is how often a started node checks for consensus.
const consensusEvery = time.Second

type consensusState struct {
	version, hash uint64
	ok            bool
}

// watchConsensus keeps Consensus current until done closes.
func (n *Node) watchConsensus(done <-chan struct{}) {
	t := time.NewTicker(consensusEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		version := n.Placement().Version
		hash, ok := n.checkConsensus()
		n.consensus.Store(&consensusState{version: version, hash: hash, ok: ok})
	}
}

// topologyService is the built-in service that answers with this
// member's topology hash (8 bytes, big-endian; 0 before its first
// topology).
const topologyService = "topology"

// consensusTimeout bounds each member's answer to a consensus check.
const consensusTimeout = 500 * time.Millisecond

// answerTopology is the handler of topologyService.
func (n *Node) answerTopology(string, []byte) []byte {
	return binary.BigEndian.AppendUint64(nil, n.Placement().Hash)
}

// checkConsensus asks every member of this member's topology for its
// topology hash, over our own service (topologyService), and reports
// whether they all hold this member's. It does not read protoactor's
// gossip state: Gossip.GetState hands out the gossip actor's own
// GossipKeyValue objects, which that actor rewrites while the caller reads
// them (a data race), and protoactor's TopologyConsensus never reports one
// at the pinned version (its check collects the members' states into a
// copy of its slice, and its active member set is never filled).
func (n *Node) checkConsensus() (uint64, bool) {
	p := n.Placement()
	if n.cluster == nil || p.Hash == 0 {
		return 0, false
	}
	agree := make(chan bool, len(p.Members))
	for _, m := range p.Members {
		if m == p.Self {
			agree <- true
			continue
		}
		go func() {
			b, err := n.Request(m, topologyService, nil, consensusTimeout)
			agree <- err == nil && len(b) == 8 && binary.BigEndian.Uint64(b) == p.Hash
		}()
	}
	ok := true
	for range p.Members {
		ok = <-agree && ok
	}
	return p.Hash, ok
}

// Start joins the cluster: it starts the remote listener, the service
// actors, gossip and the provider, then waits up to ConsensusWait for
// every member to agree on the topology. An error leaves nothing running.
func (n *Node) Start() (err error) {
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	defer func() {
		if err != nil {
			n.shutdown(false)
		}
	}()
	host, port, err := splitHostPort(n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cluster listen %q: %w", n.cfg.Listen, err)
	}
	prov, err := n.provider()
	if err != nil {
		return err
	}
	n.prov = prov
	acfg := actor.Configure()
	log := n.log
	acfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger {
		return slog.New(logx.AtLeast(log.Handler(), slog.LevelWarn)).With("lib", "protoactor")
	}
	n.system = actor.NewActorSystemWithConfig(acfg)
	n.from = actor.NewPID(n.self, fromID)
	rc := remote.Configure(host, port, remote.WithAdvertisedHost(n.self))
	// The kind is never activated (no grain per host): members advertise
	// it so that Rendezvous, which filters members by kind, places hosts.
	kind := cluster.NewKind(KindHost, actor.PropsFromFunc(func(actor.Context) {}))
	ccfg := cluster.Configure(n.cfg.Name, prov, disthash.New(), rc, cluster.WithKinds(kind))
	if err := catch("create the cluster", func() { n.cluster = cluster.New(n.system, ccfg) }); err != nil {
		return err
	}
	n.topoSub = n.system.EventStream.Subscribe(n.onEvent)
	for service, h := range n.handlers {
		if _, err := n.system.Root.SpawnNamed(serviceProps(h), ServicePrefix+service); err != nil {
			return fmt.Errorf("cluster service %s: %w", service, err)
		}
	}
	// StartMember panics when the remote port is taken or the provider
	// cannot register (etcd unreachable): turn that into an error.
	if err := catch("start the member", n.cluster.StartMember); err != nil {
		return fmt.Errorf("%w (listen %s, provider %s)", err, n.cfg.Listen, n.cfg.Provider)
	}
	n.waitConsensus()
	n.done = make(chan struct{})
	go n.watchConsensus(n.done)
	return nil
}

// waitConsensus waits until every member gossips the same topology, up to
// ConsensusWait.
func (n *Node) waitConsensus() {
	start := time.Now()
	version := n.Placement().Version
	hash, ok := n.checkConsensus()
	for !ok && time.Since(start) < n.cfg.ConsensusWait {
		time.Sleep(100 * time.Millisecond)
		version = n.Placement().Version
		hash, ok = n.checkConsensus()
	}
	n.consensus.Store(&consensusState{version: version, hash: hash, ok: ok})
	p := n.Placement()
	if !ok {
		n.log.Warn("cluster: no topology consensus yet; serving with this member's view", "waited", n.cfg.ConsensusWait, "members", p.Members)
		return
	}
	n.log.Info("cluster: joined", "self", n.self, "members", p.Members, "topology", hash, "after", time.Since(start).Round(time.Millisecond))
}

// provider builds the membership provider the config names.
func (n *Node) provider() (cluster.ClusterProvider, error) {
	switch n.cfg.Provider {
	case ProviderStatic:
		return n.staticProvider()
	case ProviderEtcd:
		return &lateEtcd{cfg: n.cfg}, nil
	}
	return nil, fmt.Errorf("cluster provider %q: want %q or %q", n.cfg.Provider, ProviderStatic, ProviderEtcd)
}

// lateEtcd is protoactor's etcd provider, made when the member starts:
// its client dials (and its gRPC logs through grpclog) at once, and
// protoactor's remote.Start, which StartMember runs first, replaces
// grpclog's logger without a lock.
type lateEtcd struct {
	cfg Config
	p   *etcd.Provider
}

func (l *lateEtcd) StartMember(c *cluster.Cluster) error {
	p, err := etcd.NewWithConfig(l.cfg.EtcdPrefix, clientv3.Config{Endpoints: l.cfg.EtcdEndpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("cluster provider etcd %v: %w", l.cfg.EtcdEndpoints, err)
	}
	l.p = p
	return p.StartMember(c)
}

func (l *lateEtcd) StartClient(c *cluster.Cluster) error {
	return errors.New("cluster provider etcd: hbd starts members only")
}

func (l *lateEtcd) Shutdown(graceful bool) error {
	if l.p == nil {
		return nil
	}
	return l.p.Shutdown(graceful)
}

// staticProvider is protoactor's automanaged provider with our own health
// listener: left to itself it listens on 0.0.0.0, and in its testing mode
// (which takes a prepared echo server) it serves nothing, so the
// /_health route is ours too, answering what it would.
func (n *Node) staticProvider() (cluster.ClusterProvider, error) {
	_, hport, err := splitHostPort(n.cfg.HealthListen)
	if err != nil {
		return nil, fmt.Errorf("cluster health_listen %q: %w", n.cfg.HealthListen, err)
	}
	ln, err := net.Listen("tcp", n.cfg.HealthListen)
	if err != nil {
		return nil, fmt.Errorf("cluster health_listen: %w", err)
	}
	n.health = ln
	e := echo.New()
	e.Listener = ln
	e.HideBanner, e.HidePort = true, true
	e.GET("/_health", func(c echo.Context) error {
		host, port, err := n.system.GetHostPort()
		if err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.JSON(http.StatusOK, automanaged.NewNode(n.cfg.Name, n.system.ID, host, port, hport, []string{KindHost}))
	})
	return automanaged.NewWithTesting(n.cfg.Refresh, hport, e, n.cfg.Peers...), nil
}

// onEvent runs on the provider's goroutine for everything published on the
// cluster's event stream: it turns a topology into a placement and tells
// the subscribers, without blocking.
func (n *Node) onEvent(ev any) {
	t, ok := ev.(*cluster.ClusterTopology)
	if !ok {
		return
	}
	var addrs, ids []string
	for _, m := range t.Members {
		if m.HasKind(KindHost) {
			addrs = append(addrs, m.Address())
			ids = append(ids, m.Id)
		}
	}
	n.mu.Lock()
	old := n.placement.Load()
	next := NewPlacement(old.Version+1, n.self, addrs, ids, t.TopologyHash)
	gate := n.gate
	n.mu.Unlock()
	joined, left := diff(old, next)
	msg := &TopologyChanged{Old: old, New: next, Joined: joined, Left: left}
	if gate != nil && (len(joined) > 0 || len(left) > 0) {
		// The hosts move first (a takeover restores them here), so no
		// datagram reaches this member's readers for a host it now owns
		// before that host is back. Only this goroutine publishes
		// placements, so old stays the current one meanwhile.
		gate(msg)
	}
	n.mu.Lock()
	n.placement.Store(next)
	subs := slices.Clone(n.subs)
	n.mu.Unlock()
	n.changes.Add(1)
	if a, b := skewed(next.Members); a != "" {
		n.log.Warn("cluster: members' addresses differ only in their last character; placement hashes them unevenly (one member may get half the hosts): give them the same port on different addresses", "a", a, "b", b)
	}
	n.log.Info("cluster: topology changed", "version", next.Version, "members", next.Members, "joined", joined, "left", left, "hash", t.TopologyHash)
	for _, pid := range subs {
		n.local.Root.Send(pid, msg)
	}
}

// skewed returns two members whose addresses differ only in their last
// character, which protoactor's FNV-based rendezvous spreads badly
// (127.0.0.1:7001..7003 place 50/25/25 %), or "" when none do.
func skewed(members []string) (string, string) {
	for i, a := range members {
		for _, b := range members[i+1:] {
			if len(a) == len(b) && len(a) > 1 && a[:len(a)-1] == b[:len(b)-1] {
				return a, b
			}
		}
	}
	return "", ""
}

// Stop leaves the cluster. With the static provider the health listener
// closes first, so the others drop this member at their next poll; with
// etcd its lease expires (3 s): the provider's own Shutdown writes a flag
// its keep-alive goroutine reads without a lock. Then gossip says this
// member left and the remote listener closes at once: protoactor's
// graceful Shutdown waits 2 s for grain handovers (we have no grains) and
// up to 10 s for gRPC streams the other members keep open. Safe to call
// more than once.
func (n *Node) Stop() { n.shutdown(true) }

func (n *Node) shutdown(graceful bool) {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	n.mu.Unlock()
	if n.done != nil {
		close(n.done)
	}
	if n.topoSub != nil {
		n.system.EventStream.Unsubscribe(n.topoSub)
	}
	switch {
	case n.cluster != nil && n.cluster.Remote != nil:
		if graceful && n.cfg.Provider == ProviderStatic {
			if err := catch("stop the provider", func() { _ = n.prov.Shutdown(true) }); err != nil {
				n.log.Warn("cluster: stop", "err", err)
			}
		}
		if err := catch("stop the member", func() { n.cluster.Shutdown(false) }); err != nil {
			n.log.Warn("cluster: stop", "err", err)
		}
	case n.system != nil:
		n.system.Shutdown()
	}
	if n.health != nil {
		n.health.Close() // usually closed by the provider already
	}
}

// serviceProps is the actor that hands each frame of a service to h and,
// for a request, answers with what h returns.
func serviceProps(h Handler) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		b, ok := ctx.Message().(*wrapperspb.BytesValue)
		if !ok {
			return // lifecycle messages
		}
		sender := ctx.Sender()
		from := ""
		if sender != nil {
			from = sender.Address
		}
		out := h(from, b.Value)
		if sender != nil && sender.Id != fromID {
			ctx.Respond(wrapperspb.Bytes(out))
		}
	})
}

// catch runs f and turns a panic into an error naming what.
func catch(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: cannot %s: %v", what, r)
		}
	}()
	f()
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}
