package actors

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// FleetSnapshot is an immutable view of every host, sorted by name. HTTP
// handlers read it from any goroutine without locks and without asking the
// HostActors, so listing the fleet costs the same with 100,000 hosts busy.
type FleetSnapshot struct {
	Hosts []*HostSummary // sorted by Name; never modified after publication
	// Alerting are the hosts with at least one non-OK alert, sorted by
	// name, so /api/0/alerts does not walk the whole fleet per request.
	Alerting []*HostSummary
	ByState  [numStates]int
	Built    time.Time

	// stream is the WebSocket snapshot source of this publication, made
	// when the first client asks for it (streamSnapshots) and shared by
	// every client that subscribes before the next publication.
	stream atomic.Pointer[broadcast.Hosts]
}

// Find returns the named host's summary, or nil.
func (s *FleetSnapshot) Find(name string) *HostSummary {
	i, ok := slices.BinarySearchFunc(s.Hosts, name, func(h *HostSummary, n string) int { return strings.Compare(h.Name, n) })
	if !ok {
		return nil
	}
	return s.Hosts[i]
}

// CountByState returns how many hosts are in state st.
func (s *FleetSnapshot) CountByState(st HostState) int {
	if st < numStates {
		return s.ByState[st]
	}
	return 0
}

// Fleet publishes the fleet index's snapshots. Snapshot is safe to call
// from any goroutine.
type Fleet struct {
	snap atomic.Pointer[FleetSnapshot]
}

// Snapshot returns the latest published view (never nil once the system has started).
func (f *Fleet) Snapshot() *FleetSnapshot {
	if s := f.snap.Load(); s != nil {
		return s
	}
	return &FleetSnapshot{}
}

// flushTick tells the fleet index to publish what changed.
type flushTick struct{}

// fleetActor collects HostSummary updates and publishes a new snapshot at
// most once per interval. Publishing copies the slice of pointers (800 KB
// for 100,000 hosts) and replaces the changed entries, so its cost does not
// grow with the update rate; a sort happens only when new hosts arrive, and
// then only of the new names, merged into the existing order.
type fleetActor struct {
	fleet     *Fleet
	clock     Clock
	every     time.Duration
	system    *actor.ActorSystem
	idx       map[string]int // position of each host in the current snapshot
	pending   map[string]*HostSummary
	gone      map[string]bool // hosts handed to another member (cluster mode); nil until the first
	scheduled bool
	timer     *time.Timer
	stats     *Stats
}

func newFleetActor(f *Fleet, clock Clock, every time.Duration, system *actor.ActorSystem, stats *Stats) *fleetActor {
	f.snap.Store(&FleetSnapshot{Built: clock.Now()})
	return &fleetActor{
		fleet:   f,
		clock:   clock,
		every:   every,
		system:  system,
		stats:   stats,
		idx:     make(map[string]int),
		pending: make(map[string]*HostSummary),
	}
}

func (a *fleetActor) Receive(ctx actor.Context) {
	a.stats.fleetMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *HostSummary:
		a.pending[m.Name] = m
		if a.gone != nil {
			delete(a.gone, m.Name) // handed back again
		}
		a.schedule(ctx)
	case *hostGone:
		delete(a.pending, m.name)
		if a.gone == nil {
			a.gone = make(map[string]bool)
		}
		a.gone[m.name] = true
		a.schedule(ctx)
	case *flushTick:
		a.scheduled = false
		a.publish()
	case *barrier:
		// Publish now what has arrived, for a caller that must see it.
		a.publish()
		close(m.done)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		a.publish()
	default:
		unexpected("fleet", ctx.Message())
	}
}

// schedule makes sure a publication is due.
func (a *fleetActor) schedule(ctx actor.Context) {
	if !a.scheduled {
		a.scheduled = true
		self, root := ctx.Self(), a.system.Root
		// Publishing cadence is wall-clock pacing, not logic under test,
		// so it uses a real timer even when the clock is a fake.
		a.timer = time.AfterFunc(a.every, func() { root.Send(self, &flushTick{}) })
	}
}

func (a *fleetActor) publish() {
	if len(a.gone) > 0 {
		a.forget()
	}
	if len(a.pending) == 0 {
		return
	}
	old := a.fleet.Snapshot()
	next := &FleetSnapshot{ByState: old.ByState, Built: a.clock.Now()}
	hosts := slices.Clone(old.Hosts)
	var added []*HostSummary
	alertsChanged := false
	for name, s := range a.pending {
		alertsChanged = alertsChanged || len(s.Alerts) > 0
		i, ok := a.idx[name]
		if !ok {
			added = append(added, s)
			next.ByState[s.State]++
			continue
		}
		alertsChanged = alertsChanged || len(hosts[i].Alerts) > 0
		next.ByState[hosts[i].State]--
		next.ByState[s.State]++
		hosts[i] = s
	}
	clear(a.pending)
	if len(added) > 0 {
		sort.Slice(added, func(i, j int) bool { return added[i].Name < added[j].Name })
		hosts = mergeByName(hosts, added)
		for i, h := range hosts {
			a.idx[h.Name] = i
		}
	}
	next.Hosts = hosts
	next.Alerting = old.Alerting
	if alertsChanged {
		next.Alerting = nil
		for _, h := range hosts {
			if len(h.Alerts) > 0 {
				next.Alerting = append(next.Alerting, h)
			}
		}
	}
	a.fleet.snap.Store(next)
}

// mergeByName merges two slices sorted by Name.
func mergeByName(a, b []*HostSummary) []*HostSummary {
	out := make([]*HostSummary, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i].Name < b[j].Name {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// forget publishes a snapshot without the hosts handed to another member.
func (a *fleetActor) forget() {
	old := a.fleet.Snapshot()
	next := &FleetSnapshot{ByState: old.ByState, Built: a.clock.Now()}
	next.Hosts = make([]*HostSummary, 0, len(old.Hosts))
	for _, h := range old.Hosts {
		if a.gone[h.Name] {
			next.ByState[h.State]--
			delete(a.idx, h.Name)
			continue
		}
		next.Hosts = append(next.Hosts, h)
		if len(h.Alerts) > 0 {
			next.Alerting = append(next.Alerting, h)
		}
	}
	clear(a.gone)
	for i, h := range next.Hosts {
		a.idx[h.Name] = i
	}
	a.fleet.snap.Store(next)
}
