package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/internal/silence"
)

// alertNotice asks the notifier to deliver one alert transition.
type alertNotice struct {
	n    notify.Notification
	host *actor.PID // the HostActor, told of each successful send
	// late: sent after its change, when a silence ended or the daemon
	// resumed, because the host had no delivery of its level on record.
	// A delivery may be on its way: a change just after a window ended
	// goes out at once, and the window's end asks for it again before
	// the delivery is acknowledged. The notifier sends a late problem
	// only if its level is not the one it last sent for the alert (or
	// that one was lost), and a late recovery only if it sent none in
	// the last recentRecoveryFor.
	late bool
}

// notified tells a HostActor that a notification about path, at level,
// was delivered on route at time at.
type notified struct {
	path  string
	route string
	level alert.Level
	at    time.Time
}

// restoreFiring tells the notifier, after a restart, of an alert that is
// firing and was already notified: nothing is sent now, and repeats
// continue from when each route last delivered it.
type restoreFiring struct {
	n    notify.Notification
	host *actor.PID
	sent map[string]time.Time // route name -> last delivery
}

// notifyResult carries a dispatcher outcome back into the notifier actor.
type notifyResult struct{ r notify.Result }

// repeatTick makes the notifier re-send still-firing alerts whose route asks for repeats.
type repeatTick struct{}

// Grouping is how the notifier gathers transitions into one notification.
type Grouping struct {
	// Wait is how long the first transition of a kind waits for others
	// of the same kind (route, change, alert and level); 0 sends each at
	// once. Routes with Group false are never grouped.
	Wait time.Duration
	// OutageFraction: a group of heartbeat problems (or recoveries) larger
	// than this share of the hosts that were UP (or are known), and of at
	// least OutageMinHosts hosts, is sent as a mass outage (or mass
	// recovery). 0: never.
	OutageFraction float64
	OutageMinHosts int
}

// groupKey identifies transitions that go out together.
type groupKey struct {
	route             int
	epoch             int // the notifier's channels when the group opened (see swap)
	kind, path, level string
}

// pendingGroup gathers the transitions of one groupKey until its timer
// fires. index finds a host's member, so a host that changes again within
// the wait replaces its entry instead of being listed twice.
type pendingGroup struct {
	members  []notify.Notification
	index    map[string]int // host -> position in members
	opened   time.Time
	accepted uint64 // datagrams the daemon had accepted when the group opened
}

// groupDue flushes one group.
type groupDue struct{ key groupKey }

// flushGroups sends every pending group at once (the daemon is stopping)
// and closes done.
type flushGroups struct{ done chan<- struct{} }

// dropTick ends a window of queue drops: the notifier reports what was
// dropped during it.
type dropTick struct{}

// dropReportEvery is the window over which a channel's queue drops are
// added up into one journal entry and one log line: a burst of thousands
// of drops is a few lines, not thousands. The first drop after a quiet
// window is reported at once.
const dropReportEvery = 10 * time.Second

// firing is an alert that has been notified and not yet recovered.
type firing struct {
	n        notify.Notification
	host     *actor.PID
	lastSent []time.Time // per route
	// pending: a silenced change left the alert at a level other than
	// the one sent, which is not repeated while it is stale.
	pending bool
	// lost: the level sent failed on a route (every attempt, or a full
	// queue), so a late notification of it is sent after all.
	lost bool
}

// recentRecoveryFor is how long the notifier remembers that it sent an
// alert's recovery, so that a late one (a silence's end asking for it
// before the delivery was acknowledged) is not sent twice.
const recentRecoveryFor = time.Minute

// notifierActor decides what is sent: it drops silenced alerts, tracks
// firing ones for repeats, and hands sends to the dispatcher's workers, so
// neither it nor any HostActor waits on a network. Outcomes come back as
// messages and are journaled.
type notifierActor struct {
	d        *notify.Dispatcher
	routes   []notify.Route
	silences *silence.Store
	journal  *actor.PID
	clock    Clock
	system   *actor.ActorSystem
	stats    *Stats
	firing   map[string]*firing // host + "\x00" + metric path
	// recovered: when each alert's recovery was last sent, for
	// recentRecoveryFor (see notice).
	recovered map[string]time.Time
	hostPIDs  map[string]*actor.PID
	tick      time.Duration
	timer     Timer

	grouping Grouping
	fleet    *Fleet // host counts, to tell a mass outage
	groups   map[groupKey]*pendingGroup
	log      *slog.Logger

	// Queue drops: the dispatcher counts them per route; the notifier
	// reports the increase since the last report, at most once per
	// dropReportEvery (dropTimer is set while a window is open).
	dropsSeen []notify.Drops
	dropTimer Timer

	// epoch counts the reloads that replaced the channels, so that a
	// group timer of the channels before finds no group of the new ones.
	epoch int
}

func (a *notifierActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.armRepeat(ctx.Self())
	case *alertNotice:
		a.notice(ctx, m)
	case *restoreFiring:
		a.restore(m)
	case *notifyResult:
		a.result(ctx, m.r)
	case *repeatTick:
		a.timer = nil
		a.repeat(ctx)
		a.armRepeat(ctx.Self())
	case *groupDue:
		a.flush(ctx, m.key)
	case *flushGroups:
		for k := range a.groups {
			a.flush(ctx, k)
		}
		close(m.done)
	case *dropTick:
		a.dropTimer = nil
		if a.reportDrops(ctx) {
			a.armDropReport(ctx.Self())
		}
	case *swapRoutes:
		a.swap(ctx, m)
	case *barrier:
		close(m.done)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		if a.dropTimer != nil {
			a.dropTimer.Stop()
		}
		// What the open window has not reported yet: the journal is
		// stopped after the notifier.
		a.reportDrops(ctx)
	default:
		unexpected("notifier", ctx.Message())
	}
}

func (a *notifierActor) armRepeat(self *actor.PID) {
	hasRepeat := false
	for _, r := range a.routes {
		hasRepeat = hasRepeat || r.Repeat > 0
	}
	if !hasRepeat && len(a.recovered) == 0 {
		return // the tick also forgets old recoveries (repeat)
	}
	root := a.system.Root
	a.timer = a.clock.AfterFunc(a.tick, func() { root.Send(self, &repeatTick{}) })
}

func key(host, path string) string { return host + "\x00" + path }

// restore rebuilds the repeat schedule of an alert notified before a
// restart. A route that has no record of it (added since) repeats one
// interval from now rather than at once.
func (a *notifierActor) restore(m *restoreFiring) {
	if len(a.routes) == 0 {
		return // see notice
	}
	n := m.n
	a.hostPIDs[n.Host] = m.host
	f := &firing{n: n, host: m.host, lastSent: make([]time.Time, len(a.routes))}
	now := a.clock.Now()
	for i, r := range a.routes {
		f.lastSent[i] = now
		if at, ok := m.sent[r.Channel.Name()]; ok {
			f.lastSent[i] = at
		}
	}
	a.firing[key(n.Host, n.MetricPath)] = f
}

func (a *notifierActor) notice(ctx actor.Context, m *alertNotice) {
	if len(a.routes) == 0 {
		// No channels: nothing to send or repeat, and a fleet-wide outage
		// must not fill the firing map. Channels a reload adds get the
		// transitions from then on.
		return
	}
	n := m.n
	k := key(n.Host, n.MetricPath)
	a.hostPIDs[n.Host] = m.host
	if m.late {
		if f := a.firing[k]; f != nil && n.Kind == notify.KindProblem && f.n.Level == n.Level && !f.lost {
			a.record(ctx, n.Host, "notify", fmt.Sprintf("%s %s not sent again: it went out at %s", n.MetricPath, n.Level, f.n.Time.UTC().Format(time.RFC3339)))
			return
		}
		if at, ok := a.recovered[k]; ok && n.Kind == notify.KindRecovery {
			a.record(ctx, n.Host, "notify", fmt.Sprintf("%s recovery not sent again: it went out at %s", n.MetricPath, at.UTC().Format(time.RFC3339)))
			return
		}
	}
	sil := a.silences.Match(n.Host, n.MetricPath)
	switch {
	case sil != nil:
		// Nothing goes out, so the firing entry keeps what was sent.
		// Its repeats wait while the alert is at another level (the
		// silence's end sends that one, maintenance.go) and resume
		// after the silence if it is back at the level sent; one first
		// raised inside the silence is not repeated.
		if f := a.firing[k]; f != nil {
			f.pending = n.Level != f.n.Level
		}
	case n.Kind == notify.KindRecovery:
		delete(a.firing, k)
		a.recovered[k] = a.clock.Now()
		if a.timer == nil {
			a.armRepeat(ctx.Self())
		}
	case n.Kind == notify.KindProblem || n.Kind == notify.KindFlappingStart:
		f := a.firing[k]
		if f == nil {
			f = &firing{lastSent: make([]time.Time, len(a.routes))}
			a.firing[k] = f
		}
		f.n, f.host, f.pending, f.lost = n, m.host, false, false
		now := a.clock.Now()
		for i := range f.lastSent {
			f.lastSent[i] = now
		}
	case n.Kind == notify.KindFlappingStop:
		if n.Level == "OK" {
			delete(a.firing, k)
		}
	}
	if sil != nil {
		a.record(ctx, n.Host, "notify", fmt.Sprintf("%s %s not sent: silenced (%s)", n.MetricPath, n.Kind, silenceLabel(sil)))
		return
	}
	for i := range a.routes {
		a.route(ctx, i, n)
	}
}

// route sends n on route i, or adds it to the route's pending group for
// its kind. A recovery whose problem is still waiting in a group, and was
// the alert's first step away from OK, cancels it: nobody was told, so
// nobody needs the all-clear.
func (a *notifierActor) route(ctx actor.Context, i int, n notify.Notification) {
	r := &a.routes[i]
	if !r.Accepts(n) {
		return
	}
	if a.grouping.Wait <= 0 || !r.Group {
		a.submit(ctx, i, n)
		return
	}
	if n.Kind == notify.KindRecovery && a.cancelPending(i, n) {
		a.record(ctx, n.Host, "notify", fmt.Sprintf("%s problem and recovery on %s within the group wait: neither sent", n.MetricPath, r.Channel.Name()))
		return
	}
	if n.Kind == notify.KindProblem {
		// A level that changes again within the wait (a dying host is
		// DEGRADED for the milliseconds between its two addresses'
		// deadlines, then DOWN) is one page, at the level it reached,
		// telling where it came from.
		if p, ok := a.takePending(i, n.Host, n.MetricPath, notify.KindProblem); ok {
			n.PrevLevel = p.PrevLevel
			n.Message = strings.Replace(n.Message, n.MetricPath+" "+p.Level+" -> ", n.MetricPath+" "+p.PrevLevel+" -> ", 1)
		}
	}
	k := groupKey{route: i, epoch: a.epoch, kind: n.Kind, path: n.MetricPath, level: n.Level}
	g := a.groups[k]
	if g == nil {
		g = &pendingGroup{index: make(map[string]int), opened: a.clock.Now(), accepted: a.stats.acceptedTotal()}
		a.groups[k] = g
		root, self := a.system.Root, ctx.Self()
		a.clock.AfterFunc(a.grouping.Wait, func() { root.Send(self, &groupDue{key: k}) })
	}
	if j, ok := g.index[n.Host]; ok {
		g.members[j] = n
		return
	}
	g.index[n.Host] = len(g.members)
	g.members = append(g.members, n)
}

// cancelPending removes the problem of n's host and alert waiting on route
// i, and reports whether n (a recovery) need not be sent: true when that
// problem had come from OK.
func (a *notifierActor) cancelPending(i int, n notify.Notification) bool {
	p, ok := a.takePending(i, n.Host, n.MetricPath, notify.KindProblem)
	return ok && p.PrevLevel == notify.LevelOK
}

// takePending removes and returns the transition of host and path, of
// kind, waiting in one of route i's groups.
func (a *notifierActor) takePending(i int, host, path, kind string) (notify.Notification, bool) {
	for k, g := range a.groups {
		if k.route != i || k.kind != kind || k.path != path {
			continue
		}
		j, ok := g.index[host]
		if !ok {
			continue
		}
		taken := g.members[j]
		g.members = slices.Delete(g.members, j, j+1)
		delete(g.index, host)
		for h, at := range g.index {
			if at > j {
				g.index[h] = at - 1
			}
		}
		return taken, true
	}
	return notify.Notification{}, false
}

// flush sends group k as one notification: the transition itself when it
// is alone, a list of hosts, or a mass outage.
func (a *notifierActor) flush(ctx actor.Context, k groupKey) {
	g := a.groups[k]
	delete(a.groups, k)
	if g == nil || len(g.members) == 0 {
		return
	}
	a.submit(ctx, k.route, notify.Group(g.members, a.outage(k, g)))
}

// outage tells whether group g is a mass outage (or recovery) of the
// fleet's heartbeats, and describes it; nil if not.
func (a *notifierActor) outage(k groupKey, g *pendingGroup) *notify.Outage {
	n := len(g.members)
	if k.path != heartbeatMetric || a.grouping.OutageFraction <= 0 || a.fleet == nil || n < a.grouping.OutageMinHosts {
		return nil
	}
	snap := a.fleet.Snapshot()
	window := a.clock.Now().Sub(g.opened).Round(time.Second).String()
	switch {
	case k.kind == notify.KindProblem && k.level == notify.LevelCritical:
		// The group's hosts are DOWN now; they were UP (or DEGRADED) before.
		// SUSPECT hosts are still reporting as far as anyone knows: with
		// adaptive detection the rest of a dying fleet is SUSPECT first.
		wereUp := snap.CountByState(StateUp) + snap.CountByState(StateDegraded) + snap.CountByState(StateSuspect) + n
		if float64(n) <= a.grouping.OutageFraction*float64(wereUp) {
			return nil
		}
		return &notify.Outage{Hosts: n, WereUp: wereUp, Window: window, Receiving: a.stats.acceptedTotal() > g.accepted}
	case k.kind == notify.KindRecovery:
		known := len(snap.Hosts)
		if float64(n) <= a.grouping.OutageFraction*float64(known) {
			return nil
		}
		return &notify.Outage{Hosts: n, WereUp: known, Window: window, Receiving: true}
	}
	return nil
}

// submit queues n on route i, counting and journaling a full queue.
func (a *notifierActor) submit(ctx actor.Context, i int, n notify.Notification) {
	if _, dropped := a.d.SubmitRoute(i, n); dropped {
		a.stats.NotifyDropped.Add(1)
		a.noteLost(n)
		a.noteDrops(ctx)
	}
}

func silenceLabel(s *silence.Silence) string {
	return s.Label()
}

func (a *notifierActor) repeat(ctx actor.Context) {
	now := a.clock.Now()
	for k, at := range a.recovered {
		if now.Sub(at) >= recentRecoveryFor {
			delete(a.recovered, k)
		}
	}
	for _, f := range a.firing {
		if f.pending || a.silences.Match(f.n.Host, f.n.MetricPath) != nil {
			continue
		}
		for i, r := range a.routes {
			if r.Repeat <= 0 || now.Sub(f.lastSent[i]) < r.Repeat || !r.Accepts(f.n) {
				continue
			}
			n := f.n
			n.Kind = notify.KindRepeat
			n.Time = now
			f.lastSent[i] = now
			a.route(ctx, i, n)
		}
	}
}

func (a *notifierActor) result(ctx actor.Context, r notify.Result) {
	n := r.Notification
	what := n.MetricPath
	if n.GroupSize > 0 {
		what = fmt.Sprintf("%s (%d hosts: %s)", n.MetricPath, n.GroupSize, strings.Join(n.HostNames(), ", "))
	}
	host := n.Host
	if n.GroupSize > 0 {
		host = ""
	}
	if r.Err != nil {
		a.stats.NotifyFailed.Add(1)
		a.noteLost(n)
		a.record(ctx, host, "notify_failed", fmt.Sprintf("%s %s via %s failed after %d attempt(s): %v", what, n.Kind, r.Route, r.Attempts, r.Err))
		return
	}
	a.stats.NotifySent.Add(1)
	a.record(ctx, host, "notify", fmt.Sprintf("%s %s %s sent via %s", what, n.Level, n.Kind, r.Route))
	members := n.Members
	if n.GroupSize == 0 {
		members = []notify.Notification{n}
	}
	now := a.clock.Now()
	for _, m := range members {
		if f := a.firing[key(m.Host, m.MetricPath)]; f != nil {
			f.n.NotificationCount++
		}
		if pid := a.hostPIDs[m.Host]; pid != nil {
			level, _ := alert.ParseLevel(m.Level)
			ctx.Send(pid, &notified{path: m.MetricPath, route: r.Route, level: level, at: now})
		}
	}
}

// noteLost marks the firing alerts of a notification (or of a group's
// members) whose level sent did not get through.
func (a *notifierActor) noteLost(n notify.Notification) {
	members := n.Members
	if n.GroupSize == 0 {
		members = []notify.Notification{n}
	}
	for _, m := range members {
		if f := a.firing[key(m.Host, m.MetricPath)]; f != nil && f.n.Level == m.Level {
			f.lost = true
		}
	}
}

func (a *notifierActor) record(ctx actor.Context, host, kind, msg string) {
	ctx.Send(a.journal, &Event{Time: a.clock.Now(), Host: host, Kind: kind, Msg: msg})
}

// noteDrops is called after a Submit dropped something. Outside a window
// it reports at once and opens one; within a window the report at its end
// covers the drop.
func (a *notifierActor) noteDrops(ctx actor.Context) {
	if a.dropTimer != nil {
		return
	}
	a.reportDrops(ctx)
	a.armDropReport(ctx.Self())
}

func (a *notifierActor) armDropReport(self *actor.PID) {
	root := a.system.Root
	a.dropTimer = a.clock.AfterFunc(dropReportEvery, func() { root.Send(self, &dropTick{}) })
}

// reportDrops journals and logs, per channel and reason, the drops counted
// since the last report. It reports whether there were any, so a window
// with drops is followed by another and a quiet one closes.
func (a *notifierActor) reportDrops(ctx actor.Context) bool {
	if a.dropsSeen == nil {
		a.dropsSeen = make([]notify.Drops, len(a.routes))
	}
	found := false
	for i, r := range a.routes {
		now, seen := a.d.Drops(i), a.dropsSeen[i]
		a.dropsSeen[i] = now
		name := r.Channel.Name()
		if n := now.QueueFull - seen.QueueFull; n > 0 {
			found = true
			a.reportDrop(ctx, name, "queue_full", n, fmt.Sprintf("%d notification(s) via %s dropped: its queue of %d was full (the channel is slower than the alerts)", n, name, a.d.QueueSize()))
		}
		if n := now.Closed - seen.Closed; n > 0 {
			found = true
			a.reportDrop(ctx, name, "closed", n, fmt.Sprintf("%d notification(s) via %s not queued: the daemon is stopping", n, name))
		}
	}
	return found
}

func (a *notifierActor) reportDrop(ctx actor.Context, channel, reason string, n uint64, msg string) {
	ctx.Send(a.journal, &Event{
		Time: a.clock.Now(), Kind: "notify", Msg: msg,
		Fields: map[string]any{"channel": channel, "reason": reason, "dropped": n},
	})
	a.log.Warn("notifications dropped", "channel", channel, "reason", reason, "dropped", n, "queue_size", a.d.QueueSize())
}

// NotifyChannel is one notification channel's queue, for /metrics.
type NotifyChannel struct {
	Name   string
	Queued int          // notifications waiting now
	Drops  notify.Drops // notifications not queued since the start, by reason
}

// NotifyChannels returns every notification channel's queue counters, in
// config order; none without [[notify]] channels.
func (s *System) NotifyChannels() []NotifyChannel {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	if s.dispatch == nil {
		return nil
	}
	routes := s.dispatch.Routes()
	out := make([]NotifyChannel, len(routes))
	for i, r := range routes {
		// A channel a reload rebuilt keeps counting from where it was.
		d, base := s.dispatch.Drops(i), s.dropBase[r.Channel.Name()]
		d.QueueFull += base.QueueFull
		d.Closed += base.Closed
		out[i] = NotifyChannel{Name: r.Channel.Name(), Queued: s.dispatch.QueueLen(i), Drops: d}
	}
	return out
}
