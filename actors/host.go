package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// livenessTick asks a HostActor to check its deadlines; sent by its timer.
type livenessTick struct{}

// pluginsQuery asks a HostActor for its plugin data, as the body of
// /api/0/hosts/{h}/plugins (plugin == "") or .../plugins/{plugin}?limit=N.
// The actor answers on reply, which must have room for one value, so the
// actor never blocks on a slow or departed caller.
type pluginsQuery struct {
	plugin string
	limit  int
	reply  chan<- Answer
}

// hostEnv is what every HostActor shares: read-only settings and the PIDs
// of the actors it reports to.
type hostEnv struct {
	system    *actor.ActorSystem
	clock     Clock
	history   int
	downAfter int
	liveness  *Liveness     // how silent connections are detected; nil: the fixed rule alone
	interval  time.Duration // assumed until the agent states its own
	fleet     *actor.PID
	journal   *actor.PID
	stats     *Stats
	// rejects is the rejected-source table the HostActors share, for
	// replays; nil in tests that build a hostEnv by hand.
	rejects *rejected.Table

	// alerting is the reloadable part of the alert settings (rules,
	// watchhosts, flap policy...): an immutable set swapped whole by a
	// reload (System.Reconfigure), which then tells every HostActor. Read
	// with cur.
	alerting     atomic.Pointer[alerting]
	notifier     *actor.PID // nil: no notification channels
	replicator   *actor.PID // nil: single node, nothing replicated (replicator.go)
	silences     *silence.Store
	broadcast    func(ctx actor.Context, typ, host, key string, frame []byte) // nil: no WebSocket stream
	listening    func() bool                                                  // whether any WebSocket client is connected
	spawner      *hostSpawner                                                 // how the registry spawns a HostActor
	log          *slog.Logger                                                 // nil: slog.Default()
	legacyLogged atomic.Bool                                                  // whether a version-1 agent was logged

	// limits caps what one host may make its actor keep (plugins, alerts;
	// see caps); nil in tests that build a hostEnv by hand: no caps.
	limits   *limits.Config
	refusals *limits.Refusals

	// view is the fleet's snapshot, where a host reads its parents'
	// states (deps.go); nil in tests that build a hostEnv by hand.
	// fleetLag is how late other members' hosts' states can be in it
	// (cluster mode: the fleet frames' period; 0 otherwise).
	view     *Fleet
	fleetLag time.Duration
}

// streaming reports whether frames should be built for the WebSocket stream.
func (e *hostEnv) streaming() bool {
	return e.broadcast != nil && (e.listening == nil || e.listening())
}

// publish hands a frame to the WebSocket broadcaster, if there is one.
func (e *hostEnv) publish(ctx actor.Context, typ, host, key string, frame []byte) {
	if e.broadcast != nil {
		e.broadcast(ctx, typ, host, key, frame)
	}
}

// hostSpawner spawns HostActors with one Props for the whole fleet: a
// Props and its producer's closure made per host cost about 290 bytes of
// every host's memory. The producer hands protoactor the actor that spawn
// built; protoactor calls it within Spawn, on the spawning goroutine (the
// registry actor's), so next needs no lock. HostActors are resumed, never
// restarted (resumeHosts), so the producer runs once per actor.
type hostSpawner struct {
	props *actor.Props
	next  *hostActor
}

func newHostSpawner(opts ...actor.PropsOption) *hostSpawner {
	s := &hostSpawner{}
	s.props = actor.PropsFromProducer(func() actor.Actor {
		a := s.next
		if a == nil {
			panic("hostSpawner: a HostActor was produced outside spawn (a restart?); HostActors are only resumed")
		}
		s.next = nil
		return a
	}, opts...)
	return s
}

// spawn starts a as a child of ctx.
func (s *hostSpawner) spawn(ctx actor.SpawnerContext, a *hostActor) *actor.PID {
	s.next = a
	defer func() { s.next = nil }()
	return ctx.Spawn(s.props)
}

// hostActor owns everything the daemon knows of one host: liveness and
// connections, replay windows and plugin ring buffers. Nothing else reads or
// writes them; other parts ask with messages. Receive never blocks.
type hostActor struct {
	env     *hostEnv
	st      hostState        // by value: the actor and its state are one allocation
	replay  wire.ReplayGuard // a window per sender instance
	plugins map[string]*ring // nil until the first plugin; changed under exp.mu
	exp     exposed          // what the fleet exposition reads without a message

	timer Timer
	// timerAt is when timer fires, in unix nanoseconds: a time.Time would
	// take 16 bytes more of every host's actor (see dep).
	timerAt int64

	// Alerting: the rules that apply to this host (nil: none), one tracker
	// per metric path; inDefault and alertsDirty (whether the fleet index
	// needs a new summary) are with the other flags below.
	rules       *alert.HostRules
	alerts      alertSet
	lastAlerts  []*AlertEntry // what the fleet index has, reused while unchanged
	lastSilence int64         // timestamp of the last agent silence request
	sampleBytes int           // the data of every plugin's ring, in bytes ([limits] bytes_per_host)

	// Replay protection across restarts: the newest agent timestamp
	// accepted and when it was read, and after a restore the floor
	// below which a datagram is a replay of traffic from before the restart.
	lastSent int64
	lastRecv time.Time
	floor    int64

	// Durable state (see persist.go): each ring remembers what it held at
	// the last checkpoint record (dirty and needFull are below).
	// saved is what a restored actor is rebuilt from, applied and
	// dropped in Started; nil for the others.
	saved *savedHost

	// The flags, together so that they share a word.
	inDefault   bool
	alertsDirty bool
	// dirty: anything changed since the last checkpoint record;
	// needFull: the next one must be whole.
	dirty    bool
	needFull bool
	// restored: built from the state files at start (from saved, applied
	// in Started). frozen: liveness is paused, before ingest starts and
	// once the daemon is stopping.
	// alertsResumed: the restored alerts were handed to the notifier (at
	// the first resume).
	restored      bool
	frozen        bool
	alertsResumed bool
	// rep holds the replication flags (cluster mode, replica_host.go) in
	// the byte left in this word: the actor stays in its size class.
	rep repFlags

	// dep is the host's dependencies (deps.go); nil for a host that never
	// had parents. Its 8 bytes are paid for by timerAt's form: the actor
	// stays in the 512-byte size class.
	dep *depHost
}

// savedHost is a host as the state files had it: its records, and when
// the daemon's sockets opened (see hostActor.restore).
type savedHost struct {
	recs     []*statefile.Record
	openedAt time.Time
}

func newHostActor(env *hostEnv, name string, dyn bool) *hostActor {
	a := &hostActor{
		env:      env,
		st:       *newHostState(name, dyn, env.interval, env.downAfter), // inlined: no allocation of its own
		dirty:    true,
		needFull: true,
	}
	a.st.setDetection(env.liveness.forHost(name))
	return a
}

func (a *hostActor) Receive(ctx actor.Context) {
	a.env.stats.hostMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *ingest.Heartbeat, *ingest.Boot, *ingest.Shutdown, *ingest.Sample, *ingest.Silence, *ingest.Parents:
		a.env.stats.Taken()
		if a.rep&handedOff != 0 {
			return // the new owner has the host's state; this copy is going
		}
		a.apply(ctx, m.(ingest.Message))
	case *livenessTick:
		a.timer, a.timerAt = nil, 0
		if a.frozen {
			return
		}
		now := a.env.clock.Now()
		a.evalDeps(now)
		a.st.check(now)
		if len(a.st.events) == 0 && a.dep == nil {
			// Nothing turned overdue: a heartbeat came since the timer
			// was set (every transition emits an event). With the
			// adaptive detector that is most ticks, one per interval at
			// each heartbeat's SUSPECT deadline, so they only set the
			// timer again, without a summary, a frame or a checkpoint.
			// A host with parents also ticks for a held page and for
			// its parents' states (deps.go): it takes the whole path.
			a.arm(ctx.Self())
			return
		}
		a.dirty = true
		a.rep |= repDirty
		a.afterChange(ctx)
		a.releaseHeldPage(ctx, now)
		a.arm(ctx.Self())
		a.replicate(ctx)
	case *pluginsQuery:
		m.reply <- a.answer(m)
	case *alertsQuery:
		m.reply <- Answer{Body: a.answerAlerts()}
	case *rttQuery:
		m.reply <- a.answerRTT()
	case *notified:
		if t := a.alerts.get(m.path); t != nil {
			t.NoteNotified(m.route, m.level, m.at)
			a.dirty = true
			a.alertsDirty = true
			a.pushSummary(ctx)
			// Who was paged goes to the successor at once: a takeover
			// must not page them again.
			a.rep |= repNow
			a.replicate(ctx)
		}
	case *checkpointReq:
		m.reply <- a.checkpoint(m.full)
	case *freeze:
		a.pause()
		m.done <- struct{}{}
	case *resume:
		a.resume(ctx, m.at)
		m.done <- struct{}{}
	case *replicaReq:
		a.answerReplica(ctx, m)
	case *handoffReq:
		a.handOff(m)
	case *adopt:
		a.adoptRecord(ctx, m)
	case *reconfigure:
		a.reconfigure(ctx, m.al)
		m.done <- struct{}{}
	case *barrier:
		close(m.done)
	case *releaseHeld:
		a.releaseHeld(ctx, m)
	case *actor.Started:
		// Threshold rules without hosts apply to declared hosts, and to
		// dynamic ones only with alert_dynamic. The heartbeat alert applies
		// to every host (observeLiveness).
		al := a.env.cur()
		a.inDefault = al.watch[a.st.name] || (a.st.dyn && al.alertDynamic)
		a.st.stoppedAfter, a.st.unreported = al.stoppedAfter, al.unreported
		if al.rules != nil {
			a.rules = al.rules.ForHost(a.st.name, a.inDefault)
		}
		a.setConfigParents(ctx, al.deps)
		if a.restored {
			a.restore(a.saved.recs, a.saved.openedAt)
			a.saved = nil
			a.declareParents(ctx)
			a.pushSummary(ctx)
			return
		}
		if !a.st.dyn {
			// Declared by a reload (the registry set when) or on its
			// first datagram: overdue if it never reports. One declared
			// at start is frozen: expected from the resume step (resume).
			if !a.frozen {
				if a.st.expectSince.IsZero() {
					a.st.expectSince = a.env.clock.Now()
				}
				a.arm(ctx.Self())
			}
		} else if a.env.replicator != nil {
			// In a cluster a dynamic host is born of its first datagram,
			// which publishes it: its UNKNOWN summary before that datagram
			// is applied would show a host handed back to this member (and
			// seen UP on its previous owner) as UNKNOWN for an instant.
			return
		}
		s := a.st.summary()
		s.src = a
		ctx.Send(a.env.fleet, s)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		a.env.stats.SamplesHeld.Add(-int64(a.samplesHeld()))
		a.env.stats.SamplesBytes.Add(-a.samplesBytes())
	default:
		unexpected("host", ctx.Message())
	}
}

// reject drops m for reason: counted, and its source noted for the
// once-a-minute log and the API's list of rejected sources.
func (a *hostActor) reject(h *ingest.Header, reason wire.Reason) {
	if a.env.rejects != nil {
		a.env.rejects.Note(h.Recv, h.From, []byte(a.st.name), reason)
	}
	a.env.stats.Drop(reason)
}

func (a *hostActor) apply(ctx actor.Context, msg ingest.Message) {
	h := msg.Head()
	// The replay check is here, not in the reader, because the windows are
	// per-host state and this actor is their only owner.
	if h.Sent < a.floor {
		a.reject(h, wire.ReasonReplay)
		return
	}
	r, ev := a.replay.Check(h.Instance, h.Seq, h.Sent)
	if r != wire.ReasonNone {
		a.reject(h, r)
		return
	}
	if ev.Evicted {
		a.forgot(ev, h)
	}
	if s, ok := msg.(*ingest.Sample); ok && !a.admitSample(s) {
		return
	}
	a.env.stats.accept(msg.Kind())
	a.dirty = true
	a.rep |= repDirty
	if a.rep&repSeen == 0 {
		// A new host: its successor hears of it now, not a round later.
		a.rep |= repNow | repSeen
	}
	if h.Sent > a.lastSent {
		a.lastSent, a.lastRecv = h.Sent, h.Recv
	}
	if h.Version == 1 && !a.env.legacyLogged.Load() {
		a.noteLegacy()
	}
	a.st.ver = h.Version
	switch m := msg.(type) {
	case *ingest.Heartbeat:
		a.st.heartbeat(m.Recv, m.From, m.Interval, m.ConnSeq, m.RTT)
		m.Ack()
	case *ingest.Boot:
		a.st.boot(m.Recv, m.From, m.Interval, m.AgentVersion)
		m.Ack()
	case *ingest.Shutdown:
		a.st.shutdown(m.Recv, m.From, m.Reason)
	case *ingest.Sample:
		if a.store(ctx, m) {
			a.observeSample(ctx, m.Recv, string(m.Plugin), m.Data)
		}
		if a.alertsDirty {
			a.pushSummary(ctx)
		}
		a.replicate(ctx)
		return // otherwise samples do not change the host's summary
	case *ingest.Silence:
		a.requestSilence(ctx, m)
		return
	case *ingest.Parents:
		a.agentParents(ctx, m.Names)
		return
	}
	a.afterChange(ctx)
	a.replicate(ctx)
}

// forgot counts and logs a sender instance whose window made room for a
// newer one: more agent processes of one host than the guard holds sent
// datagrams in a short time, e.g. a burst of one-shot runs.
func (a *hostActor) forgot(ev wire.Eviction, m *ingest.Header) {
	a.env.stats.ReplayEvictions.Add(1)
	a.logger().Debug("replay window of a sender instance forgotten to make room for another",
		"host", a.st.name, "instances", wire.MaxInstances, "forgotten", instanceName(ev.Instance),
		"forgotten_last_sent", time.Unix(0, ev.Last).UTC(), "new", instanceName(m.Instance))
}

// noteLegacy logs, once per daemon, that agents of protocol version 1 are
// reporting and what that means. Once: a fleet that has not upgraded yet
// is thousands of hosts, and a journal entry for each would push the
// journal's useful history out; /api/0/hosts shows each host's version.
func (a *hostActor) noteLegacy() {
	if a.env.legacyLogged.CompareAndSwap(false, true) {
		a.logger().Warn("agents of protocol version 1 are reporting: all processes of such a host share one replay window, "+
			"so a one-shot run beside the running agent (hbd-agent -silence) can get the running agent's datagrams dropped as replays "+
			"until it restarts; upgrade hbd-agent to send version 2 (ver in /api/0/hosts tells which hosts speak 1)", "first_host", a.st.name)
	}
}

func (a *hostActor) logger() *slog.Logger {
	if a.env.log != nil {
		return a.env.log
	}
	return slog.Default()
}

// instanceName is a sender instance for logs: hex, as agents log theirs;
// "v1" for the version-1 senders.
func instanceName(id uint64) string {
	if id == 0 {
		return "v1"
	}
	return fmt.Sprintf("%016x", id)
}

// requestSilence records an agent's request to mute its own host.
func (a *hostActor) requestSilence(ctx actor.Context, m *ingest.Silence) {
	if a.env.silences == nil || m.Sent == a.lastSilence {
		return // the same request via another daemon address
	}
	a.lastSilence = m.Sent
	metric := m.Metric
	if metric == "" {
		metric = "**"
	}
	sil, err := a.env.silences.Add(silence.Silence{Host: a.st.name, Metric: metric, Until: m.Recv.Add(m.For), Comment: m.Comment, Origin: "agent"})
	if err != nil {
		if !silence.RefusedByCap(err) { // a cap's refusals are counted and logged, not journaled: they may come in floods
			ctx.Send(a.env.journal, &Event{Time: m.Recv, Host: a.st.name, Kind: "silence", Msg: "agent's silence request rejected: " + err.Error()})
		}
		return
	}
	ctx.Send(a.env.journal, &Event{Time: m.Recv, Host: a.st.name, Kind: "silence",
		Msg:    fmt.Sprintf("agent silenced %s for %s: %s", metric, m.For, m.Comment),
		Fields: map[string]any{"id": sil.ID, "metric": metric, "until": unixSeconds(sil.Until)}})
}

// store keeps a sample in its plugin's ring; false if it was a duplicate.
func (a *hostActor) store(ctx actor.Context, m *ingest.Sample) bool {
	a.exp.mu.Lock()
	r := a.plugins[string(m.Plugin)]
	if r == nil {
		r = a.addRing(string(m.Plugin))
	}
	before := r.len()
	smp := sample{unixNano: m.Sent, data: m.Data}
	inserted := r.insert(smp)
	a.exp.mu.Unlock()
	grew := r.sizeDelta()
	a.sampleBytes += int(grew)
	a.env.stats.SamplesBytes.Add(grew)
	if !inserted {
		// The same sample via another daemon address (or one too old to keep).
		a.env.stats.SamplesDuplicate.Add(1)
		return false
	}
	a.dirty = true // the ring saves what it gained (persist.go)
	a.env.stats.SamplesReceived.Add(1)
	if r.len() > before {
		a.env.stats.SamplesHeld.Add(1)
	}
	if a.env.streaming() {
		a.env.publish(ctx, contract.FramePlugin, a.st.name, string(m.Plugin), contract.PluginFrame(a.st.name, string(m.Plugin), m.Data, m.Sent))
	}
	return true
}

// addRing makes the ring of a new plugin. The map is made with the first:
// a host without plugins does not pay for it. The caller holds exp.mu.
func (a *hostActor) addRing(plugin string) *ring {
	if a.plugins == nil {
		a.plugins = make(map[string]*ring)
	}
	r := newRing(plugin, a.env.history)
	a.plugins[r.name] = r
	return r
}

func (a *hostActor) samplesHeld() int {
	n := 0
	for _, r := range a.plugins {
		n += r.len()
	}
	return n
}

// samplesBytes is what the host's rings have added to Stats.SamplesBytes.
func (a *hostActor) samplesBytes() int64 {
	var n int64
	for _, r := range a.plugins {
		n += int64(r.counted)
	}
	return n
}

// afterChange publishes the new summary and events and re-arms the liveness timer.
func (a *hostActor) afterChange(ctx actor.Context) {
	now := a.env.clock.Now()
	for _, e := range a.st.drainEvents() {
		ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Kind: e.kind, Msg: e.msg})
	}
	a.observeLiveness(ctx, now)
	a.pushSummary(ctx)
	a.arm(ctx.Self())
}

// pushSummary sends the fleet index (and the WebSocket stream) the host's
// current summary, with its active alerts.
func (a *hostActor) pushSummary(ctx actor.Context) {
	s := a.st.summaryAt(a.env.clock.Now())
	s.src = a
	if a.alertsDirty || a.lastAlerts != nil {
		if a.alertsDirty {
			a.lastAlerts = a.activeAlerts()
			a.publishLevels()
			a.alertsDirty = false
		}
		s.Alerts = a.lastAlerts
	}
	// The frame is encoded before the summary leaves: once sent it is
	// shared and only read.
	var frame []byte
	if a.env.streaming() {
		frame = s.encodeFrame()
	}
	ctx.Send(a.env.fleet, s)
	if frame != nil {
		a.env.publish(ctx, contract.FrameHost, a.st.name, "", frame)
	}
}

// arm makes sure a timer fires at the next connection deadline. Deadlines
// only move later as heartbeats arrive, so a pending earlier timer is kept:
// when it fires, check finds nothing overdue and arm sets the later one.
// That keeps heartbeats from resetting a timer each time.
func (a *hostActor) arm(self *actor.PID) {
	next := a.st.nextDeadline()
	if a.dep != nil {
		if d := a.depDeadline(a.env.clock.Now()); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() || a.frozen {
		return
	}
	if a.timer != nil && a.timerAt <= next.UnixNano() {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	root := a.env.system.Root
	a.timerAt = next.UnixNano()
	a.timer = a.env.clock.AfterFunc(next.Sub(a.env.clock.Now()), func() { root.Send(self, &livenessTick{}) })
}

// answer builds the answer of a plugins query: the latest sample of every
// plugin (q.plugin ""), or the newest q.limit samples of one. It reads the
// plugin map and the rings only: the actor calls it, or another goroutine
// holding exp.mu (System.QueryPlugins).
func (a *hostActor) answer(q *pluginsQuery) Answer {
	if q.plugin == "" {
		plugins := make([]contract.Plugin, 0, len(a.plugins))
		for name, r := range a.plugins {
			plugins = append(plugins, contract.Plugin{Name: name, Samples: &r.store})
		}
		slices.SortFunc(plugins, func(x, y contract.Plugin) int { return strings.Compare(x.Name, y.Name) })
		return Answer{Body: contract.AppendPlugins(nil, a.st.name, plugins)}
	}
	r := a.plugins[q.plugin]
	if r == nil {
		return Answer{Missing: MissingPlugin}
	}
	return Answer{Body: contract.AppendPluginSamples(nil, a.st.name, q.plugin, &r.store, q.limit)}
}
