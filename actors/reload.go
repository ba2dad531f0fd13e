package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/deps"
	"github.com/hbd-project/hbd/internal/notify"
)

// alerting is the part of the alert settings a reload may change: which
// rules apply to which host and how alerts flap and expire. It is immutable;
// a reload builds a new one, stores it in hostEnv.alerting (for HostActors
// spawned from then on) and sends it to every running HostActor. The
// datagram path never reads it: a HostActor keeps what it needs (its
// HostRules, inDefault) and loads the pointer only when an alert is
// evaluated.
type alerting struct {
	rules        *alert.Rules
	watch        map[string]bool
	alertDynamic bool
	flap         alert.FlapPolicy
	stoppedAfter time.Duration // 0: a STOPPED host never warns
	unreported   time.Duration // a declared host's grace; 0: down_after intervals
	deps         *deps.Rules   // the [[dependencies]] rules; nil: none
}

// noAlerting is what a hostEnv built by hand (tests) alerts with.
var noAlerting = &alerting{}

// cur is the alert settings in force.
func (e *hostEnv) cur() *alerting {
	if al := e.alerting.Load(); al != nil {
		return al
	}
	return noAlerting
}

func alertingOf(c *Config) *alerting {
	return &alerting{rules: c.Rules, watch: c.Listener.Watch, alertDynamic: c.AlertDynamic, flap: c.Flap,
		stoppedAfter: c.StoppedAfter, unreported: c.UnreportedAfter, deps: c.Dependencies}
}

// reconfigure gives a HostActor the alert settings of a reload. It answers
// on done, which has room for every host asked in the same batch.
type reconfigure struct {
	al   *alerting
	done chan<- struct{}
}

// setWatch gives the registry actor a reload's watchhosts: it spawns the
// hosts newly declared, and closes done.
type setWatch struct {
	watch map[string]bool
	done  chan struct{}
}

// reconfigure applies a reload's alert settings to the host. Alerts whose
// rule still applies are kept as they are (level, since, what was
// notified); a changed rule takes effect with the next sample. Alerts whose
// rule was removed, or no longer applies to this host, are dropped and
// their recovery sent to whoever was paged, as after a restart
// (resumeAlerts).
func (a *hostActor) reconfigure(ctx actor.Context, al *alerting) {
	now := a.env.clock.Now()
	declared := al.watch[a.st.name]
	moved := declared == a.st.dyn
	if moved {
		a.redeclare(ctx, now, declared, al.flap)
	}
	a.inDefault = declared || (a.st.dyn && al.alertDynamic)
	a.st.stoppedAfter, a.st.unreported = al.stoppedAfter, al.unreported
	a.rules = nil
	if al.rules != nil {
		a.rules = al.rules.ForHost(a.st.name, a.inDefault)
	}
	var gone []*alert.Tracker
	for _, t := range a.alerts.all() {
		if t.RuleMetric != "" && !a.rules.HasRule(t.RuleMetric) {
			gone = append(gone, t)
		}
	}
	for _, t := range gone {
		a.dropAlert(ctx, t, now, "its rule "+t.RuleMetric+" was removed from the config or no longer applies to this host (reload)")
	}
	parents := a.exp.parents.Load()
	a.setConfigParents(ctx, al.deps)
	a.arm(ctx.Self())
	if moved || a.alertsDirty || a.exp.parents.Load() != parents {
		a.pushSummary(ctx)
	}
}

// redeclare makes the host declared (it entered watchhosts) or dynamic (it
// left them). A declared host is expected from now on; one that leaves
// watchhosts before it ever reported stops being overdue, and its
// "never reported" alert clears.
func (a *hostActor) redeclare(ctx actor.Context, now time.Time, declared bool, flap alert.FlapPolicy) {
	a.st.dyn = !declared
	a.dirty = true
	if declared {
		if a.st.lastSeen.IsZero() {
			a.st.expectSince = now
		}
		return
	}
	a.st.expectSince = time.Time{}
	if !a.st.flags.has(flagOverdue) {
		return
	}
	a.st.flags.set(flagOverdue, false)
	if t := a.alerts.get(heartbeatMetric); t != nil && t.Level != alert.LevelOK {
		if ch, changed := t.Set(now, alert.LevelOK, alert.Value{}, flap); changed {
			a.alertChangedWhy(ctx, t, ch, "the host left watchhosts")
		}
	}
}

// swapRoutes gives the notifier a reload's grouping and, when d is set,
// its notification channels. The notifier hands the dispatcher it replaces
// to retire and closes done.
type swapRoutes struct {
	d        *notify.Dispatcher // nil: the channels stay
	routes   []notify.Route
	grouping Grouping
	retire   func(old, cur *notify.Dispatcher)
	done     chan struct{}
}

// swap applies a reload to the notifier. Transitions waiting in a group go
// out at once on the channels they were gathered for; what the old
// channels have queued is delivered by the old dispatcher (retire), whose
// results still come back here. Repeat schedules follow a channel by
// name; a new channel repeats one interval from now.
func (a *notifierActor) swap(ctx actor.Context, m *swapRoutes) {
	a.grouping = m.grouping
	if m.d == nil {
		close(m.done)
		return
	}
	for k := range a.groups {
		a.flush(ctx, k)
	}
	a.reportDrops(ctx)
	now := a.clock.Now()
	for _, f := range a.firing {
		last := make([]time.Time, len(m.routes))
		for i, r := range m.routes {
			last[i] = now
			if j := slices.IndexFunc(a.routes, func(o notify.Route) bool { return o.Channel.Name() == r.Channel.Name() }); j >= 0 {
				last[i] = f.lastSent[j]
			}
		}
		f.lastSent = last
	}
	old := a.d
	a.d, a.routes, a.dropsSeen = m.d, m.routes, nil
	a.epoch++ // a group timer of the old channels finds nothing
	if a.timer == nil {
		a.armRepeat(ctx.Self())
	}
	m.retire(old, a.d)
	close(m.done)
}

// Reconfig is what a reload changes in a running System (see
// System.Reconfigure). The alert settings are taken whole when Alerting is
// set, the channels when SwapRoutes is; the grouping always.
type Reconfig struct {
	// Alerting gives every HostActor the settings below (Rules to
	// UnreportedAfter) and spawns the hosts Watch newly declares.
	Alerting        bool
	Rules           *alert.Rules
	Watch           map[string]bool
	AlertDynamic    bool
	Flap            alert.FlapPolicy
	StoppedAfter    time.Duration
	UnreportedAfter time.Duration
	Grouping        Grouping
	// Dependencies are the [[dependencies]] rules (nil: none).
	Dependencies *deps.Rules

	// SwapRoutes replaces the notification channels with Routes, which
	// the System owns from then on.
	SwapRoutes bool
	Routes     []notify.Route

	// SilencesPerHost, SilencesTotal and GlobLength are the [limits] caps
	// on silences; 0 keeps the one in force.
	SilencesPerHost, SilencesTotal, GlobLength int
}

// ReconfigStats says what applying a Reconfig took.
type ReconfigStats struct {
	Hosts int           // HostActors told
	Took  time.Duration // until every one had applied it
}

// retireGrace is how long a dispatcher replaced by a reload may take to
// deliver what it had queued, retries included (5 attempts with a backoff
// doubling from 1 s, each bounded by its channel's timeout), before what is
// left is reported (and journaled) as not sent.
const retireGrace = 2 * time.Minute

// Reconfigure applies a reload to the running pipeline: new alert
// settings for every HostActor, newly declared hosts, and the notifier's
// channels and grouping. HostActors get the settings as a message, a
// batch at a time (like checkpoints), so nothing is locked on the datagram
// path; it returns once every HostActor has applied them. Calls must not
// overlap (cmd/hbd runs one reload at a time) and must come after the
// System has started and before it stops.
func (s *System) Reconfigure(rc Reconfig) ReconfigStats {
	began := time.Now()
	var st ReconfigStats
	if rc.Alerting {
		st.Hosts = s.reconfigureHosts(rc)
	}

	if rc.SilencesPerHost > 0 || rc.SilencesTotal > 0 || rc.GlobLength > 0 {
		caps := s.cfg.Limits
		caps.SilencesPerHost = orKeep(rc.SilencesPerHost, caps.SilencesPerHost)
		caps.SilencesTotal = orKeep(rc.SilencesTotal, caps.SilencesTotal)
		caps.GlobLength = orKeep(rc.GlobLength, caps.GlobLength)
		s.Silences.Limit(&caps, s.Refusals)
	}

	m := &swapRoutes{grouping: rc.Grouping, retire: s.retire, done: make(chan struct{})}
	if rc.SwapRoutes {
		m.d, m.routes = notify.NewDispatcher(rc.Routes, s.notifyOpt), rc.Routes
	}
	s.actors.Root.Send(s.notifier, m)
	s.waitDone(m.done, "notifier")
	st.Took = time.Since(began)
	return st
}

// reconfigureHosts gives every HostActor rc's alert settings and returns
// how many there were.
func (s *System) reconfigureHosts(rc Reconfig) int {
	al := &alerting{rules: rc.Rules, watch: rc.Watch, alertDynamic: rc.AlertDynamic, flap: rc.Flap,
		stoppedAfter: rc.StoppedAfter, unreported: rc.UnreportedAfter, deps: rc.Dependencies}
	if al.watch == nil {
		al.watch = map[string]bool{}
	}
	// Hosts spawned from here on read the new settings; those spawned
	// before are published once the registry has answered, so the list
	// below holds every one of them.
	s.env.alerting.Store(al)
	s.ingest.SetWatch(al.watch)
	done := make(chan struct{})
	s.actors.Root.Send(s.Registry.pid, &setWatch{watch: al.watch, done: done})
	s.waitDone(done, "registry")
	pids := s.Registry.PIDs()
	s.inBatches(pids, "reconfigure", func(done chan<- struct{}) any { return &reconfigure{al: al, done: done} })
	return len(pids)
}

// orKeep is v, or def when v is 0.
func orKeep(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// waitDone waits for an actor to close done, for at most ckptWait.
func (s *System) waitDone(done <-chan struct{}, what string) {
	select {
	case <-done:
	case <-time.After(ckptWait):
		s.log.Warn("actor did not answer a reload in time", "actor", what)
	}
}

// retire takes a dispatcher a reload replaced: its drop counts carry over
// to the metrics of the channels of the same names, and it delivers what
// it has queued, for up to retireGrace, on its own goroutine; then it
// closes its channels. The notifier calls it once it submits to the new
// dispatcher only.
func (s *System) retire(old, cur *notify.Dispatcher) {
	s.dispatchMu.Lock()
	for i, r := range old.Routes() {
		d := old.Drops(i)
		b := s.dropBase[r.Channel.Name()]
		b.QueueFull += d.QueueFull
		b.Closed += d.Closed
		s.dropBase[r.Channel.Name()] = b
	}
	s.dispatch = cur
	s.dispatchMu.Unlock()
	s.retiring.Add(1)
	go func() {
		defer s.retiring.Done()
		old.CloseWithin(retireGrace)
	}()
}

// waitRetired waits, for up to grace, for the dispatchers reloads
// replaced to finish their deliveries.
func (s *System) waitRetired(grace time.Duration) {
	done := make(chan struct{})
	go func() {
		s.retiring.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.log.Warn("notification channels replaced by a reload are still delivering; what they have queued is not sent", "grace", grace)
	}
}
