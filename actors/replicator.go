package actors

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/clusterwire"
	"github.com/hbd-project/hbd/internal/statefile"
)

// Replication in cluster mode (docs/issue 15, "survive a node"). Each
// member's replicator sends the records of the hosts it owns to each
// host's successor (the member that would own it if this one left:
// member.Placement.Successor), which keeps them in a bounded replica
// store. When a member leaves, each survivor restores the replicas of the
// hosts it now owns as HostActors, through the path a restart takes
// (liveness counted from the takeover, notified alerts not sent again),
// before the new placement is published to ingest (System.BeforePlacement).
// When a member joins, the owners hand it its hosts with their whole
// record, rings included. Only an owner has a HostActor, so only the
// owner's notifier sends a host's notifications.

// ReplicaService is the cluster service (member.Node.Handle) of the
// replication frames: actor "hbd-replica" on every member.
const ReplicaService = "replica"

// ReplicaLink is what replication needs of this daemon's cluster
// membership; *member.Node is one.
type ReplicaLink interface {
	Placement() *member.Placement
	Send(member, service string, frame []byte)
	Request(member, service string, frame []byte, timeout time.Duration) ([]byte, error)
	Subscribe(pid *actor.PID)
}

// ReplicaConfig turns replication on (cluster mode); nil in single-node
// mode.
type ReplicaConfig struct {
	Link ReplicaLink
	// Every is how often the records of the hosts that changed go to
	// their successors ([cluster] replicate_every, default 2 s); alert
	// transitions, deliveries and new hosts go at once.
	Every time.Duration
	// MaxReplicas bounds the replica store (default 1,000,000 hosts):
	// records over it are refused, counted and logged.
	MaxReplicas int
}

// Replication pacing and bounds.
const (
	// replicaFlushWait is how long a record sent at once (an alert
	// transition, a delivery) waits for others to share its frame.
	replicaFlushWait = 20 * time.Millisecond
	// replicaFullEvery: every so many rounds, every host sends its
	// record, changed or not, so that a lost frame is made good.
	replicaFullEvery = 10
	// replicaInflight bounds the frames awaiting an ack; an older one
	// is given up (counted) rather than kept for ever for a dead member.
	replicaInflight = 1024
	// replicaAckWait is how long a frame may wait for its ack before it
	// is given up: the lag stops counting it. A frame is lost when its
	// successor dies or is still starting; the next rounds send its hosts'
	// records again.
	replicaAckWait = 5 * time.Second
	// handoffWait bounds a hand-over frame's round trip; handoffPace is
	// how many records a second a hand-over sends at most, so the share
	// of a returning member comes back without a storm.
	handoffWait = 5 * time.Second
	handoffPace = 20000
	// defaultMaxReplicas is MaxReplicas' default.
	defaultMaxReplicas = 1_000_000
	// replicatorName is the replicator actor's name.
	replicatorName = "replicator"
)

// ReplicaStats are replication's counters, read by /metrics.
type ReplicaStats struct {
	RecordsSent   atomic.Uint64 // records sent to successors
	FramesSent    atomic.Uint64
	Acked         atomic.Uint64 // frames acknowledged
	GivenUp       atomic.Uint64 // frames never acknowledged (replicaAckWait) or pushed out (replicaInflight)
	RefusedByPeer atomic.Uint64 // records a successor refused (its store was full)
	Stored        atomic.Int64  // replicas held for other members' hosts
	Refused       atomic.Uint64 // records refused here: the store was full
	BadFrames     atomic.Uint64 // frames that did not decode (logged)
	TakenOver     atomic.Uint64 // hosts restored from replicas after their owner left
	HandedOver    atomic.Uint64 // hosts handed to a member that joined
	Received      atomic.Uint64 // hosts received from a member's hand-over
	// oldest is the unix ns at which the oldest unacknowledged frame was
	// sent; 0: none. The lag is how long ago that was.
	oldest atomic.Int64
}

// Lag is how long the oldest record not yet acknowledged by its
// successor has waited; 0 when replication is caught up.
func (s *ReplicaStats) Lag(now time.Time) time.Duration {
	o := s.oldest.Load()
	if o == 0 {
		return 0
	}
	return max(0, now.Sub(time.Unix(0, o)))
}

// replicaStore holds the records of the hosts this member is the
// successor of: host -> (owner, record, the owner's number of it).
type replicaStore struct {
	max     int
	hosts   map[string]*replicaEntry
	stats   *ReplicaStats
	log     *slog.Logger
	clock   Clock
	fullLog time.Time // when a full store was last logged
}

type replicaEntry struct {
	owner string
	seq   uint64
	rec   []byte
}

func newReplicaStore(max int, stats *ReplicaStats, clock Clock, log *slog.Logger) *replicaStore {
	return &replicaStore{max: max, hosts: make(map[string]*replicaEntry), stats: stats, clock: clock, log: log}
}

// put keeps owner's record rec of host, numbered seq; an older record of
// the same owner than the one kept is ignored. It reports false when the
// store is full and the host new to it: refused, counted and logged (at
// most once a minute).
func (s *replicaStore) put(owner, host string, seq uint64, rec []byte) bool {
	e := s.hosts[host]
	if e == nil {
		if len(s.hosts) >= s.max {
			s.stats.Refused.Add(1)
			if now := s.clock.Now(); now.Sub(s.fullLog) >= time.Minute {
				s.fullLog = now
				s.log.Warn("replica store full: records of other members' hosts refused; a takeover would lose their state", "max", s.max, "refused_total", s.stats.Refused.Load())
			}
			return false
		}
		e = &replicaEntry{}
		s.hosts[host] = e
		s.stats.Stored.Store(int64(len(s.hosts)))
	} else if e.owner == owner && seq <= e.seq {
		return true // frames passed each other: keep the newer
	}
	// A copy: rec points into the frame, which is dropped.
	e.owner, e.seq, e.rec = owner, seq, bytes.Clone(rec)
	return true
}

// take removes and returns the records of the hosts that were owned by a
// member of left and that self owns in p. Records of hosts that another
// member owns now, or whose owner is no longer in p, are dropped: the new
// owners replicate again to their successors.
func (s *replicaStore) take(p *member.Placement, left []string) []*statefile.Record {
	var out []*statefile.Record
	for host, e := range s.hosts {
		gone := slices.Contains(left, e.owner) || !p.Has(e.owner)
		switch {
		case gone && p.Local(host):
			h, err := statefile.DecodeHost(e.rec)
			if err != nil {
				// Checked when it arrived: not expected.
				s.log.Error("cannot restore a replica", "host", host, "owner", e.owner, "err", err)
				break
			}
			out = append(out, &statefile.Record{Type: statefile.RecordFull, Host: h})
		case !gone && p.Successor(host) == p.Self && p.Owner(host) == e.owner:
			continue // still this member's to keep
		}
		delete(s.hosts, host)
	}
	s.stats.Stored.Store(int64(len(s.hosts)))
	slices.SortFunc(out, func(a, b *statefile.Record) int { return cmp.Compare(a.Host.Name, b.Host.Name) })
	return out
}

// Messages of the replicator actor.
type (
	// replicaTick starts a periodic round.
	replicaTick struct{}
	// replicaFlush sends the records waiting for their frame.
	replicaFlush struct{}
	// replicaExpire gives up the frames whose ack is overdue.
	replicaExpire struct{}
	// replicaFrame is a decoded KindReplica frame from another member.
	replicaFrame struct{ recs clusterwire.Records }
	// replicaAck is a decoded KindReplicaAck.
	replicaAck struct{ ack clusterwire.Ack }
	// replicaTake asks for the replicas this member restores after
	// members left (see replicaStore.take); answered on reply.
	replicaTake struct {
		change *member.TopologyChanged
		reply  chan<- []*statefile.Record
	}
)

// inflight is a frame awaiting its ack, with the notifications that wait
// for it.
type inflight struct {
	to      string
	sent    time.Time
	n       int
	notices []*alertNotice
}

// replicatorActor batches the owned hosts' records into frames to their
// successors, keeps the replica store of the hosts it is successor of and
// answers the frames of the others.
type replicatorActor struct {
	link     ReplicaLink
	self     string
	registry *Registry
	every    time.Duration
	clock    Clock
	system   *actor.ActorSystem
	stats    *ReplicaStats
	log      *slog.Logger
	store    *replicaStore

	// placement is the one replication works with: set before the
	// member's readers get it (BeforePlacement), so the hosts restored
	// in a takeover replicate to their new successors.
	placement *member.Placement
	batch     map[string][]clusterwire.Record // successor -> records waiting for their frame
	// Notifications wait until the successor has the transition they
	// tell of (hold): held by host until its record comes, then with the
	// record's frame (batchNotices, then inflight) until its ack.
	notifier     *actor.PID
	held         map[string][]*alertNotice
	batchNotices map[string][]*alertNotice
	flushing     bool // a replicaFlush is due
	pid          *actor.PID
	seq          uint64 // frames sent
	recSeq       uint64 // records sent: their number (clusterwire.Record.Seq)
	inflight     map[uint64]inflight
	rounds       int
	fullNext     bool
	timer        Timer
}

func (a *replicatorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.pid = ctx.Self()
		a.arm(ctx.Self())
	case *replicaRecord:
		a.add(ctx, m)
	case *alertNotice:
		a.hold(ctx, m)
	case *replicaFlush:
		a.flushing = false
		a.releaseHeld()
		for to := range a.batch {
			a.flush(to)
		}
	case *replicaTick:
		a.timer = nil
		a.round(ctx)
		a.arm(ctx.Self())
	case *replicaExpire:
		a.expire()
	case *replicaFrame:
		a.keep(m.recs)
	case *replicaAck:
		a.acked(m.ack)
	case *replicaTake:
		a.placement = m.change.New
		a.dropLeft(m.change.Left)
		m.reply <- a.store.take(m.change.New, m.change.Left)
		a.fullNext = true // new successors for some hosts
	case *member.TopologyChanged:
		if m.New.Version > a.placement.Version {
			a.placement = m.New
		}
		a.dropLeft(m.Left)
		a.fullNext = true
	case *barrier:
		a.releaseHeld()
		a.flushAll()
		close(m.done)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
	default:
		unexpected("replicator", ctx.Message())
	}
}

func (a *replicatorActor) arm(self *actor.PID) {
	root := a.system.Root
	a.timer = a.clock.AfterFunc(a.every, func() { root.Send(self, &replicaTick{}) })
}

// round asks every host for its record if it changed (every
// replicaFullEvery rounds, and after a topology change: whatever it did),
// and gives up the frames that waited too long for their ack.
func (a *replicatorActor) round(ctx actor.Context) {
	a.rounds++
	req := &replicaReq{all: a.fullNext || a.rounds%replicaFullEvery == 0}
	a.fullNext = false
	for _, pid := range a.registry.PIDs() {
		ctx.Send(pid, req)
	}
	a.expire()
	// What the hosts answer comes after this message: flush it soon.
	a.scheduleFlush(ctx)
}

// expire gives up the frames that waited too long for their ack; the
// notifications that waited for them go out.
func (a *replicatorActor) expire() {
	now := a.clock.Now()
	for seq, f := range a.inflight {
		if now.Sub(f.sent) > replicaAckWait {
			delete(a.inflight, seq)
			a.stats.GivenUp.Add(1)
			a.release(f.notices)
		}
	}
	a.noteOldest()
}

// add queues a host's record for its successor.
func (a *replicatorActor) add(ctx actor.Context, m *replicaRecord) {
	p := a.placement
	notices := a.held[m.host]
	delete(a.held, m.host)
	to := ""
	if p.Local(m.host) { // else handed over, or a change is being applied: its owner replicates it
		to = p.Successor(m.host) // "" alone: nobody to replicate to
	}
	if to == "" {
		a.release(notices)
		return
	}
	a.recSeq++
	a.batch[to] = append(a.batch[to], clusterwire.Record{Host: m.host, Seq: a.recSeq, Bytes: m.rec})
	a.batchNotices[to] = append(a.batchNotices[to], notices...)
	if len(a.batch[to]) >= clusterwire.MaxRecords {
		a.flush(to)
		return
	}
	a.scheduleFlush(ctx)
}

func (a *replicatorActor) scheduleFlush(ctx actor.Context) {
	if a.flushing {
		return
	}
	a.flushing = true
	root, self := a.system.Root, ctx.Self()
	// Batching is wall-clock pacing, not logic under test: a real timer
	// even when the clock is a fake (as the fleet index's).
	time.AfterFunc(replicaFlushWait, func() { root.Send(self, &replicaFlush{}) })
}

func (a *replicatorActor) flushAll() {
	for to := range a.batch {
		a.flush(to)
	}
}

// flush sends the records waiting for successor to.
func (a *replicatorActor) flush(to string) {
	recs := a.batch[to]
	if len(recs) == 0 {
		return
	}
	delete(a.batch, to)
	notices := a.batchNotices[to]
	delete(a.batchNotices, to)
	now := a.clock.Now()
	a.seq++
	frame := clusterwire.AppendRecords(nil, clusterwire.KindReplica, &clusterwire.Records{From: a.self, Seq: a.seq, Sent: now.UnixNano(), Records: recs})
	if len(a.inflight) >= replicaInflight {
		// A successor that does not answer: give the oldest up.
		var oldest uint64
		for seq := range a.inflight {
			if oldest == 0 || seq < oldest {
				oldest = seq
			}
		}
		a.release(a.inflight[oldest].notices)
		delete(a.inflight, oldest)
		a.stats.GivenUp.Add(1)
	}
	a.inflight[a.seq] = inflight{to: to, sent: now, n: len(recs), notices: notices}
	if len(notices) > 0 {
		// Pages wait for this ack: a successor that died must not hold
		// them longer than replicaAckWait, whatever the round's period.
		root, self := a.system.Root, a.pid
		time.AfterFunc(replicaAckWait+replicaFlushWait, func() { root.Send(self, &replicaExpire{}) })
	}
	a.noteOldest()
	a.stats.FramesSent.Add(1)
	a.stats.RecordsSent.Add(uint64(len(recs)))
	a.link.Send(to, ReplicaService, frame)
}

// acked notes a successor's ack: the notifications that waited for it
// go to the notifier.
func (a *replicatorActor) acked(ack clusterwire.Ack) {
	f, ok := a.inflight[ack.Seq]
	if !ok {
		return // given up already, or not ours
	}
	delete(a.inflight, ack.Seq)
	a.release(f.notices)
	a.stats.Acked.Add(1)
	if ack.Refused > 0 {
		a.stats.RefusedByPeer.Add(ack.Refused)
		a.log.Warn("a successor refused replicas: its store is full", "member", ack.From, "refused", ack.Refused)
	}
	a.noteOldest()
}

func (a *replicatorActor) noteOldest() {
	var oldest time.Time
	for _, f := range a.inflight {
		if oldest.IsZero() || f.sent.Before(oldest) {
			oldest = f.sent
		}
	}
	if oldest.IsZero() {
		a.stats.oldest.Store(0)
		return
	}
	a.stats.oldest.Store(oldest.UnixNano())
}

// dropLeft forgets what was on its way to members that left; the
// notifications that waited for it go out now.
func (a *replicatorActor) dropLeft(left []string) {
	for _, m := range left {
		delete(a.batch, m)
		a.release(a.batchNotices[m])
		delete(a.batchNotices, m)
		for seq, f := range a.inflight {
			if f.to == m {
				a.release(f.notices)
				delete(a.inflight, seq)
			}
		}
	}
	a.noteOldest()
}

// hold keeps a host's notification until the successor has the host's
// record that follows it (the HostActor sends the record after the
// notice, in the same message). Owner order: transition, replica,
// delivery, "notified", replica: only a member killed between a delivery
// and the last replica (milliseconds) leaves a page to be sent again, and
// then as the same event (notify.Notification.ID).
func (a *replicatorActor) hold(ctx actor.Context, m *alertNotice) {
	a.held[m.n.Host] = append(a.held[m.n.Host], m)
	a.scheduleFlush(ctx)
}

// releaseHeld sends the notifications whose host sent no record after
// them (a frozen or departing host): nothing to wait for.
func (a *replicatorActor) releaseHeld() {
	for host, ns := range a.held {
		a.release(ns)
		delete(a.held, host)
	}
}

// release hands notifications to the notifier.
func (a *replicatorActor) release(ns []*alertNotice) {
	for _, n := range ns {
		a.system.Root.Send(a.notifier, n)
	}
}

// keep stores another member's replicas and acks the frame.
func (a *replicatorActor) keep(recs clusterwire.Records) {
	ack := clusterwire.Ack{From: a.self, Seq: recs.Seq, Sent: recs.Sent}
	for _, r := range recs.Records {
		if a.store.put(recs.From, r.Host, r.Seq, r.Bytes) {
			ack.Taken++
		} else {
			ack.Refused++
		}
	}
	a.link.Send(recs.From, ReplicaService, clusterwire.AppendAck(nil, clusterwire.KindReplicaAck, &ack))
}

// ReplicaFrame handles a frame sent to the replica service (register it
// with member.Node.Handle before the node starts). Replicas and acks go to
// the replicator; a hand-over is applied before the answer, which is its
// ack. A frame that does not decode is counted, logged and changes
// nothing.
func (s *System) ReplicaFrame(from string, frame []byte) []byte {
	k, body, err := clusterwire.ParseHeader(frame)
	if err != nil {
		s.badReplicaFrame(from, err)
		return nil
	}
	switch k {
	case clusterwire.KindReplica:
		recs, err := clusterwire.DecodeRecords(body)
		if err != nil {
			s.badReplicaFrame(from, err)
			return nil
		}
		s.actors.Root.Send(s.replicator, &replicaFrame{recs: recs})
	case clusterwire.KindReplicaAck:
		ack, err := clusterwire.DecodeAck(body)
		if err != nil {
			s.badReplicaFrame(from, err)
			return nil
		}
		s.actors.Root.Send(s.replicator, &replicaAck{ack: ack})
	case clusterwire.KindHandoff:
		recs, err := clusterwire.DecodeRecords(body)
		if err != nil {
			s.badReplicaFrame(from, err)
			return nil
		}
		return s.receiveHandoff(recs)
	default:
		s.badReplicaFrame(from, fmt.Errorf("frame of kind %s sent to the replica service", k))
	}
	return nil
}

func (s *System) badReplicaFrame(from string, err error) {
	s.Replica.BadFrames.Add(1)
	now := s.clock.Now().UnixNano()
	if last := s.badFrameLog.Load(); now-last >= int64(time.Minute) && s.badFrameLog.CompareAndSwap(last, now) {
		s.log.Warn("replica frame refused", "from", from, "err", err, "refused_total", s.Replica.BadFrames.Load())
	}
}
