package actors

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/clusterwire"
	"github.com/hbd-project/hbd/internal/statefile"
)

// handoffRetry is how long a hand-over waits before it sends a frame the
// new owner did not take again (it is still starting), and handoffGiveUp
// how long it keeps trying before it lets the hosts go without their
// state (logged and journaled): the new owner then knows them from their
// next datagrams.
const (
	handoffRetry  = 500 * time.Millisecond
	handoffGiveUp = 30 * time.Second
)

// newReplication prepares replication (cluster mode, or a test's
// ReplicaConfig with a Link of its own): the replicator's name, and on a
// member the replica service and the hold on each new placement
// (BeforePlacement).
func (s *System) newReplication() {
	rc := *s.cfg.Replica
	if rc.Link == nil {
		rc.Link = s.Cluster.Node
	}
	s.cfg.Replica = &rc
	s.replicator = actor.NewPID(s.actors.Address(), replicatorName)
	if s.Cluster != nil {
		s.Cluster.Node.Handle(ReplicaService, s.ReplicaFrame)
		s.Cluster.Node.BeforePublish(s.BeforePlacement)
	}
}

// startReplication spawns the replicator, in cluster mode. It needs the
// registry, so it starts after the hosts; BeforePlacement does nothing
// until it has.
func (s *System) startReplication() (func(), error) {
	rc := s.cfg.Replica
	if rc == nil {
		return func() {}, nil
	}
	_, err := s.actors.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &replicatorActor{
			link: rc.Link, self: rc.Link.Placement().Self, registry: s.Registry, every: rc.Every, clock: s.clock,
			system: s.actors, stats: s.Replica, log: s.log,
			store:     newReplicaStore(rc.MaxReplicas, s.Replica, s.clock, s.log),
			placement: rc.Link.Placement(), batch: make(map[string][]clusterwire.Record), inflight: make(map[uint64]inflight),
			notifier: s.notifier, held: make(map[string][]*alertNotice), batchNotices: make(map[string][]*alertNotice),
		}
	}), replicatorName)
	if err != nil {
		return nil, fmt.Errorf("cannot start the replicator: %w", err)
	}
	rc.Link.Subscribe(s.replicator)
	s.replicating.Store(true)
	return func() {
		s.replicating.Store(false)
		s.handoffs.Wait()
		s.poison(s.replicator)
	}, nil
}

// BeforePlacement applies a topology change to the hosts before the new
// placement reaches ingest (member.Node calls it first, on the provider's
// goroutine): after members left, the hosts this member now owns are
// restored from their replicas, so no datagram spawns one of them fresh;
// after members joined, the hosts they now own are frozen and their whole
// records taken, and handed over in the background.
func (s *System) BeforePlacement(ch *member.TopologyChanged) {
	if !s.replicating.Load() {
		return
	}
	if len(ch.Left) > 0 {
		s.takeOver(ch)
	}
	if len(ch.Joined) > 0 {
		s.handOver(ch)
	}
}

// takeOver restores the replicas of the hosts this member owns now that
// their owners left: as restored HostActors, with liveness counted from
// now (nothing turns DOWN or UNKNOWN for the move, no heartbeat alert
// fires), and their alerts handed to the notifier as after a restart
// (what was notified is not sent again; what was not, once).
func (s *System) takeOver(ch *member.TopologyChanged) {
	began := time.Now()
	reply := make(chan []*statefile.Record, 1)
	s.actors.Root.Send(s.replicator, &replicaTake{change: ch, reply: reply})
	var recs []*statefile.Record
	select {
	case recs = <-reply:
	case <-time.After(ckptWait):
		s.log.Error("the replicator did not answer a takeover in time", "left", ch.Left)
		return
	}
	if len(recs) == 0 {
		s.log.Info("cluster: members left; no replica of theirs is this member's to restore", "left", ch.Left)
		return
	}
	pids, refused := s.adopt(recs, s.clock.Now())
	s.Replica.TakenOver.Add(uint64(len(pids)))
	msg := fmt.Sprintf("took over %d hosts of %s, which left the cluster (from their replicas; liveness counts from now)", len(pids), strings.Join(ch.Left, ", "))
	if refused > 0 {
		msg += fmt.Sprintf("; %d not accepted here", refused)
	}
	s.log.Info("cluster: "+msg, "took", time.Since(began).Round(time.Millisecond))
	s.actors.Root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system", Msg: msg})
}

// adopt has the registry spawn (or update) the hosts of recs, resuming
// with liveness counted from at. It returns once the registry has them
// (a datagram routed from then on reaches them after their record), not
// once each has resumed: a starved member must not hold the placement,
// or a hand-over's ack, for that. It returns the hosts taken and how
// many were refused.
func (s *System) adopt(recs []*statefile.Record, at time.Time) ([]*actor.PID, int) {
	done := make(chan struct{}, len(recs)) // room for every answer: nobody waits on them
	reply := make(chan adoptResult, 1)
	s.actors.Root.Send(s.Registry.pid, &adoptHosts{recs: recs, at: at, done: done, reply: reply})
	select {
	case res := <-reply:
		return res.pids, res.refused
	case <-time.After(ckptWait):
		s.log.Error("the registry did not answer in time", "hosts", len(recs))
		return nil, 0
	}
}

// receiveHandoff applies a hand-over frame: its hosts are spawned here (or
// adopt the record, when a datagram spawned them first) and resume with
// liveness counted from now. The answer is the frame's ack; a member that
// is not ready (its hosts have not started) takes nothing and the sender
// tries again.
func (s *System) receiveHandoff(recs clusterwire.Records) []byte {
	ack := clusterwire.Ack{From: s.cfg.Replica.Link.Placement().Self, Seq: recs.Seq, Sent: recs.Sent}
	if !s.replicating.Load() {
		ack.Refused = uint64(len(recs.Records))
		return clusterwire.AppendAck(nil, clusterwire.KindHandoffAck, &ack)
	}
	hosts := make([]*statefile.Record, 0, len(recs.Records))
	for _, r := range recs.Records {
		h, err := statefile.DecodeHost(r.Bytes) // checked by DecodeRecords
		if err != nil {
			continue
		}
		hosts = append(hosts, &statefile.Record{Type: statefile.RecordFull, Host: h})
	}
	pids, refused := s.adopt(hosts, s.clock.Now())
	ack.Taken, ack.Refused = uint64(len(pids)), uint64(refused)
	s.Replica.Received.Add(ack.Taken)
	return clusterwire.AppendAck(nil, clusterwire.KindHandoffAck, &ack)
}

// handOver freezes the hosts that members of ch.Joined own now and takes
// their whole records (no datagram reaches them once the placement is
// published, and a frozen host cannot turn DOWN), then sends them to
// their new owners in the background, paced.
func (s *System) handOver(ch *member.TopologyChanged) {
	p := ch.New
	moving := make(map[string][]*actor.PID)
	s.Registry.each(func(name string, pid *actor.PID) {
		if o := p.Owner(name); o != p.Self && slices.Contains(ch.Joined, o) {
			moving[o] = append(moving[o], pid)
		}
	})
	for to, pids := range moving {
		recs := s.takeRecords(pids)
		s.handoffs.Add(1)
		go func() {
			defer s.handoffs.Done()
			s.sendHandoff(to, recs)
		}()
	}
}

// takeRecords asks each host for its hand-over record, a batch at a time.
func (s *System) takeRecords(pids []*actor.PID) []*replicaRecord {
	out := make([]*replicaRecord, 0, len(pids))
	for i := 0; i < len(pids); i += ckptBatch {
		batch := pids[i:min(i+ckptBatch, len(pids))]
		reply := make(chan *replicaRecord, len(batch))
		req := &handoffReq{reply: reply}
		for _, pid := range batch {
			s.actors.Root.Send(pid, req)
		}
		timeout := time.NewTimer(ckptWait)
	wait:
		for range batch {
			select {
			case r := <-reply:
				out = append(out, r)
			case <-timeout.C:
				s.log.Warn("hosts did not answer in time", "message", "hand-over")
				break wait
			}
		}
		timeout.Stop()
	}
	return out
}

// sendHandoff sends recs to member to in frames, paced, and releases each
// frame's hosts once to has taken them.
func (s *System) sendHandoff(to string, recs []*replicaRecord) {
	began := time.Now()
	link := s.cfg.Replica.Link
	self := link.Placement().Self
	sent, lost := 0, 0
	var seq uint64
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && n < clusterwire.MaxRecords && (n == 0 || size+len(recs[n].rec) <= clusterwire.MaxHandoffBytes) {
			size += len(recs[n].rec)
			n++
		}
		part := recs[:n]
		recs = recs[n:]
		seq++
		frame := &clusterwire.Records{From: self, Seq: seq, Records: make([]clusterwire.Record, len(part))}
		names := make([]string, len(part))
		for i, r := range part {
			frame.Records[i] = clusterwire.Record{Host: r.host, Seq: 1, Bytes: r.rec}
			names[i] = r.host
		}
		if s.handoffFrame(to, frame) {
			sent += len(part)
		} else {
			lost += len(part)
		}
		s.release(names)
		// Paced: a returning member gets its share back without a storm.
		time.Sleep(time.Duration(len(part)) * time.Second / handoffPace)
	}
	s.Replica.HandedOver.Add(uint64(sent))
	msg := fmt.Sprintf("handed %d hosts over to %s, which joined the cluster", sent, to)
	if lost > 0 {
		msg += fmt.Sprintf("; %d hosts let go without their state (it did not take them within %s)", lost, handoffGiveUp)
		s.log.Warn("cluster: "+msg, "took", time.Since(began).Round(time.Millisecond))
	} else {
		s.log.Info("cluster: "+msg, "took", time.Since(began).Round(time.Millisecond))
	}
	s.actors.Root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system", Msg: msg})
}

// handoffFrame sends one hand-over frame until to takes it, for up to
// handoffGiveUp; it reports whether it did.
func (s *System) handoffFrame(to string, r *clusterwire.Records) bool {
	deadline := time.Now().Add(handoffGiveUp)
	for {
		r.Sent = s.clock.Now().UnixNano()
		frame := clusterwire.AppendRecords(nil, clusterwire.KindHandoff, r)
		answer, err := s.cfg.Replica.Link.Request(to, ReplicaService, frame, handoffWait)
		if err == nil {
			k, body, perr := clusterwire.ParseHeader(answer)
			if perr == nil && k == clusterwire.KindHandoffAck {
				ack, derr := clusterwire.DecodeAck(body)
				if derr == nil && ack.Taken > 0 {
					return true
				}
				err = derr
			} else if perr != nil {
				err = perr
			}
		}
		if time.Now().After(deadline) || !s.replicating.Load() {
			s.log.Warn("cluster: a member did not take the hosts handed to it", "member", to, "hosts", len(r.Records), "err", err)
			return false
		}
		time.Sleep(handoffRetry)
	}
}

// release stops the HostActors of hosts handed over and waits until the
// registry has forgotten them.
func (s *System) release(names []string) {
	done := make(chan struct{})
	s.actors.Root.Send(s.Registry.pid, &releaseHosts{names: names, done: done})
	select {
	case <-done:
	case <-time.After(ckptWait):
		s.log.Warn("the registry did not release handed-over hosts in time", "hosts", len(names))
	}
}

// ReplicaLag is how long the oldest record not yet acknowledged by its
// successor has waited; 0 when caught up or in single-node mode.
func (s *System) ReplicaLag() time.Duration { return s.Replica.Lag(s.clock.Now()) }

// each calls f for every registered host.
func (r *Registry) each(f func(name string, pid *actor.PID)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, pid := range sh.hosts {
			f(name, pid)
		}
		sh.mu.RUnlock()
	}
}
