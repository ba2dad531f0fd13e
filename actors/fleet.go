package actors

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/deps"
)

// FleetSnapshot is an immutable view of every host, sorted by name. HTTP
// handlers read it from any goroutine without locks and without asking the
// HostActors, so listing the fleet costs the same with 100,000 hosts busy.
type FleetSnapshot struct {
	Hosts []*HostSummary // sorted by Name; never modified after publication
	// Alerts are the fleet's non-OK alerts in /api/0/alerts' order, so
	// a request neither walks the fleet nor sorts; nil: none yet.
	Alerts  *AlertIndex
	ByState [numStates]int
	Built   time.Time
	// Partial names the cluster members whose hosts this view may miss
	// or show out of date (their fleet frames stopped, or they left);
	// sorted; nil in single-node mode and when the view is whole.
	Partial []string
	// Deps is the dependency graph (loops broken) of the hosts that
	// declared parents; shared by the publications until one changes it.
	Deps *deps.Graph

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
	scheduled bool
	timer     *time.Timer
	stats     *Stats
	self      *actor.PID

	// In a cluster (cl non-nil, see fleet_cluster.go): the hosts to take
	// out of the view at the next publication, the members it misses,
	// and whether to publish although no host changed (Partial did).
	cl      *fleetCluster
	removed map[string]struct{}
	partial []string
	force   bool

	// The hosts' declared parents (hostParents), which the next
	// publication builds a new graph of when depsDirty; loopsSeen are the
	// dependencies left out to break a loop that were logged already.
	declared  map[string][]string
	depsDirty bool
	loopsSeen map[depEdge]struct{}
	// depsBuilt is when the graph was last built; depsTimer, when set,
	// publishes the rebuild that depRebuildEvery deferred.
	depsBuilt time.Time
	depsTimer *time.Timer
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
		removed: make(map[string]struct{}),
	}
}

func (a *fleetActor) Receive(ctx actor.Context) {
	a.stats.fleetMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *HostSummary:
		a.pending[m.Name] = m
		a.noteLocal(m.Name)
		a.schedule()
	case *hostGone:
		a.handedAway(m.name)
	case *hostParents:
		a.noteParents(m)
	case *depsDue:
		a.depsTimer = nil
		a.scheduleDeps()
	case *flushTick:
		a.scheduled = false
		a.publish()
	case *barrier:
		// Publish now what has arrived, for a caller that must see it.
		a.depsBuilt = time.Time{} // the dependency graph included
		a.publish()
		close(m.done)
	case *actor.Started:
		a.self = ctx.Self()
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		if a.cl != nil && a.cl.timer != nil {
			a.cl.timer.Stop()
		}
		if a.depsTimer != nil {
			a.depsTimer.Stop()
		}
		a.publish()
	default:
		if !a.receiveCluster(ctx) {
			unexpected("fleet", ctx.Message())
		}
	}
}

// schedule arranges a publication one interval from now, unless one is
// already due.
func (a *fleetActor) schedule() {
	if a.scheduled {
		return
	}
	a.scheduled = true
	self, root := a.self, a.system.Root
	// Publishing cadence is wall-clock pacing, not logic under test,
	// so it uses a real timer even when the clock is a fake.
	a.timer = time.AfterFunc(a.every, func() { root.Send(self, &flushTick{}) })
}

func (a *fleetActor) publish() {
	if len(a.pending) == 0 && len(a.removed) == 0 && !a.force && !a.depsDue() {
		return
	}
	a.force = false
	old := a.fleet.Snapshot()
	next := &FleetSnapshot{ByState: old.ByState, Built: a.clock.Now(), Partial: a.partial}
	hosts := slices.Clone(old.Hosts)
	// The alerts of the hosts whose alerts changed, before and after:
	// the alert index is updated with them (fleet_alerts.go).
	var oldAlerts, newAlerts []*AlertEntry
	alertsChanged := false
	markAlerts := func(before, after []*AlertEntry) {
		if !sameAlerts(before, after) {
			alertsChanged = true
			oldAlerts = append(oldAlerts, before...)
			newAlerts = append(newAlerts, after...)
		}
	}
	if len(a.removed) > 0 {
		hosts = slices.DeleteFunc(hosts, func(h *HostSummary) bool {
			if _, gone := a.removed[h.Name]; !gone {
				return false
			}
			next.ByState[h.State]--
			markAlerts(h.Alerts, nil)
			delete(a.idx, h.Name)
			a.forgetParents(h.Name)
			return true
		})
		clear(a.removed)
		for i, h := range hosts {
			a.idx[h.Name] = i
		}
	}
	var added []*HostSummary
	for name, s := range a.pending {
		i, ok := a.idx[name]
		if !ok {
			markAlerts(nil, s.Alerts)
			added = append(added, s)
			next.ByState[s.State]++
			continue
		}
		markAlerts(hosts[i].Alerts, s.Alerts)
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
	next.Deps = a.depGraph(old.Deps)
	next.Alerts = old.Alerts
	if alertsChanged {
		next.Alerts = updateAlerts(old.Alerts, oldAlerts, newAlerts)
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
