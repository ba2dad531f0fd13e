package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/statefile"
)

// The HostActor's side of replication (cluster mode; see replicator.go).
// The owner of a host sends the host's record to the host's successor:
// what the state files keep of it (liveness, replay windows, alerts and
// what was notified, when and on which route) without the rings, which
// refill from the next samples. A hand-over to a returning member sends
// the whole record, rings included. Nothing here runs in single-node mode:
// env.replicator is nil there and the flags are never read.

// repFlags are a HostActor's replication flags.
type repFlags uint8

const (
	repDirty  repFlags = 1 << iota // changed since the record last sent to the successor
	repNow                         // send the record now: a new host, an alert transition, a delivery
	repSeen                        // a record was sent at least once
	takenOver                      // restored from another member's record
	handedOff                      // its record went to another member: it applies nothing more
)

// replicaRecord is one host's record on its way to the replicator: the
// host's name and its statefile encoding.
type replicaRecord struct {
	host string
	rec  []byte
}

// replicaReq asks a HostActor for its record if it changed since it last
// sent one (all: whatever it did), for a periodic replication round. The
// actor sends it to the replicator as a *replicaRecord.
type replicaReq struct{ all bool }

// handoffReq asks a HostActor for its whole record, rings included, to
// hand it to its new owner: the actor freezes (it is no longer this
// member's to watch) and answers on reply, which has room for every host
// asked in the same batch. A frozen host's record stays what it answered.
type handoffReq struct{ reply chan<- *replicaRecord }

// adopt gives a running HostActor the record of its host from the
// member that owned it before (a hand-over that came after the host's
// first datagram had already spawned it here): the record replaces its
// state, as a restart's would, and liveness counts from at. The actor
// answers on done, which has room for every host asked in the same batch.
type adopt struct {
	rec  *statefile.Record
	at   time.Time
	done chan<- struct{}
}

// replicaOf builds the host's record for its successor (rings false) or
// for a hand-over (rings true). Unlike checkpoint it changes none of the
// actor's bookkeeping of what the state files hold.
func (a *hostActor) replicaOf(rings bool) []byte {
	var h statefile.Host
	a.st.export(&h)
	h.Replay = exportReplay(a.replay.State())
	h.LastSent, h.LastRecv, h.LastSilence = a.lastSent, a.lastRecv, a.lastSilence
	h.Alerts = exportAlerts(a.alerts.all())
	h.Parents = a.agentParentsOf()
	if rings {
		h.RTTs = a.st.allRTTs()
		var buf []byte
		for _, r := range a.plugins {
			from := len(buf)
			buf = r.store.AppendWhole(buf)
			h.Plugins = append(h.Plugins, statefile.Plugin{Name: r.name, Ring: buf[from:len(buf):len(buf)], Held: r.store.Len()})
		}
	}
	return statefile.AppendHost(make([]byte, 0, 512), &h)
}

// allRTTs is every connection's whole RTT window, leaving what the next
// checkpoint takes (rttwin.Window.Take) as it is.
func (h *hostState) allRTTs() []statefile.RTTWindow {
	var out []statefile.RTTWindow
	for f, c := range h.conns {
		if c == nil || c.rtts == nil || c.rtts.Len() == 0 {
			continue
		}
		w := statefile.RTTWindow{Family: uint8(f), Whole: true}
		for e := range c.rtts.All() {
			w.Entries = append(w.Entries, statefile.RTTEntry{UnixMilli: e.UnixMilli, Micros: e.Micros})
		}
		out = append(out, w)
	}
	return out
}

// replicate sends the host's record to the replicator now if something
// asked for it (repNow: the host is new, an alert changed, a notification
// was delivered), so the successor has it within the replicator's flush
// delay rather than at the next round.
func (a *hostActor) replicate(ctx actor.Context) {
	if a.rep&repNow == 0 || a.env.replicator == nil || a.frozen {
		return
	}
	a.rep &^= repNow | repDirty
	ctx.Send(a.env.replicator, &replicaRecord{host: a.st.name, rec: a.replicaOf(false)})
}

// answerReplica answers a periodic round.
func (a *hostActor) answerReplica(ctx actor.Context, m *replicaReq) {
	if a.env.replicator == nil || a.frozen || (!m.all && a.rep&(repDirty|repNow) == 0 && a.rep&repSeen != 0) {
		return
	}
	a.rep = a.rep&^(repNow|repDirty) | repSeen
	ctx.Send(a.env.replicator, &replicaRecord{host: a.st.name, rec: a.replicaOf(false)})
}

// handOff freezes the host and answers its whole record.
func (a *hostActor) handOff(m *handoffReq) {
	a.pause()
	a.rep |= handedOff
	m.reply <- &replicaRecord{host: a.st.name, rec: a.replicaOf(true)}
}

// pause stops the liveness timer: the host is frozen.
func (a *hostActor) pause() {
	a.frozen = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer, a.timerAt = nil, 0
	}
}

// adoptRecord replaces the state of a running host with the record its
// previous owner handed over, and resumes it as a restored host: its
// alerts go to the notifier as after a restart (notified ones are not
// sent again, undelivered ones once).
func (a *hostActor) adoptRecord(ctx actor.Context, m *adopt) {
	a.env.stats.SamplesHeld.Add(-int64(a.samplesHeld()))
	a.env.stats.SamplesBytes.Add(-a.samplesBytes())
	a.restore([]*statefile.Record{m.rec}, m.at)
	a.declareParents(ctx)
	a.rep |= takenOver
	a.restored, a.alertsResumed = true, false
	a.resume(ctx, m.at)
	if m.done != nil {
		m.done <- struct{}{}
	}
}

// resume starts a frozen host's liveness at at and, the first time for a
// restored host, hands its alerts to the notifier.
func (a *hostActor) resume(ctx actor.Context, at time.Time) {
	a.frozen = false
	a.st.resumedAt = at
	if !a.st.dyn {
		a.st.expectSince = at
	}
	if a.rep&takenOver != 0 {
		// Not in this member's state files yet: write it whole at the
		// next checkpoint.
		a.dirty, a.needFull = true, true
	}
	a.arm(ctx.Self())
	if a.restored && !a.alertsResumed {
		// The notifier runs from here on: what was firing or never
		// delivered before the restart goes to it now.
		a.alertsResumed = true
		a.resumeAlerts(ctx)
		if a.alertsDirty {
			a.pushSummary(ctx)
		}
	}
	if a.rep&takenOver != 0 {
		// The successor of the host changed with its owner.
		a.rep |= repNow
		a.replicate(ctx)
	}
}

// adoptHosts gives the registry the hosts this member now owns, from
// their previous owner (a takeover after it left, or a hand-over): each
// is spawned from its record, or adopts it if it is already here, and
// resumes with liveness counted from at. Each host answers on done (room
// for all); the registry answers on reply how many hosts it took.
type adoptHosts struct {
	recs  []*statefile.Record
	at    time.Time
	done  chan<- struct{}
	reply chan<- adoptResult
}

// adoptResult is the registry's answer to adoptHosts: the hosts taken
// (spawned or adopted) and those refused (not declared while
// accept_dynamic is off), whose done the registry has sent itself.
type adoptResult struct {
	pids    []*actor.PID
	refused int
}

// releaseHosts tells the registry that these hosts were handed to their
// new owner: their HostActors stop and the fleet index forgets them. It
// closes done once they are gone from the Registry.
type releaseHosts struct {
	names []string
	done  chan<- struct{}
}

// adopt spawns or updates the hosts of m (see adoptHosts).
func (a *registryActor) adopt(ctx actor.Context, m *adoptHosts) {
	var res adoptResult
	for _, rec := range m.recs {
		name := rec.Host.Name
		if !a.watch[name] && !a.dynamic {
			a.log.Warn("host handed over by another member is not declared here and accept_dynamic is off; dropped", "host", name)
			res.refused++
			m.done <- struct{}{}
			continue
		}
		if pid, ok := a.reg.Lookup(name); ok {
			ctx.Send(pid, &adopt{rec: rec, at: m.at, done: m.done})
			res.pids = append(res.pids, pid)
			continue
		}
		h := newHostActor(a.env, name, !a.watch[name])
		h.saved = &savedHost{recs: []*statefile.Record{rec}, openedAt: m.at}
		h.restored, h.frozen = true, true
		h.rep |= takenOver
		pid := a.env.spawner.spawn(ctx, h)
		a.env.stats.HostsRegistered.Add(1)
		a.publish(name, pid)
		ctx.Send(pid, &resume{at: m.at, done: m.done})
		res.pids = append(res.pids, pid)
	}
	m.reply <- res
}

// release stops the HostActors of hosts handed to another member.
func (a *registryActor) release(ctx actor.Context, m *releaseHosts) {
	for _, name := range m.names {
		pid, ok := a.reg.remove(name)
		if !ok {
			continue
		}
		a.reg.count.Add(-1)
		// A poison pill, not Stop: the datagrams already in the host's
		// mailbox are taken in order (counted out of the ingest backlog,
		// applied to nothing: it was handed off) rather than dropped
		// uncounted by a stopped actor.
		ctx.Poison(pid)
		ctx.Send(a.env.fleet, &hostGone{name: name})
	}
	close(m.done)
}

// remove forgets the named host's HostActor.
func (r *Registry) remove(name string) (*actor.PID, bool) {
	sh := r.shard(name)
	sh.mu.Lock()
	pid, ok := sh.hosts[name]
	delete(sh.hosts, name)
	sh.mu.Unlock()
	return pid, ok
}

// hostGone tells the fleet index that a host is no longer this member's:
// it leaves the next snapshot.
type hostGone struct{ name string }
