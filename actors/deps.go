package actors

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/deps"
	"github.com/hbd-project/hbd/internal/notify"
)

// Dependencies. A host may depend on others (its parents: the switch it
// hangs off, its hypervisor), by the daemon's [[dependencies]] rules or its
// agent's declaration. When it would turn DOWN while a parent is DOWN (or
// UNREACHABLE itself: the rule is transitive), it is UNREACHABLE instead,
// and its heartbeat alert is WARNING and pages nobody: the parent's page
// covers it, and says how many hosts depend on the parent.
//
// Each HostActor decides for its own host, reading its parents' states
// from the fleet's immutable snapshot: no actor locks or asks another.
// The fleet index builds the dependency graph from what the HostActors
// declare (hostParents), breaks loops there (deps.Build), and publishes it
// with the snapshot.
//
// The race that matters: a switch and its hosts die at the same instant,
// and a host may cross its deadline before the switch does (its last
// heartbeat was earlier in the interval). So the first heartbeat page of a
// host with parents is held (holdFor: one of its parents' heartbeat
// intervals and some slack) and sent only if, by then, no parent is DOWN;
// a host that turns UNREACHABLE meanwhile never pages. When the parents
// come back and the host is still silent, it stays UNREACHABLE for a
// settle time (its own interval and some slack, for its heartbeats to
// return with its parents'), then turns DOWN and pages at once.

// depSlack is added to the hold and the settle: the fleet index publishes
// every 50 ms, and a loaded machine runs timers late.
const depSlack = time.Second

// Bounds of the dependency poll: a host that is DOWN or UNREACHABLE and
// has parents looks at their states once per its interval, within these.
const (
	depPollMin = 250 * time.Millisecond
	depPollMax = 5 * time.Second
)

// hostParents tells the fleet index a host's declared parents (nil: none
// any more), for the dependency graph.
type hostParents struct {
	name    string
	parents []string
}

// depHost is what a HostActor keeps of its host's dependencies; nil for a
// host that has never had parents (most), which pays one pointer.
type depHost struct {
	agent    []string // declared by the host's agent
	config   []string // from the [[dependencies]] rules that match the host
	declared []string // deps.Merge of the two: what the fleet's graph has

	// cause is the parent whose outage makes the host UNREACHABLE, and
	// causeState its state (DOWN, or UNREACHABLE itself).
	cause      string
	causeState HostState
	// settleUntil: the parents are back and the host still silent; it
	// stays UNREACHABLE until then.
	settleUntil time.Time
	// held is a heartbeat page waiting, until holdUntil, for the parents'
	// state to be known; extended says the hold was extended once
	// already (a parent was SUSPECT at its end).
	held      *heldPage
	holdUntil time.Time
	extended  bool
	// waited: the hold of a DEGRADED host behind a DOWN parent was
	// extended, once, to when its other addresses are due.
	waited bool
	// ceiling: the deadline of the parents that were overdue when the
	// hold first ended (parentCeiling), fixed then, so that a parent
	// whose heartbeats come late but come cannot hold the page for ever.
	ceiling time.Time
	// released: the host turned DOWN after its parents came back; that
	// page goes out at once.
	released bool
	// paged: a heartbeat problem of the current episode went to the
	// notifier, so its recovery must go too; otherwise nobody was told.
	paged bool
}

// heldPage is a heartbeat change whose notification is held.
type heldPage struct {
	ch  alert.Change
	msg string
}

// setConfigParents gives the host the parents of the [[dependencies]]
// rules that match it (at its start and on a reload).
func (a *hostActor) setConfigParents(ctx actor.Context, rules *deps.Rules) {
	config := rules.ParentsOf(a.st.name)
	if a.dep == nil && len(config) == 0 {
		return
	}
	a.depState().config = config
	a.declareParents(ctx)
}

// depState is a.dep, made on first use.
func (a *hostActor) depState() *depHost {
	if a.dep == nil {
		a.dep = &depHost{}
	}
	return a.dep
}

// declareParents tells the fleet index the host's parents, the rules'
// and the agent's merged, when they changed.
func (a *hostActor) declareParents(ctx actor.Context) {
	d := a.dep
	if d == nil {
		return
	}
	merged := deps.Merge(a.st.name, d.config, d.agent)
	if slices.Equal(merged, d.declared) {
		return
	}
	d.declared = merged
	a.exp.parents.Store(&merged)
	ctx.Send(a.env.fleet, &hostParents{name: a.st.name, parents: merged})
}

// view is the fleet snapshot, or nil in tests that build a hostEnv by hand.
func (a *hostActor) view() *FleetSnapshot {
	if a.env.view == nil {
		return nil
	}
	return a.env.view.Snapshot()
}

// parentDown returns the first of the host's parents (as the graph has
// them, loops broken) that is DOWN or UNREACHABLE, and that parent's state.
func parentDown(snap *FleetSnapshot, name string) (string, HostState) {
	if snap == nil {
		return "", StateUnknown
	}
	for _, p := range snap.Deps.Parents(name) {
		if s := snap.Find(p); s != nil && (s.State == StateDown || s.State == StateUnreachable) {
			return p, s.State
		}
	}
	return "", StateUnknown
}

// evalDeps decides, before the liveness check, whether the host is to be
// UNREACHABLE if it is (or turns) DOWN.
func (a *hostActor) evalDeps(now time.Time) {
	d := a.dep
	if d == nil {
		return
	}
	cause, st := parentDown(a.view(), a.st.name)
	switch {
	case cause != "":
		if a.st.state == StateDown || a.st.state == StateUnreachable && cause != d.cause {
			a.st.emit("state", "parent %s is %s: the host is UNREACHABLE, its parent's page covers it", cause, st)
		}
		d.cause, d.causeState, d.settleUntil = cause, st, time.Time{}
		a.st.flags.set(flagUnreachable, true)
	case a.st.state == StateUnreachable:
		if d.settleUntil.IsZero() {
			d.settleUntil = now.Add(a.settle())
			a.st.emit("state", "no parent is DOWN any more; the host stays UNREACHABLE for %s for its own heartbeats to return", a.settle())
		}
		if now.Before(d.settleUntil) {
			return
		}
		d.settleUntil, d.cause, d.released = time.Time{}, "", true
		a.st.flags.set(flagUnreachable, false)
	default:
		d.cause, d.settleUntil = "", time.Time{}
		a.st.flags.set(flagUnreachable, false)
	}
}

// settle is how long an UNREACHABLE host whose parents are back waits
// for its own heartbeats before it turns DOWN: its interval, and slack.
func (a *hostActor) settle() time.Duration {
	return a.st.interval + a.env.depSlack()
}

// depSlack is depSlack, plus in a cluster the period of the fleet frames
// that bring other members' hosts' states.
func (e *hostEnv) depSlack() time.Duration {
	return depSlack + e.fleetLag
}

// holdFor is how long a heartbeat page of the host is held: the longest
// heartbeat interval among its parents (a parent that died with it may
// cross its deadline up to one of its intervals later), and slack.
func (a *hostActor) holdFor(snap *FleetSnapshot) time.Duration {
	longest := a.st.interval
	if snap != nil {
		for _, p := range snap.Deps.Parents(a.st.name) {
			if s := snap.Find(p); s != nil && s.interval > longest {
				longest = s.interval
			}
		}
	}
	return longest + a.env.depSlack()
}

// depGate decides what becomes of a heartbeat change's notification on a
// host with parents: an UNREACHABLE host's is dropped, and a page held
// for it is dropped with it; a problem is held until the parents' state
// is known (unless it follows the parents' return: then it goes at once);
// a recovery goes only if a problem of its episode went.
func (a *hostActor) depGate(ctx actor.Context, ch alert.Change, msg string) alert.Change {
	d := a.dep
	if d == nil || !ch.Notify || a.env.notifier == nil {
		return ch
	}
	now := ch.At
	switch {
	case a.st.state == StateUnreachable:
		if d.held != nil {
			a.journalf(ctx, now, "notify", "heartbeat %s not sent: the host is UNREACHABLE behind %s, whose page covers it", d.held.ch.To, d.cause)
			d.held = nil
		}
		ch.Notify = false
	case ch.Kind == alert.ChangeRecovery:
		if d.held != nil {
			a.journalf(ctx, now, "notify", "heartbeat problem and recovery within the dependency hold: neither sent")
		}
		ch.Notify = d.paged
		d.held, d.paged, d.released = nil, false, false
	case ch.Kind != alert.ChangeLevel:
		// Flapping starts and stops go as they are.
		d.paged = true
	case d.released:
		d.released, d.paged = false, true
	case d.held != nil:
		// DEGRADED, then DOWN within the hold: one page, at the level
		// reached, telling where it came from.
		first, page := d.held.ch, ch
		page.From = first.From
		d.held = &heldPage{ch: page, msg: strings.Replace(msg, ch.Path+" "+first.To.String()+" -> ", ch.Path+" "+first.From.String()+" -> ", 1)}
		ch.Notify = false
	default:
		snap := a.view()
		if snap == nil || len(snap.Deps.Parents(a.st.name)) == 0 {
			// Its parents were removed, or its dependencies closed a
			// loop and were left out: it pages as any host.
			d.paged = true
			return ch
		}
		hold := a.holdFor(snap)
		d.held, d.holdUntil, d.extended, d.waited, d.ceiling = &heldPage{ch: ch, msg: msg}, now.Add(hold), false, false, time.Time{}
		a.journalf(ctx, now, "notify", "heartbeat %s held for up to %s until the state of its parents (%s) is known", ch.To, hold.Round(time.Millisecond), strings.Join(d.declared, ", "))
		ch.Notify = false
	}
	return ch
}

// releaseHeldPage sends a held page whose hold has ended, if the host is
// still DOWN or DEGRADED and no parent is DOWN: the host failed on its own.
// A parent still SUSPECT extends the hold once; one that is overdue
// extends it up to its own deadline (parentCeiling). A host that turned
// UNREACHABLE during the hold drops the page: DEGRADED and UNREACHABLE are
// both WARNING, so that turn is no level change and never passed depGate.
// A DEGRADED host whose parent is DOWN waits, once, until its addresses
// still up are due: the parent's outage may take them too (then it is
// UNREACHABLE and the page is dropped); if one is still heartbeating the
// host is DEGRADED on its own, and the page goes.
func (a *hostActor) releaseHeldPage(ctx actor.Context, now time.Time) {
	d := a.dep
	if d == nil || d.held == nil || now.Before(d.holdUntil) {
		return
	}
	if a.st.state == StateUnreachable {
		a.journalf(ctx, now, "notify", "heartbeat %s not sent: the host is UNREACHABLE behind %s, whose page covers it", d.held.ch.To, d.cause)
		d.held = nil
		return
	}
	snap := a.view()
	if p, _ := parentDown(snap, a.st.name); p != "" && a.st.state == StateDegraded && !d.waited {
		if t := a.st.lastDownAt().Add(a.env.depSlack()); now.Before(t) {
			d.waited, d.holdUntil = true, t
			return
		}
	}
	if until := a.parentCeiling(snap, now); !until.IsZero() {
		if d.ceiling.IsZero() {
			d.ceiling = until
		}
		if now.Before(d.ceiling) {
			// Looked at again every parent interval: a parent that
			// only missed a heartbeat is not overdue at the next look.
			d.holdUntil = d.ceiling
			if next := now.Add(a.holdFor(snap)); next.Before(d.ceiling) {
				d.holdUntil = next
			}
			return
		}
	}
	if !d.extended && parentSuspect(snap, a.st.name) {
		d.extended = true
		d.holdUntil = now.Add(a.holdFor(snap))
		return
	}
	h := d.held
	d.held = nil
	t := a.alerts.get(heartbeatMetric)
	if t == nil || t.Level != h.ch.To {
		return
	}
	d.paged = true
	a.sendNotice(ctx, t, h.ch, h.msg)
}

// parentCeiling is, when one of the host's parents is overdue (silent for
// longer than its interval and the slack, and not DOWN yet), the latest
// moment its fixed rule turns it DOWN if it stays silent, and some slack;
// zero if no parent is overdue. A host's own detector may be quicker than its
// parent's (adaptive under a parent on the fixed rule, or a parent with a
// higher down_after), so a parent that died with it can cross its
// deadline more than one interval after the host: the hold lasts until
// then. A parent that is alive is not overdue, and delays nothing.
func (a *hostActor) parentCeiling(snap *FleetSnapshot, now time.Time) time.Time {
	var until time.Time
	if snap == nil {
		return until
	}
	for _, p := range snap.Deps.Parents(a.st.name) {
		s := snap.Find(p)
		if s == nil || s.LastSeen.IsZero() || s.interval <= 0 || s.State == StateDown || s.State == StateUnreachable || s.State == StateStopped ||
			now.Sub(s.LastSeen) <= s.interval+a.env.depSlack() {
			continue
		}
		downAfter := a.env.downAfter
		if det := a.env.liveness.forHost(p); det != nil && det.DownAfter > 0 {
			downAfter = det.DownAfter
		}
		// Its deadline counts from the daemon's resume when that is
		// later (hostState.deadline): the parent's own member resumed it,
		// which for a parent on this member is when this host resumed.
		base := s.LastSeen
		if a.st.resumedAt.After(base) {
			base = a.st.resumedAt
		}
		if t := base.Add(time.Duration(downAfter)*s.interval + a.env.depSlack()); t.After(until) {
			until = t
		}
	}
	return until
}

// parentSuspect reports whether one of name's parents is SUSPECT or
// DEGRADED (an address family already down): it may be about to turn DOWN.
func parentSuspect(snap *FleetSnapshot, name string) bool {
	if snap == nil {
		return false
	}
	for _, p := range snap.Deps.Parents(name) {
		if s := snap.Find(p); s != nil && (s.State == StateSuspect || s.State == StateDegraded) {
			return true
		}
	}
	return false
}

// depDeadline is when the host must look at its dependencies again: the
// end of a hold or a settle, or, while it is DOWN or UNREACHABLE, its next
// poll of its parents' states. Zero if nothing is pending.
func (a *hostActor) depDeadline(now time.Time) time.Time {
	d := a.dep
	if d == nil {
		return time.Time{}
	}
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if d.held != nil {
		earliest(d.holdUntil)
	}
	earliest(d.settleUntil)
	if a.st.state == StateDown || a.st.state == StateUnreachable {
		earliest(now.Add(min(max(a.st.interval, depPollMin), depPollMax)))
	}
	return next
}

// noteDependents adds to a heartbeat notification how many hosts depend
// on the host, and names a few.
func (a *hostActor) noteDependents(n *notify.Notification) {
	if n.MetricPath != heartbeatMetric {
		return
	}
	snap := a.view()
	if snap == nil {
		return
	}
	n.Dependents, n.DependentHosts = snap.Deps.Affected(a.st.name, notify.MaxDependentsListed)
	if n.Dependents > 0 && n.Kind != notify.KindRecovery {
		n.Message += " (" + n.DependentsText() + ")"
	}
}

// livenessWhy is the reason of a heartbeat alert's level that depends on
// the host's dependencies; "" when they play no part.
func (a *hostActor) livenessWhy() string {
	d := a.dep
	switch {
	case d == nil:
		return ""
	case a.st.state == StateUnreachable && d.cause == "":
		return "host UNREACHABLE: no heartbeat, and a parent is DOWN"
	case a.st.state == StateUnreachable:
		return fmt.Sprintf("host UNREACHABLE: no heartbeat, and its parent %s is %s", d.cause, d.causeState)
	case a.st.state == StateDown && d.released:
		return "host DOWN: no heartbeat on any address, and still none since its parents came back"
	}
	return ""
}

func (a *hostActor) journalf(ctx actor.Context, now time.Time, kind, format string, args ...any) {
	ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// depEdge is one dependency, as the fleet index remembers the loops it
// has logged.
type depEdge struct{ child, parent string }

// noteParents records a host's declared parents for the next graph.
func (a *fleetActor) noteParents(m *hostParents) {
	if a.declared == nil {
		a.declared = make(map[string][]string)
	}
	if len(m.parents) == 0 {
		a.forgetParents(m.name)
	} else {
		a.declared[m.name] = m.parents
		a.depsDirty = true
	}
	a.scheduleDeps()
}

// depRebuildEvery bounds how often the fleet index rebuilds the
// dependency graph, which costs a walk of every host with parents: when
// 100,000 hosts start (or their agents boot) at once, their declarations
// arrive over seconds and are built in a few graphs, not one per
// publication.
const depRebuildEvery = time.Second

// depsDue reports whether the graph needs a rebuild and may have it now.
func (a *fleetActor) depsDue() bool {
	return a.depsDirty && time.Since(a.depsBuilt) >= depRebuildEvery
}

// scheduleDeps arranges the publication of the next graph: with the next
// publication if it is due, else once depRebuildEvery has passed. Like
// schedule, wall-clock pacing.
func (a *fleetActor) scheduleDeps() {
	if a.depsDue() {
		a.schedule()
		return
	}
	if a.depsTimer != nil || !a.depsDirty {
		return
	}
	self, root := a.self, a.system.Root
	a.depsTimer = time.AfterFunc(time.Until(a.depsBuilt.Add(depRebuildEvery)), func() { root.Send(self, &depsDue{}) })
}

// depsDue makes the fleet index publish the graph it deferred.
type depsDue struct{}

// forgetParents drops a host that left the view from the graph.
func (a *fleetActor) forgetParents(name string) {
	if _, ok := a.declared[name]; ok {
		delete(a.declared, name)
		a.depsDirty = true
	}
}

// depGraph is the graph to publish: old, or a new one when a host's
// parents changed. Each dependency left out to break a loop is counted
// and logged once, however often the graph is rebuilt.
func (a *fleetActor) depGraph(old *deps.Graph) *deps.Graph {
	if !a.depsDue() {
		a.scheduleDeps()
		return old
	}
	a.depsDirty, a.depsBuilt = false, time.Now()
	g := deps.Build(a.declared)
	for _, e := range g.Broken {
		k := depEdge{e.Child, e.Parent}
		if _, seen := a.loopsSeen[k]; seen {
			continue
		}
		if a.loopsSeen == nil {
			a.loopsSeen = make(map[depEdge]struct{})
		}
		a.loopsSeen[k] = struct{}{}
		a.stats.DependencyLoops.Add(1)
		a.log().Warn("dependency loop: a host's dependency on its parent is ignored, so that a host on the loop can still page",
			"host", e.Child, "parent", e.Parent, "loop", strings.Join(e.Cycle, " -> "))
	}
	return g
}

// agentParents applies the parents the host's agent declared (a parents
// datagram, sent at its start and again now and then). The same list
// again, via another daemon address or the next period, changes nothing.
func (a *hostActor) agentParents(ctx actor.Context, names []string) {
	if a.dep == nil && len(names) == 0 {
		return
	}
	if a.dep != nil && slices.Equal(a.dep.agent, names) {
		return
	}
	a.depState().agent = names
	a.dirty = true
	a.declareParents(ctx)
	a.pushSummary(ctx) // its host object lists them
	msg := "agent withdrew its parents"
	if len(names) > 0 {
		msg = "agent declared its parents: " + strings.Join(names, ", ")
	}
	a.journalf(ctx, a.env.clock.Now(), "state", "%s", msg)
}

// agentParentsOf is what the state files keep of the host's parents: the
// agent's (the rules' come from the config).
func (a *hostActor) agentParentsOf() []string {
	if a.dep == nil {
		return nil
	}
	return a.dep.agent
}

// restoreParents takes the agent's parents from a saved record; the
// fleet index hears of them at declareParents.
func (a *hostActor) restoreParents(agent []string) {
	if len(agent) > 0 || a.dep != nil {
		a.depState().agent = agent
	}
}
