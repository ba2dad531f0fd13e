package actors

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/clusterwire"
	"github.com/hbd-project/hbd/transport/ingest"
)

// IngressService is the cluster service (actor "hbd-ingress" on every
// member) that takes forwarded datagrams and the ACK requests for them.
const IngressService = "ingress"

// Cluster is the System's part of cluster mode (actors/member): the
// member, the forwarding of datagrams to their hosts' owners and of ACK
// requests back to the members that received them. nil in single-node
// mode, and every user checks.
//
// Forwarding: a reader that verified a datagram of a host another member
// owns hands it to that host's clusterRoute, which queues it for the owner
// (Outbox: bounded per member, batched into frames). The owner's ingress
// feeds it to an ingest.Injector, which applies it as if read there (its
// replay window, its liveness), and the HostActor's ACK comes back as an
// ACK request to the receiving member, which sends it from the socket the
// datagram came in on: the agent's round trip stays its own path, and
// hold_ns covers the forward.
type Cluster struct {
	Node *member.Node

	sys      *System
	forward  *member.Outbox
	acks     *member.Outbox
	injector atomic.Pointer[ingest.Injector]
	log      *slog.Logger

	// Counters, read by /metrics.
	Injected     atomic.Uint64 // forwarded datagrams applied here
	Rejected     atomic.Uint64 // forwarded datagrams rejected here (counted by reason in Stats too)
	BadFrames    atomic.Uint64 // frames that did not decode: nothing of them applied
	NotReady     atomic.Uint64 // forwarded datagrams dropped: ingest had not started
	AcksSent     atomic.Uint64 // ACK requests from owners handed to our sockets
	AcksNoSocket atomic.Uint64 // ACK requests naming a socket we do not have
	notOwner     sync.Map      // member -> *atomic.Uint64: forwarded here for a host that member owns in our view (dropped)
	lastBad      atomic.Int64
}

// newCluster prepares cluster mode: the member, with its ingress
// registered. Nothing runs before the "cluster" step.
func newCluster(s *System, cfg member.Config) *Cluster {
	cfg.Logger = s.log
	c := &Cluster{sys: s, Node: member.NewNode(s.actors, cfg), log: s.log}
	c.Node.Handle(IngressService, c.ingress)
	self := c.Node.Self()
	c.forward = member.NewOutbox(c.Node, IngressService, "datagrams to forward", func(entries []byte, n int) []byte {
		return clusterwire.AppendForward(nil, self, n, entries)
	}, member.OutboxOptions{})
	c.acks = member.NewOutbox(c.Node, IngressService, "ACK requests", func(entries []byte, n int) []byte {
		return clusterwire.AppendAcks(nil, n, entries)
	}, member.OutboxOptions{})
	return c
}

// start joins the cluster; its stop leaves it, after the HostActors
// stopped (steps stop in reverse).
func (c *Cluster) start() (func(), error) {
	if err := c.Node.Start(); err != nil {
		c.forward.Stop()
		c.acks.Stop()
		return nil, err
	}
	return func() {
		c.forward.Stop()
		c.acks.Stop()
		c.Node.Stop()
	}, nil
}

// Forwarded returns the forwarding queues, one per member datagrams went
// to, with their counters.
func (c *Cluster) Forwarded() []*member.Queue { return c.forward.Queues() }

// AckRequests returns the queues of ACK requests, one per member that
// forwarded datagrams here.
func (c *Cluster) AckRequests() []*member.Queue { return c.acks.Queues() }

// NotOwner returns the datagrams other members forwarded here for hosts
// that, in this member's view, a third member owns (dropped rather than
// forwarded again), by that member.
func (c *Cluster) NotOwner() map[string]uint64 {
	out := map[string]uint64{}
	c.notOwner.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Uint64).Load(); return true })
	return out
}

// Owns reports whether this member owns host now.
func (c *Cluster) Owns(host string) bool { return c.Node.Placement().Local(host) }

// ingress handles the frames of the ingress service, on its actor's
// goroutine (so the Injector has one user).
func (c *Cluster) ingress(from string, frame []byte) []byte {
	k, body, err := clusterwire.ParseHeader(frame)
	if err == nil {
		switch k {
		case clusterwire.KindForward:
			err = clusterwire.DecodeForward(body, c.inject)
		case clusterwire.KindAcks:
			err = clusterwire.DecodeAcks(body, c.sendAck)
		default:
			err = clusterwire.ErrKind
		}
	}
	if err != nil {
		c.BadFrames.Add(1)
		now := time.Now().UnixNano()
		if last := c.lastBad.Load(); now-last >= int64(time.Minute) && c.lastBad.CompareAndSwap(last, now) {
			c.log.Warn("cluster: bad frame from a member; dropped", "from", from, "err", err, "bad_frames_total", c.BadFrames.Load())
		}
	}
	return nil
}

func (c *Cluster) inject(origin string, f *clusterwire.Forwarded) {
	inj := c.injector.Load()
	if inj == nil {
		c.NotReady.Add(1)
		return
	}
	d := ingest.Datagram{Socket: f.Socket, From: f.From, Recv: time.Unix(0, f.Recv), Raw: f.Raw}
	switch inj.Inject(origin, &d) {
	case ingest.Injected:
		c.Injected.Add(1)
	case ingest.Rejected:
		c.Rejected.Add(1)
	case ingest.NotOwner:
		// Counted by the route (countNotOwner).
	}
}

func (c *Cluster) countNotOwner(owner string) {
	v, ok := c.notOwner.Load(owner)
	if !ok {
		v, _ = c.notOwner.LoadOrStore(owner, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (c *Cluster) sendAck(a *clusterwire.AckEntry) {
	if c.sys.ingest.SendAck(ingest.AckTo{Socket: a.Socket, To: a.To, Host: a.Host, V1: a.V1, Seq: a.Seq, Sent: a.Sent, Recv: time.Unix(0, a.Recv)}) {
		c.AcksSent.Add(1)
	} else {
		c.AcksNoSocket.Add(1)
	}
}

// Ack is the ingest.AckSink of injected messages: it queues the ACK
// request for the member that received the datagram. It runs on the
// HostActors' goroutines and never blocks.
func (c *Cluster) Ack(origin string, a ingest.AckTo) {
	e := clusterwire.AppendAckEntry(nil, &clusterwire.AckEntry{Socket: a.Socket, To: a.To, Host: a.Host, V1: a.V1,
		Seq: a.Seq, Sent: a.Sent, Recv: a.Recv.UnixNano()})
	c.acks.Queue(origin).Put(e)
}

// clusterRouter is the readers' Router in cluster mode. A host owned here
// and registered gets a clusterRoute to its HostActor; one owned here and
// not registered goes through the readers' checks to the registry, as in
// single-node mode; one owned elsewhere gets a clusterRoute that forwards.
type clusterRouter struct {
	ingestRouter
	c *Cluster
}

func (r clusterRouter) Lookup(host string) (ingest.Route, bool) {
	p := r.c.Node.Placement()
	rt := &clusterRoute{c: r.c, host: host, root: r.root}
	rt.place(p)
	if rt.owner != p.Self {
		return rt, true
	}
	pid, ok := r.reg.Lookup(host)
	if !ok {
		return nil, false
	}
	rt.pid = pid
	return rt, true
}

// clusterRoute is one reader's route of one host in cluster mode. Each
// reader (and the Injector) has its own, so its cache of the owner needs
// no lock: it recomputes the owner only when the placement's version
// moved, and Rendezvous' mutex is not taken per datagram.
type clusterRoute struct {
	c       *Cluster
	root    *actor.RootContext
	host    string
	version uint64
	owner   string
	queue   *member.Queue // the owner's forwarding queue; nil when owned here
	pid     *actor.PID    // the HostActor, once known
}

func (r *clusterRoute) place(p *member.Placement) {
	// The HostActor is looked up again: a host handed over and back has
	// another one.
	r.version, r.owner, r.queue, r.pid = p.Version, p.Owner(r.host), nil, nil
	if r.owner != p.Self {
		r.queue = r.c.forward.Queue(r.owner)
	}
}

// Forward implements ingest.RemoteRoute.
func (r *clusterRoute) Forward(d *ingest.Datagram) bool {
	if p := r.c.Node.Placement(); p.Version != r.version {
		r.place(p)
	}
	if r.queue == nil {
		return false
	}
	if d.Forwarded {
		// Forwarded to us by a member whose view differs from ours: one
		// hop only, so no datagram circles while views converge.
		r.c.countNotOwner(r.owner)
		return true
	}
	r.queue.Put(clusterwire.AppendForwardEntry(nil, &clusterwire.Forwarded{Socket: d.Socket, Recv: d.Recv.UnixNano(), From: d.From, Raw: d.Raw}))
	return true
}

// Deliver hands a message of a host owned here to its HostActor, or to
// the registry while it has none.
func (r *clusterRoute) Deliver(m ingest.Message) {
	if r.pid == nil {
		pid, ok := r.c.sys.Registry.Lookup(r.host)
		if !ok {
			r.root.Send(r.c.sys.Registry.pid, m)
			return
		}
		r.pid = pid
	}
	r.root.Send(r.pid, m)
}
