package actors

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/rttwin"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/wire"
)

// checkpointReq asks a HostActor to hand over its state for a checkpoint.
// It answers on reply, which has room for every host asked in the same
// batch, with its record, or nil when nothing changed since its last one.
type checkpointReq struct {
	full  bool // the whole state (a snapshot); else what changed
	reply chan<- *statefile.Record
}

// freeze pauses a HostActor's liveness as the daemon stops: ingest has
// ended, so no heartbeat can arrive, and a deadline passing now would page
// for a host that is fine. The actor answers on done, which has room for
// every host asked in the same batch.
type freeze struct{ done chan<- struct{} }

// resume tells a restored HostActor that ingest starts now: its liveness
// deadlines count from at, and its timer may run. It answers on done, which
// has room for every host asked in the same batch.
type resume struct {
	at   time.Time
	done chan<- struct{}
}

// barrier is answered once every message sent to the actor before it has
// been processed.
type barrier struct{ done chan<- struct{} }

// checkpoint builds the host's record: everything when full (or when the
// host has never written one), else its small state and what its rings
// gained since its last record; nil when nothing changed. Rings are saved
// in their coded form (samplestore's saved form), not as JSON: a copy of
// their bytes, with no decoding, and in a delta only the records coded
// since the last save. The record shares only immutable data with the
// actor (copies, strings), so the writer may encode it on its own
// goroutine while the actor goes on.
func (a *hostActor) checkpoint(full bool) *statefile.Record {
	if !full && !a.needFull && !a.dirty {
		return nil
	}
	rec := &statefile.Record{Type: statefile.RecordDelta}
	if full || a.needFull {
		rec.Type = statefile.RecordFull
	}
	h := &rec.Host
	a.st.export(h)
	h.RTTs = a.st.exportRTTs(rec.Type == statefile.RecordFull)
	h.Replay = exportReplay(a.replay.State())
	h.LastSent, h.LastRecv, h.LastSilence = a.lastSent, a.lastRecv, a.lastSilence
	h.Alerts = exportAlerts(a.alerts.all())
	h.Parents = a.agentParentsOf()
	whole := rec.Type == statefile.RecordFull
	// The rings' bytes go into one buffer, sized for them: a whole ring is
	// about its size, a tail a few records.
	size, saved := 0, 0
	for _, r := range a.plugins {
		switch {
		case whole:
			size += r.size()
		case r.store.Changed():
			size += 64
		default:
			continue
		}
		saved++
	}
	if saved > 0 {
		buf := make([]byte, 0, size)
		h.Plugins = make([]statefile.Plugin, 0, saved)
		for _, r := range a.plugins {
			var ok bool
			var p statefile.Plugin
			if p, buf, ok = r.save(buf, whole); ok {
				h.Plugins = append(h.Plugins, p)
			}
		}
	}
	a.dirty, a.needFull = false, false
	return rec
}

// save is the ring as a checkpoint keeps it: whole, or what it gained
// since its last save (false: nothing); the ring is marked as saved. The
// bytes are appended to buf (returned) and are a copy, which the writer
// may encode on its own goroutine.
func (r *ring) save(buf []byte, whole bool) (statefile.Plugin, []byte, bool) {
	p := statefile.Plugin{Name: r.name}
	if !whole && !r.store.Changed() {
		return p, buf, false
	}
	from, tail := len(buf), false
	if whole {
		buf = r.store.AppendWhole(buf)
	} else {
		buf, tail = r.store.AppendChanges(buf)
	}
	p.Ring, p.Held = buf[from:len(buf):len(buf)], r.store.Len()
	if tail {
		p.Held = r.store.Gained()
	}
	r.store.Mark()
	return p, buf, true
}

// exportReplay is a host's replay windows as the state file keeps them.
func exportReplay(g wire.GuardState) statefile.Replay {
	r := statefile.Replay{Floor: g.Floor}
	if len(g.Instances) > 0 {
		r.Windows = make([]statefile.ReplayWindow, len(g.Instances))
	}
	for i, in := range g.Instances {
		r.Windows[i] = statefile.ReplayWindow{Instance: in.Instance, Top: in.Window.Top, Seen: in.Window.Seen, Last: in.Last, Floor: in.Floor}
	}
	return r
}

// importReplay is exportReplay's inverse. Every saved window was in use.
func importReplay(r statefile.Replay) wire.GuardState {
	g := wire.GuardState{Floor: r.Floor}
	if len(r.Windows) > 0 {
		g.Instances = make([]wire.InstanceState, len(r.Windows))
	}
	for i, w := range r.Windows {
		g.Instances[i] = wire.InstanceState{Instance: w.Instance, Window: wire.ReplayState{Top: w.Top, Seen: w.Seen, Init: true}, Last: w.Last, Floor: w.Floor}
	}
	return g
}

func exportAlerts(trackers []*alert.Tracker) []statefile.Alert {
	if len(trackers) == 0 {
		return nil
	}
	out := make([]statefile.Alert, 0, len(trackers))
	for _, t := range trackers {
		s := t.State()
		a := statefile.Alert{
			Path: s.Path, Rule: s.RuleMetric, Level: uint8(s.Level), Since: s.Since,
			LastValue: s.LastValue.Num, LastValueOK: s.LastValue.OK, LastCheck: s.LastCheck,
			NotificationCount: s.NotificationCount, Flapping: s.Flapping,
			WarnSince: s.WarnSince, CritSince: s.CritSince, WarnRun: s.WarnRun, CritRun: s.CritRun,
			Changes:       s.Changes,
			NotifiedLevel: uint8(s.NotifiedLevel), NotifiedAt: s.NotifiedAt,
		}
		for _, name := range slices.Sorted(maps.Keys(s.RouteSent)) {
			a.Routes = append(a.Routes, statefile.RouteSent{Name: name, At: s.RouteSent[name]})
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y statefile.Alert) int { return strings.Compare(x.Path, y.Path) })
	return out
}

func restoreAlert(a *statefile.Alert) *alert.Tracker {
	var routes map[string]time.Time
	if len(a.Routes) > 0 {
		routes = make(map[string]time.Time, len(a.Routes))
		for _, r := range a.Routes {
			routes[r.Name] = r.At
		}
	}
	return alert.RestoreTracker(alert.TrackerState{
		Path: a.Path, RuleMetric: a.Rule, Level: alert.Level(a.Level), Since: a.Since,
		LastValue: alert.Value{Num: a.LastValue, OK: a.LastValueOK}, LastCheck: a.LastCheck,
		NotificationCount: a.NotificationCount, Flapping: a.Flapping,
		WarnSince: a.WarnSince, CritSince: a.CritSince, WarnRun: a.WarnRun, CritRun: a.CritRun,
		Changes:       a.Changes,
		NotifiedLevel: alert.Level(a.NotifiedLevel), NotifiedAt: a.NotifiedAt, RouteSent: routes,
	})
}

// restore rebuilds the actor from its records, in order: a full record
// replaces everything, a delta replaces the small state and adds its
// samples to the rings. Rings take today's history, so a smaller history
// keeps the newest samples. openedAt is when the daemon's sockets opened:
// the agent cannot have sent anything the daemon reads from before then,
// so datagrams stamped earlier (by the agent's clock, placed against the
// daemon's with the last datagram accepted) are replays of old traffic.
func (a *hostActor) restore(recs []*statefile.Record, openedAt time.Time) {
	ringLost := false
	a.exp.mu.Lock()
	defer a.exp.mu.Unlock()
	for _, rec := range recs {
		h := &rec.Host
		if rec.Type == statefile.RecordFull {
			clear(a.plugins)
			a.st.conns = [numFamilies]*conn{} // and the RTT windows restore would keep
		}
		a.st.restore(h)
		a.st.restoreRTTs(h.RTTs)
		a.replay = wire.RestoreReplayGuard(importReplay(h.Replay))
		a.lastSent, a.lastRecv, a.lastSilence = h.LastSent, h.LastRecv, h.LastSilence
		a.restoreParents(h.Parents)
		a.alerts.reset()
		for i := range h.Alerts {
			a.alerts.put(restoreAlert(&h.Alerts[i]))
		}
		for _, p := range h.Plugins {
			r := a.plugins[p.Name]
			if r == nil {
				r = a.addRing(p.Name)
			}
			if p.Ring != nil {
				// The record's ring bytes are its own (statefile copies them
				// out of the file's buffers) and the record is dropped once
				// restored: the ring keeps them rather than a copy.
				if err := r.store.Adopt(p.Ring); err != nil {
					// The ring keeps what it held: the samples of this
					// record are lost, and said so. Write it whole next.
					a.logger().Warn("cannot restore a plugin's samples from the state files", "host", a.st.name, "plugin", p.Name, "err", err)
					a.env.stats.StateRingsLost.Add(1)
					ringLost = true
				}
				continue
			}
			for _, s := range p.Samples {
				r.insert(sample{unixNano: s.UnixNano, data: s.Data})
			}
			// Samples as JSON: files of an earlier hbd. Saved again whole,
			// the ring's next save can be a tail of these bytes.
			ringLost = ringLost || len(p.Samples) > 0
		}
	}
	for _, r := range a.plugins {
		a.env.stats.SamplesBytes.Add(r.sizeDelta())
	}
	// The files hold this state: nothing to write until it changes.
	// Deltas alone (their snapshot was lost) leave rings partial: then
	// write the whole state at the next checkpoint.
	a.needFull = len(recs) > 0 && recs[0].Type != statefile.RecordFull || ringLost
	a.dirty = a.needFull
	for _, r := range a.plugins {
		r.store.Mark()
	}
	if a.lastSent != 0 && !a.lastRecv.IsZero() {
		a.floor = a.lastSent + int64(openedAt.Sub(a.lastRecv))
	}
	a.alertsDirty = true
	a.env.stats.SamplesHeld.Add(int64(a.samplesHeld()))
	a.sampleBytes = 0
	for _, r := range a.plugins {
		a.sampleBytes += r.size()
	}
}

// export fills the liveness part of a record.
func (h *hostState) export(out *statefile.Host) {
	out.Name, out.Dyn, out.Ver, out.AgentVersion = h.name, h.dyn, h.ver, h.agentVersion
	out.Interval, out.State, out.Stopped = h.interval, uint8(h.state), h.stopped
	out.LastSeen, out.LastBoot = h.lastSeen, h.lastBoot
	out.Conns = make([]statefile.Conn, 0, numFamilies)
	for f, c := range h.conns {
		if c == nil {
			continue
		}
		out.Conns = append(out.Conns, statefile.Conn{
			Family: uint8(f), Addr: c.addr, Up: c.up, LastSeen: c.lastSeen,
			RTT: c.rtt, SRTT: c.srtt, HasRTT: c.hasRTT,
			Loss: statefile.Loss{Top: c.loss.top, Seen: c.loss.seen, Span: c.loss.span, Started: c.loss.started()},
		})
	}
}

// exportRTTs is the connections' RTT windows for a record: whole in a
// full record, else the entries added since the last record (none: the
// window is left out, and stays as the files have it).
func (h *hostState) exportRTTs(full bool) []statefile.RTTWindow {
	var out []statefile.RTTWindow
	for f, c := range h.conns {
		if c == nil || c.rtts == nil {
			continue
		}
		es, whole := c.rtts.Take(full)
		if len(es) == 0 {
			continue
		}
		w := statefile.RTTWindow{Family: uint8(f), Whole: whole, Entries: make([]statefile.RTTEntry, len(es))}
		for i, e := range es {
			w.Entries[i] = statefile.RTTEntry{UnixMilli: e.UnixMilli, Micros: e.Micros}
		}
		out = append(out, w)
	}
	return out
}

// restoreRTTs applies a record's RTT windows, after restore: a whole one
// replaces the connection's window, another adds to it.
func (h *hostState) restoreRTTs(ws []statefile.RTTWindow) {
	for _, w := range ws {
		if family(w.Family) >= numFamilies || h.conns[w.Family] == nil {
			continue
		}
		c := h.conns[w.Family]
		if c.rtts == nil || w.Whole {
			c.rtts = new(rttwin.Window)
		}
		es := make([]rttwin.Entry, len(w.Entries))
		for i, e := range w.Entries {
			es[i] = rttwin.Entry{UnixMilli: e.UnixMilli, Micros: e.Micros}
		}
		c.rtts.Restore(es)
	}
}

// restore sets the liveness state from a record. The name and dyn are the
// registry's to decide (dyn follows today's watchhosts), and the state is
// derived again from the connections rather than trusted. The RTT windows
// are kept: a delta carries only their new entries (restoreRTTs).
func (h *hostState) restore(in *statefile.Host) {
	h.ver, h.agentVersion = in.Ver, in.AgentVersion
	if in.Interval > 0 {
		h.interval = in.Interval
	}
	h.stopped, h.lastSeen, h.lastBoot = in.Stopped, in.LastSeen, in.LastBoot
	var rtts [numFamilies]*rttwin.Window
	for f, c := range h.conns {
		if c != nil {
			rtts[f] = c.rtts
		}
	}
	h.conns = [numFamilies]*conn{}
	for _, c := range in.Conns {
		if family(c.Family) >= numFamilies {
			continue
		}
		if !c.Loss.Started {
			c.Loss.Span = 0 // not started: what span 0 means
		}
		h.conns[c.Family] = &conn{
			addr: c.Addr, up: c.Up, lastSeen: c.LastSeen, rtt: c.RTT, srtt: c.SRTT, hasRTT: c.HasRTT,
			loss: lossWindow{top: c.Loss.Top, seen: c.Loss.Seen, span: c.Loss.Span},
			rtts: rtts[c.Family],
		}
	}
	// UNREACHABLE is not derived from the connections: its flag comes
	// back from the record (the HostActor re-evaluates the parents at
	// its first tick).
	h.flags.set(flagUnreachable, HostState(in.State) == StateUnreachable)
	h.state = h.derive()
	h.events = nil
}
