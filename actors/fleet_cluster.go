package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/clusterwire"
	"github.com/hbd-project/hbd/internal/contract"
)

// One API, any node: in a cluster every member's fleet index also holds
// the other members' hosts, so /api/0/hosts, /api/0/alerts, /metrics/fleet
// and the WebSocket snapshot answer for the whole cluster from any member.
// Each fleet actor sends the summaries of its own hosts that changed to
// every other member once per fleet_every (an empty frame when none did:
// it says the member is alive), a full dump to a member that joins or
// asks, and merges what it receives into the snapshot it publishes. A
// member whose frames stop (more than three periods) is named in the
// snapshot's Partial, as is one that left while its hosts are still shown.

// FleetService is the member service the fleet frames go to.
const FleetService = "fleet"

// ClusterNode is what the fleet index needs of this daemon's cluster
// membership; *member.Node has it. In single-node mode there is none.
type ClusterNode interface {
	Self() string
	Placement() *member.Placement
	Send(member, service string, frame []byte)
	Subscribe(pid *actor.PID)
	Handle(service string, h member.Handler)
}

// Bounds of the merged view.
const (
	// maxRemoteHosts bounds the hosts the other members may add to this
	// member's view; more are refused and counted.
	maxRemoteHosts = 1_000_000
	// staleAfter periods without a frame make a member partial.
	staleAfter = 3
	// leftGrace is how long the hosts of a member that left stay in the
	// view (marked partial) for their new owners to publish them.
	leftGrace = 10 * time.Second
)

// fleetCluster is a fleet actor's cluster state; nil in single-node mode.
type fleetCluster struct {
	node  ClusterNode
	every time.Duration
	log   *slog.Logger
	// origin is the member each host in the view comes from; self for
	// this member's own hosts.
	origin map[string]string
	// changed are this member's hosts changed since the last push.
	changed map[string]struct{}
	// members are the other members heard of, with when their last
	// frame came (or when they joined) and when they left (zero: present).
	members map[string]*peerFleet
	remote  int // hosts in the view from other members
	timer   *time.Timer
	refused uint64 // other members' hosts refused: the view was full
	// detached: the exchange has stopped (the member is leaving).
	detached bool
	// publish and listening are the WebSocket hub's (nil without one):
	// other members' hosts that change are streamed as host frames too.
	publish   func(ctx actor.Context, typ, host, key string, frame []byte)
	listening func() bool
}

type peerFleet struct {
	lastFrame time.Time
	left      time.Time
}

// fleetPush makes the fleet actor send what changed to the other members.
type fleetPush struct{}

// fleetFrame is a decoded KindFleet frame, and when it arrived.
type fleetFrame struct {
	f  clusterwire.Fleet
	at time.Time
}

// fleetRequested asks the fleet actor for its whole fleet, for origin.
type fleetRequested struct{ origin string }

// JoinCluster prepares the fleet index to exchange its hosts with the
// other members of node's cluster every fleetEvery, and this member to
// answer their per-host queries. Call it before node starts (it registers
// the services) and only once; startFleetExchange starts the exchange
// once the member has joined.
func (s *System) JoinCluster(node ClusterNode, fleetEvery time.Duration) {
	pid, root, clock := s.fleetPID, s.actors.Root, s.clock
	node.Handle(FleetService, func(from string, frame []byte) []byte {
		k, body, err := clusterwire.ParseHeader(frame)
		switch {
		case err != nil:
		case k == clusterwire.KindFleet:
			var f clusterwire.Fleet
			if f, err = clusterwire.DecodeFleet(body); err == nil {
				root.Send(pid, &fleetFrame{f: f, at: clock.Now()})
				return nil
			}
		case k == clusterwire.KindFleetRequest:
			var origin string
			if origin, err = clusterwire.DecodeFleetRequest(body); err == nil {
				root.Send(pid, &fleetRequested{origin: origin})
				return nil
			}
		default:
			err = fmt.Errorf("a %s frame sent to the fleet service", k)
		}
		s.Stats.ClusterBadFrames.Add(1)
		s.log.Warn("bad fleet frame from a cluster member; ignored", "from", from, "err", err)
		return nil
	})
	node.Handle(QueryService, func(from string, frame []byte) []byte {
		return s.answerQuery(from, frame)
	})
	if fleetEvery <= 0 {
		fleetEvery = time.Second // config's default
	}
	node.Subscribe(pid)
	s.fleetJoin = &fleetCluster{node: node, every: fleetEvery, log: s.log, publish: s.publish, listening: s.listening}
}

// fleetDetach stops the exchange: nothing more is sent to the members.
type fleetDetach struct{ done chan<- struct{} }

// startFleetExchange starts the exchange prepared by JoinCluster. Its
// stop ends it before the member leaves the cluster (steps stop in
// reverse), so no frame is on its way while the member shuts down.
func (s *System) startFleetExchange() (func(), error) {
	root := s.actors.Root
	root.Send(s.fleetPID, s.fleetJoin)
	return func() {
		done := make(chan struct{})
		root.Send(s.fleetPID, &fleetDetach{done: done})
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.log.Warn("the fleet index did not stop its cluster exchange within 5 s")
		}
	}, nil
}

// QueryService is the member service that answers per-host API queries
// for the hosts this member owns.
const QueryService = "query"

// QueryHandler answers a per-host API request (a GET of uri) for another
// member, as this member's own API would; the HTTP server installs it.
type QueryHandler func(uri string) clusterwire.QueryReply

// SetQueryHandler installs the answerer of other members' per-host
// queries; until then they get 503.
func (s *System) SetQueryHandler(h QueryHandler) { s.queryHandler.Store(&h) }

// answerQuery answers a KindQuery frame with a KindQueryReply frame. It
// runs on the query service's goroutine: the answer takes what the API
// takes (a HostActor's reply, bounded by the API's query timeout).
func (s *System) answerQuery(from string, frame []byte) []byte {
	k, body, err := clusterwire.ParseHeader(frame)
	var q clusterwire.Query
	if err == nil && k != clusterwire.KindQuery {
		err = fmt.Errorf("a %s frame sent to the query service", k)
	}
	if err == nil {
		q, err = clusterwire.DecodeQuery(body)
	}
	if err != nil {
		s.Stats.ClusterBadFrames.Add(1)
		s.log.Warn("bad query frame from a cluster member; answered 400", "from", from, "err", err)
		return clusterwire.AppendQueryReply(nil, &clusterwire.QueryReply{Status: 400, ContentType: "application/json",
			Body: contract.ErrorBody("bad query frame: " + err.Error())})
	}
	h := s.queryHandler.Load()
	if h == nil {
		return clusterwire.AppendQueryReply(nil, &clusterwire.QueryReply{Status: 503, ContentType: "application/json",
			Body: contract.ErrorBody("member " + s.Cluster.Node.Self() + " is starting: its API is not up yet")})
	}
	r := (*h)(q.URI)
	return clusterwire.AppendQueryReply(nil, &r)
}

// receiveCluster handles the fleet actor's cluster messages; false for
// any other message.
func (a *fleetActor) receiveCluster(ctx actor.Context) bool {
	switch m := ctx.Message().(type) {
	case *fleetCluster:
		a.attach(m)
		a.schedulePush(ctx)
	case *member.TopologyChanged:
		if a.cl != nil {
			a.topology(m.Joined, m.Left)
		}
	case *fleetDetach:
		if a.cl != nil {
			a.cl.detached = true
			if a.cl.timer != nil {
				a.cl.timer.Stop()
			}
		}
		close(m.done)
	case *fleetPush:
		if a.cl != nil && !a.cl.detached {
			a.push()
			a.schedulePush(ctx)
		}
	case *fleetFrame:
		if a.cl != nil {
			a.merge(ctx, &m.f, m.at)
		}
	case *fleetRequested:
		if a.cl != nil && m.origin != a.cl.node.Self() {
			a.sendAll(m.origin)
		}
	default:
		return false
	}
	return true
}

// attach starts the exchange: every host so far is this member's, and
// every member of the placement is greeted.
func (a *fleetActor) attach(cl *fleetCluster) {
	cl.origin = make(map[string]string)
	cl.changed = make(map[string]struct{})
	cl.members = make(map[string]*peerFleet)
	for _, h := range a.fleet.Snapshot().Hosts {
		cl.origin[h.Name] = cl.node.Self()
	}
	for n := range a.pending {
		cl.origin[n] = cl.node.Self()
	}
	a.cl = cl
	a.topology(cl.node.Placement().Members, nil)
}

func (a *fleetActor) schedulePush(ctx actor.Context) {
	self, root := ctx.Self(), a.system.Root
	// Wall-clock pacing, like publishing.
	a.cl.timer = time.AfterFunc(a.cl.every, func() { root.Send(self, &fleetPush{}) })
}

// topology greets the members that joined (our whole fleet, and a request
// for theirs) and notes those that left.
func (a *fleetActor) topology(joined, left []string) {
	cl, now := a.cl, a.clock.Now()
	self := cl.node.Self()
	for _, m := range joined {
		if m == self {
			continue
		}
		cl.members[m] = &peerFleet{lastFrame: now}
		a.sendAll(m)
		a.send(m, clusterwire.AppendFleetRequest(nil, self))
	}
	for _, m := range left {
		if p := cl.members[m]; p != nil {
			p.left = now
		}
	}
	a.refreshPartial()
}

// noteLocal records that one of this member's hosts changed.
func (a *fleetActor) noteLocal(name string) {
	cl := a.cl
	if cl == nil {
		return
	}
	if o, ok := cl.origin[name]; ok && o != cl.node.Self() {
		cl.remote-- // taken over from another member
	}
	cl.origin[name] = cl.node.Self()
	cl.changed[name] = struct{}{}
	delete(a.removed, name)
}

// handedAway notes that one of this member's hosts went to another member
// (a hand-over): it stays in the view, as it was, until its new owner's
// fleet frame replaces it, so the cluster's list never misses it; this
// member stops sending it as its own.
func (a *fleetActor) handedAway(name string) {
	delete(a.pending, name)
	cl := a.cl
	if cl == nil {
		a.removed[name] = struct{}{}
		a.schedule()
		return
	}
	delete(cl.changed, name)
	if cl.origin[name] == cl.node.Self() {
		// Unknown until the new owner speaks: its frame counts it as
		// remote then.
		delete(cl.origin, name)
	}
}

// push sends the hosts that changed since the last push to every other
// member present, and drops the hosts of members gone for longer than
// leftGrace.
func (a *fleetActor) push() {
	cl := a.cl
	names := make([]string, 0, len(cl.changed))
	for n := range cl.changed {
		names = append(names, n)
	}
	clear(cl.changed)
	slices.Sort(names)
	frames := a.frames(names)
	for m, p := range cl.members {
		if p.left.IsZero() {
			for _, f := range frames {
				a.send(m, f)
			}
		}
	}
	now := a.clock.Now()
	for m, p := range cl.members {
		if !p.left.IsZero() && now.Sub(p.left) >= leftGrace {
			a.dropMember(m)
		}
	}
	a.refreshPartial()
}

// sendAll sends this member's whole fleet to m.
func (a *fleetActor) sendAll(m string) {
	var names []string
	self := a.cl.node.Self()
	for n, o := range a.cl.origin {
		if o == self {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, f := range a.frames(names) {
		a.send(m, f)
	}
}

// frames encodes the named local hosts' latest summaries in frames of at
// most MaxFleetHosts; one empty frame when there are none.
func (a *fleetActor) frames(names []string) [][]byte {
	self := a.cl.node.Self()
	snap := a.fleet.Snapshot()
	var out [][]byte
	f := clusterwire.Fleet{Origin: self}
	for _, n := range names {
		s := a.pending[n]
		if s == nil {
			s = snap.Find(n)
		}
		if s == nil || a.cl.origin[n] != self {
			continue
		}
		f.Hosts = append(f.Hosts, fleetHost(s))
		if len(f.Hosts) == clusterwire.MaxFleetHosts {
			out = append(out, clusterwire.AppendFleet(nil, &f))
			f.Hosts = f.Hosts[:0]
		}
	}
	if len(f.Hosts) > 0 || len(out) == 0 {
		out = append(out, clusterwire.AppendFleet(nil, &f))
	}
	return out
}

func (a *fleetActor) send(m string, frame []byte) {
	if a.cl.detached {
		return
	}
	a.stats.ClusterFleetFramesOut.Add(1)
	a.cl.node.Send(m, FleetService, frame)
}

// merge takes another member's frame into the view. This member's own
// hosts stay its own unless the placement gives them to the sender (a
// host handed over); between members, the latest frame wins.
func (a *fleetActor) merge(ctx actor.Context, f *clusterwire.Fleet, at time.Time) {
	cl := a.cl
	streaming := ctx != nil && cl.publish != nil && (cl.listening == nil || cl.listening())
	self := cl.node.Self()
	if f.Origin == self || f.Origin == "" {
		return
	}
	a.stats.ClusterFleetFramesIn.Add(1)
	p := cl.members[f.Origin]
	if p == nil {
		p = &peerFleet{}
		cl.members[f.Origin] = p
	}
	p.lastFrame, p.left = at, time.Time{}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		o, known := cl.origin[h.Name]
		if o == self && cl.node.Placement().Owner(h.Name) != f.Origin {
			continue
		}
		if !known {
			if cl.remote >= maxRemoteHosts {
				cl.refused++
				a.stats.ClusterFleetRefused.Add(1)
				if cl.refused == 1 {
					a.log().Warn("the cluster's view is full: hosts of other members refused (counted in hbd_cluster_fleet_refused_total)",
						"from", f.Origin, "max", maxRemoteHosts)
				}
				continue
			}
		}
		s, err := remoteSummary(h)
		if err != nil {
			a.stats.ClusterBadFrames.Add(1)
			continue
		}
		if !known || o == self {
			cl.remote++
		}
		cl.origin[h.Name] = f.Origin
		delete(a.removed, h.Name)
		a.pending[h.Name] = s
		if streaming {
			cl.publish(ctx, contract.FrameHost, h.Name, "", s.encodeFrame())
		}
	}
	for _, n := range f.Removed {
		if cl.origin[n] == f.Origin {
			a.remove(n)
		}
	}
	a.refreshPartial()
	a.schedule()
}

// dropMember removes the hosts a departed member still has in the view.
func (a *fleetActor) dropMember(m string) {
	for n, o := range a.cl.origin {
		if o == m {
			a.remove(n)
		}
	}
	delete(a.cl.members, m)
	a.schedule()
}

// remove takes a remote host out of the view at the next publication.
func (a *fleetActor) remove(name string) {
	delete(a.cl.origin, name)
	delete(a.pending, name)
	a.cl.remote--
	a.removed[name] = struct{}{}
	a.schedule()
}

// refreshPartial works out which members the view is missing and, if that
// changed, publishes it.
func (a *fleetActor) refreshPartial() {
	p := partialMembers(a.cl.members, a.clock.Now(), a.cl.every)
	if !slices.Equal(p, a.partial) {
		a.partial = p
		a.force = true
		a.schedule()
	}
}

// partialMembers are the members whose hosts the view may miss: no frame
// for staleAfter periods, or gone and not yet dropped; sorted.
func partialMembers(ms map[string]*peerFleet, now time.Time, every time.Duration) []string {
	var out []string
	for m, p := range ms {
		if !p.left.IsZero() || now.Sub(p.lastFrame) > staleAfter*every {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func (a *fleetActor) log() *slog.Logger {
	if a.cl != nil && a.cl.log != nil {
		return a.cl.log
	}
	return slog.Default()
}

// fleetHost is s as a fleet frame carries it.
func fleetHost(s *HostSummary) clusterwire.FleetHost {
	h := clusterwire.FleetHost{Name: s.Name, State: uint8(s.State), Dyn: s.dyn, Ver: s.ver, Interval: int64(s.interval),
		AgentVersion: s.agentVersion}
	if !s.LastSeen.IsZero() {
		h.LastSeen = s.LastSeen.UnixNano()
	}
	for i, c := range s.Conns {
		fam := uint8(0)
		if c.Family != family(0).String() {
			fam = 1
		}
		h.Conns = append(h.Conns, clusterwire.FleetConn{Family: fam, Addr: c.Address, Up: c.Up, HasRTT: c.HasRTT,
			LastSeen: unixNano(c.LastSeen), RTT: int64(c.RTT), SRTT: int64(c.SmoothedRTT), LossPct: c.LossPct, RTTQuantiles: c.RTTQuantiles,
			Suspicion: uint16(c.Suspicion), PhiMean: s.models[i].mean, PhiStd: s.models[i].std})
	}
	for _, al := range s.Alerts {
		h.Alerts = append(h.Alerts, clusterwire.FleetAlert{Path: al.Path, Level: uint8(al.Level), Since: unixNano(al.Since), JSONOpen: al.JSONOpen})
	}
	return h
}

// remoteSummary is the summary of another member's host: its JSON is
// encoded here, like a local host's, when first read.
func remoteSummary(h *clusterwire.FleetHost) (*HostSummary, error) {
	if HostState(h.State) >= numStates {
		return nil, fmt.Errorf("host %s: state %d", h.Name, h.State)
	}
	s := &HostSummary{Name: h.Name, State: HostState(h.State), dyn: h.Dyn, ver: h.Ver, interval: time.Duration(h.Interval),
		agentVersion: h.AgentVersion, LastSeen: fromUnixNano(h.LastSeen)}
	for i, c := range h.Conns {
		s.conns[i] = contract.Conn{Family: family(c.Family).String(), Address: c.Addr, Up: c.Up, HasRTT: c.HasRTT,
			LastSeen: fromUnixNano(c.LastSeen), RTT: time.Duration(c.RTT), SmoothedRTT: time.Duration(c.SRTT), LossPct: c.LossPct,
			RTTQuantiles: c.RTTQuantiles, Suspicion: contract.Suspicion(c.Suspicion)}
		s.models[i] = connModel{mean: c.PhiMean, std: c.PhiStd}
	}
	s.Conns = s.conns[:len(h.Conns):len(h.Conns)]
	for _, al := range h.Alerts {
		if alert.Level(al.Level) > alert.LevelUnknown {
			return nil, fmt.Errorf("host %s: alert level %d", h.Name, al.Level)
		}
		s.Alerts = append(s.Alerts, &AlertEntry{Host: h.Name, Path: al.Path, Level: alert.Level(al.Level), Since: fromUnixNano(al.Since), JSONOpen: al.JSONOpen})
	}
	return s, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
