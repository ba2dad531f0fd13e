package actors

import (
	"context"
	"fmt"
	"github.com/hbd-project/hbd/internal/silence"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/journal"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/udp"
)

// Config is what Start needs; the daemon's main fills it from config.Daemon.
type Config struct {
	Listener        ListenerConfig
	History         int           // samples kept per plugin per host
	DownAfter       int           // missed heartbeat intervals before a connection is down
	DefaultInterval time.Duration // heartbeat interval assumed until an agent states its own
	KeepEvents      int           // events kept in memory for /api/0/messages
	PublishEvery    time.Duration // how often the fleet index publishes a snapshot when hosts changed
	Clock           Clock
	Logger          *slog.Logger

	// Alerting. Rules nil: no threshold rules (the heartbeat alert still
	// applies to declared hosts).
	Rules        *alert.Rules
	AlertDynamic bool
	Flap         alert.FlapPolicy
	// Routes are the notification channels; none: alerts are tracked and
	// journaled but nobody is notified.
	Routes        []notify.Route
	NotifyOptions notify.DispatcherOptions
	// Grouping gathers transitions into one notification per kind and
	// tells a mass outage apart; zero: each transition on its own.
	Grouping Grouping
	// StoppedAfter is how long a host may stay STOPPED before its heartbeat
	// alert warns; 0: never.
	StoppedAfter time.Duration
	// UnreportedAfter is how long a declared host may stay unheard from
	// after the start before its heartbeat alert is CRITICAL; 0: DownAfter
	// times DefaultInterval.
	UnreportedAfter time.Duration
	// RepeatCheck is how often firing alerts are checked for repeats.
	RepeatCheck time.Duration
	// Journal, when set, is the journal file's configuration; nil keeps
	// events in memory only.
	Journal *journal.Config
	// SilencesFile persists silences across restarts ("" = memory only).
	SilencesFile string
	// WebSocket, when set, starts the broadcaster with these options; its
	// Snapshot is filled in here (every host's JSON from the fleet index).
	WebSocket *broadcast.Options
	// State, when set, restores the hosts saved in State.Dir at start,
	// checkpoints them while running and saves them on Stop; nil keeps
	// hosts in memory only.
	State *StateConfig
	// NotifyGrace is how long Stop lets queued notifications go out
	// before it gives up on them (default 5 s); what is not delivered is
	// sent again after a restart, when the state is kept.
	NotifyGrace time.Duration
	// Limits are the caps on what one agent can make the daemon keep;
	// zero fields take their defaults.
	Limits limits.Config
}

func (c *Config) setDefaults() {
	if c.History <= 0 {
		c.History = 100
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 3
	}
	if c.DefaultInterval <= 0 {
		c.DefaultInterval = 10 * time.Second
	}
	if c.KeepEvents <= 0 {
		c.KeepEvents = 1000
	}
	if c.PublishEvery <= 0 {
		c.PublishEvery = 50 * time.Millisecond
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RepeatCheck <= 0 {
		c.RepeatCheck = 10 * time.Second
	}
	if c.NotifyGrace <= 0 {
		c.NotifyGrace = 5 * time.Second
	}
	if c.State != nil && c.State.Every <= 0 {
		c.State.Every = 10 * time.Second
	}
	c.Limits.SetDefaults()
}

// System is the running actor pipeline: UDP listener, registry and
// HostActors, fleet index and journal. Its methods are safe for concurrent
// use; Stop is safe to call more than once.
type System struct {
	Registry *Registry
	Fleet    *Fleet
	Stats    *Stats
	Silences *silence.Store
	// Rejected lists who sent datagrams that were dropped, and why: one
	// table per UDP socket's reader, and a last one for the replays the
	// HostActors find.
	Rejected *rejected.Sources
	// State counts checkpoints and the restore; zero without durable state.
	State *StateStats
	// Refusals counts what the [limits] caps refused, by limit.
	Refusals *limits.Refusals

	actors   *actor.ActorSystem
	listener *listener
	fleetPID *actor.PID
	journal  *actor.PID
	notifier *actor.PID
	dispatch *notify.Dispatcher
	// Broadcaster is the WebSocket stream's actor; nil without WebSocket.
	Broadcaster *broadcast.Broadcaster
	jcfg        *journal.Config
	pool        *poolDispatcher
	ckpt        *checkpointer // nil without durable state
	conns       []*udp.Conn
	notifyGrace time.Duration
	clock       Clock
	log         *slog.Logger
	stopOnce    sync.Once
}

// Start binds the UDP sockets and starts every actor. A bind error is
// returned before anything is left running.
func Start(cfg Config) (*System, error) {
	cfg.setDefaults()
	log := cfg.Logger
	conns, err := bindUDP(cfg.Listener, log)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on UDP port %d: %w", cfg.Listener.Port, err)
	}
	// The sockets are open from here, but nothing is read before the
	// saved state is back: what agents send meanwhile waits in the
	// kernel's buffers.
	openedAt := cfg.Clock.Now()

	acfg := actor.Configure()
	// protoactor logs at Info for routine events; keep only its warnings.
	acfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger {
		return slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	}
	as := actor.NewActorSystemWithConfig(acfg)

	s := &System{Registry: &Registry{}, Fleet: &Fleet{}, Stats: NewStats(), State: &StateStats{}, actors: as, log: log,
		jcfg: cfg.Journal, clock: cfg.Clock, notifyGrace: cfg.NotifyGrace,
		Refusals: limits.NewRefusals(limits.Options{Logger: log})}
	fail := func(err error) (*System, error) {
		for _, c := range conns {
			c.Close()
		}
		as.Shutdown()
		return nil, err
	}
	sil, err := silence.Open(cfg.SilencesFile, cfg.Clock, log)
	if err != nil {
		return fail(err)
	}
	sil.Limit(&cfg.Limits, s.Refusals)
	s.Silences = sil
	s.conns = conns
	s.Rejected = rejected.New(len(conns)+1, rejected.Options{Logger: log})
	root := as.Root

	// The journal: warmed from the file so /api/0/messages survives a
	// restart, then fed by every actor.
	var warm []Event
	var jw *journal.Writer
	if cfg.Journal != nil {
		recs, err := journal.Tail(*cfg.Journal, cfg.KeepEvents)
		if err != nil {
			sil.Close()
			return fail(fmt.Errorf("cannot read the journal: %w", err))
		}
		warm = eventsFromRecords(recs)
		if jw, err = journal.Open(*cfg.Journal); err != nil {
			sil.Close()
			return fail(fmt.Errorf("cannot open the journal: %w", err))
		}
		if n := jw.Repaired(); n > 0 {
			log.Warn("the journal ended in a torn line (a crash during a write); removed it", "file", jw.Path(), "bytes", n)
		}
	}
	var publish func(ctx actor.Context, typ, host, key string, frame []byte)
	var listening func() bool
	if cfg.WebSocket != nil {
		opt := *cfg.WebSocket
		fleet := s.Fleet
		opt.Snapshot = func() [][]byte {
			hosts := fleet.Snapshot().Hosts
			out := make([][]byte, len(hosts))
			for i, h := range hosts {
				out[i] = h.JSON
			}
			return out
		}
		if opt.Logger == nil {
			opt.Logger = log
		}
		b := broadcast.Start(as, opt)
		s.Broadcaster = b
		pid := b.PID()
		publish = func(ctx actor.Context, typ, host, key string, frame []byte) {
			ctx.Send(pid, &broadcast.Event{Type: typ, Host: host, Key: key, Frame: frame})
		}
		// With nobody connected there is nothing to frame: a new client
		// starts from the fleet snapshot anyway.
		listening = func() bool { return b.Clients() > 0 }
	}
	s.journal = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		j := newJournalActor(cfg.KeepEvents, s.Stats, warm)
		j.publish, j.listening = publish, listening
		if jw != nil {
			j.startWriter(jw, log)
		}
		return j
	}))
	root.Send(s.journal, &Event{Time: cfg.Clock.Now(), Kind: "system", Msg: "hbd started"})
	if jw != nil && jw.Repaired() > 0 {
		root.Send(s.journal, &Event{Time: cfg.Clock.Now(), Kind: "system",
			Msg: fmt.Sprintf("the journal ended in a torn line of %d bytes, left by a crash during a write; it was removed", jw.Repaired())})
	}
	s.fleetPID = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return newFleetActor(s.Fleet, cfg.Clock, cfg.PublishEvery, as, s.Stats)
	}))
	// The notifier: the dispatcher's workers report outcomes back to it.
	if len(cfg.Routes) > 0 {
		opt := cfg.NotifyOptions
		var notifierPID *actor.PID
		ready := make(chan struct{})
		opt.Result = func(r notify.Result) {
			<-ready
			root.Send(notifierPID, notifyResult{r: r})
		}
		s.dispatch = notify.NewDispatcher(cfg.Routes, opt)
		notifierPID = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &notifierActor{
				d: s.dispatch, routes: cfg.Routes, silences: sil, journal: s.journal, clock: cfg.Clock,
				system: as, stats: s.Stats, firing: make(map[string]*firing), hostPIDs: make(map[string]*actor.PID),
				tick: cfg.RepeatCheck, grouping: cfg.Grouping, fleet: s.Fleet, log: log,
				groups: make(map[groupKey]*pendingGroup),
			}
		}))
		close(ready)
		s.notifier = notifierPID
	}
	env := &hostEnv{
		system:    as,
		clock:     cfg.Clock,
		history:   cfg.History,
		downAfter: cfg.DownAfter,
		interval:  cfg.DefaultInterval,
		fleet:     s.fleetPID,
		journal:   s.journal,
		stats:     s.Stats,
		rejects:   s.Rejected.Table(len(conns)),

		rules:        cfg.Rules,
		stoppedAfter: cfg.StoppedAfter,
		unreported:   cfg.UnreportedAfter,
		watch:        cfg.Listener.Watch,
		alertDynamic: cfg.AlertDynamic,
		flap:         cfg.Flap,
		notifier:     s.notifier,
		silences:     sil,
		broadcast:    publish,
		listening:    listening,
		log:          log,
		limits:       &cfg.Limits,
		refusals:     s.Refusals,
	}
	s.pool = newPoolDispatcher(0, 300)
	env.props = func(name string, dyn bool) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor { return newHostActor(env, name, dyn) }, actor.WithDispatcher(s.pool))
	}
	env.restoreProps = func(name string, dyn bool, recs []*statefile.Record, openedAt time.Time) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor {
			// The records are applied in the actor's Started, on the
			// pool's workers, so restoring a large fleet uses every core
			// rather than the registry's one goroutine.
			a := newHostActor(env, name, dyn)
			a.saved, a.openedAt = recs, openedAt
			a.restored, a.frozen = true, true
			return a
		}, actor.WithDispatcher(s.pool))
	}

	// The saved state, read back before any datagram is.
	var loaded *statefile.State
	began := time.Now()
	if cfg.State != nil {
		loaded, err = statefile.Load(cfg.State.Dir)
		if err != nil {
			s.stopEarly(sil)
			return nil, err
		}
		for _, p := range loaded.Problems {
			log.Error("state file not used", "path", p.Path, "err", p.Err, "action", p.Action)
			root.Send(s.journal, &Event{Time: cfg.Clock.Now(), Kind: "system", Msg: "state file not used: " + p.String()})
		}
	} else {
		loaded = &statefile.State{NextSeq: 1}
	}
	restored := make(chan []*actor.PID, 1)
	s.Registry.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &registryActor{reg: s.Registry, env: env, watch: cfg.Listener.Watch, dynamic: cfg.Listener.AcceptDynamic, log: log,
			restore: loaded.Hosts, openedAt: openedAt, restored: restored}
	}, actor.WithSupervisor(resumeHosts(log)), actor.WithDispatcher(s.pool)))
	pids := <-restored
	// Liveness of the restored hosts counts from now: a host that sent
	// nothing while the daemon was down turns DOWN down_after intervals
	// from here, not at once.
	now := cfg.Clock.Now()
	s.inBatches(pids, "resume", func(done chan<- struct{}) any { return &resume{at: now, done: done} })
	// Every restored host has sent its summary: publish them before the
	// API can answer, so its first answer lists the whole fleet.
	s.wait(s.fleetPID)
	if len(loaded.Hosts) > 0 {
		s.State.RestoreNanos.Store(int64(time.Since(began)))
		s.State.RestoredHosts.Store(int64(len(pids)))
		tracked, firing := 0, 0
		for _, hr := range loaded.Hosts {
			for _, a := range hr.Records[len(hr.Records)-1].Host.Alerts {
				tracked++
				if alert.Level(a.Level) != alert.LevelOK {
					firing++
				}
			}
		}
		msg := fmt.Sprintf("state restored: %d hosts, %d samples, %d alerts (%d firing) (checkpoint age %.1f s)",
			len(pids), s.Stats.SamplesHeld.Load(), tracked, firing, now.Sub(loaded.Newest).Seconds())
		log.Info(msg, "dir", cfg.State.Dir, "took", time.Since(began).Round(time.Millisecond))
		root.Send(s.journal, &Event{Time: now, Kind: "system", Msg: msg})
	}
	loaded.Hosts = nil // the records belong to the actors now
	if cfg.State != nil {
		s.ckpt = newCheckpointer(*cfg.State, loaded, s.Registry, root, cfg.Clock, log, s.State, s.Journal)
		s.ckpt.start()
	}

	l := &listener{cfg: cfg.Listener, conns: conns, system: as, registry: s.Registry, clock: cfg.Clock, stats: s.Stats, rejects: s.Rejected, log: log,
		limits: &cfg.Limits, refusals: s.Refusals}
	for _, c := range conns {
		l.writers = append(l.writers, &ackWriter{conn: c, queue: make(chan ackRequest, 8192), keys: cfg.Listener.Keys, clock: cfg.Clock, stats: s.Stats, log: log})
	}
	s.listener = l
	l.start()
	return s, nil
}

// Durable reports whether the system keeps its state on disk.
func (s *System) Durable() bool { return s.ckpt != nil }

// UDPAddrs returns the addresses the daemon listens on.
func (s *System) UDPAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range s.listener.conns {
		out = append(out, c.LocalAddr().AddrPort())
	}
	return out
}

// Stop stops ingest first, then the actors in dependency order, so every
// message already read is applied, every event reaches the journal, and,
// with durable state, every host's state is saved: liveness is paused (no
// deadline may pass while nothing can arrive), queued notifications go out
// for up to NotifyGrace, and then every HostActor hands over its state.
func (s *System) Stop() {
	s.stopOnce.Do(func() {
		// WebSocket clients first: their connections are hijacked, so
		// nothing else would close them.
		if s.Broadcaster != nil {
			s.Broadcaster.Stop()
		}
		s.listener.stop()
		if s.ckpt != nil {
			s.ckpt.stop()
		}
		root := s.actors.Root
		poison := func(pid *actor.PID) {
			if pid == nil {
				return
			}
			if err := root.PoisonFuture(pid).Wait(); err != nil {
				s.log.Warn("actor did not stop in time", "actor", pid.Id, "err", err)
			}
		}
		// The registry routes what the readers handed it before the hosts
		// are frozen, so a host born in the last batch is frozen too.
		s.wait(s.Registry.pid)
		s.freezeHosts()
		if s.notifier != nil {
			// Transitions waiting to be grouped go to the channels now,
			// within the grace below, not after it.
			done := make(chan struct{})
			root.Send(s.notifier, &flushGroups{done: done})
			select {
			case <-done:
			case <-time.After(ckptWait):
				s.log.Warn("the notifier did not flush its groups in time")
			}
		}
		if s.dispatch != nil {
			s.dispatch.CloseWithin(s.notifyGrace)
		}
		// The notifier's last messages (deliveries) reach the hosts before
		// they hand over their state.
		poison(s.notifier)
		if s.ckpt != nil {
			began := time.Now()
			if s.ckpt.final() {
				s.log.Info("state saved", "dir", s.ckpt.cfg.Dir, "hosts", s.Registry.Len(), "took", time.Since(began).Round(time.Millisecond))
			}
		}
		poison(s.Registry.pid)
		poison(s.fleetPID)
		root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system", Msg: "hbd stopped"})
		poison(s.journal)
		s.Silences.Close()
		s.actors.Shutdown()
		s.pool.stop()
	})
}

// stopEarly undoes a Start that failed after the actors were spawned.
func (s *System) stopEarly(sil *silence.Store) {
	for _, c := range s.conns {
		c.Close()
	}
	if s.dispatch != nil {
		s.dispatch.Close()
	}
	root := s.actors.Root
	for _, pid := range []*actor.PID{s.notifier, s.fleetPID, s.journal} {
		if pid != nil {
			_ = root.PoisonFuture(pid).Wait()
		}
	}
	sil.Close()
	s.actors.Shutdown()
}

// wait returns once the actor has processed what was sent to it before.
func (s *System) wait(pid *actor.PID) {
	done := make(chan struct{})
	s.actors.Root.Send(pid, &barrier{done: done})
	select {
	case <-done:
	case <-time.After(ckptWait):
		s.log.Warn("actor did not answer a barrier in time", "actor", pid.Id)
	}
}

// freezeHosts pauses every HostActor's liveness and waits until all have.
func (s *System) freezeHosts() {
	s.inBatches(s.Registry.PIDs(), "freeze", func(done chan<- struct{}) any { return &freeze{done: done} })
}

// inBatches sends every actor the message msg builds and waits for each to
// answer on done, a batch at a time so that the answers in flight stay
// bounded whatever the fleet's size.
func (s *System) inBatches(pids []*actor.PID, what string, msg func(done chan<- struct{}) any) {
	for i := 0; i < len(pids); i += ckptBatch {
		batch := pids[i:min(i+ckptBatch, len(pids))]
		done := make(chan struct{}, len(batch))
		m := msg(done)
		for _, pid := range batch {
			s.actors.Root.Send(pid, m)
		}
		timeout := time.NewTimer(ckptWait)
	wait:
		for range batch {
			select {
			case <-done:
			case <-timeout.C:
				s.log.Warn("hosts did not answer in time", "message", what)
				break wait
			}
		}
		timeout.Stop()
	}
}

// QueryPlugins asks a host's actor for its plugin data: plugin "" asks
// for the latest sample of every plugin, otherwise for the newest limit
// samples of one. The answer says when the host or the plugin is unknown;
// the error is a *NoAnswerError when the actor did not answer before ctx
// ended.
func (s *System) QueryPlugins(ctx context.Context, host, plugin string, limit int) (Answer, error) {
	pid, ok := s.Registry.Lookup(host)
	if !ok {
		return Answer{Missing: MissingHost}, nil
	}
	ch := make(chan Answer, 1)
	s.actors.Root.Send(pid, &pluginsQuery{plugin: plugin, limit: limit, reply: ch})
	return await(ctx, ch, "host")
}

// Messages returns the newest matching journal events as a JSON array,
// newest first. It answers from memory and reads the journal file (here, in
// the caller's goroutine, never in an actor) only when memory may not hold
// every match. The error is a *NoAnswerError when the journal's actor did
// not answer before ctx ended.
func (s *System) Messages(ctx context.Context, q MessagesQuery) ([]byte, error) {
	ch := make(chan messagesReply, 1)
	s.actors.Root.Send(s.journal, &messagesQuery{q: q, reply: ch})
	var r messagesReply
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, &NoAnswerError{Actor: "journal"}
	}
	if r.partial && s.jcfg != nil {
		recs, err := journal.Read(*s.jcfg, journal.Query{Limit: q.Limit, Host: q.Host, Since: q.Since})
		if err != nil {
			s.log.Warn("cannot read the journal file; answering from memory", "err", err)
		} else {
			return appendRecords(nil, recs), nil
		}
	}
	return r.body, nil
}

// QueryAlerts asks a host's actor for every alert it tracks. The answer
// says when the host is unknown; the error is a *NoAnswerError when the
// actor did not answer before ctx ended.
func (s *System) QueryAlerts(ctx context.Context, host string) (Answer, error) {
	pid, ok := s.Registry.Lookup(host)
	if !ok {
		return Answer{Missing: MissingHost}, nil
	}
	ch := make(chan Answer, 1)
	s.actors.Root.Send(pid, &alertsQuery{reply: ch})
	return await(ctx, ch, "host")
}

// Journal records an event from outside the actors (the API's silences).
func (s *System) Journal(e Event) {
	if e.Time.IsZero() {
		e.Time = s.clock.Now()
	}
	s.actors.Root.Send(s.journal, &e)
}

// Now is the system's clock.
func (s *System) Now() time.Time { return s.clock.Now() }

// await waits for the answer of actor (for the error: "host",
// "journal"). Replies go through a buffered channel rather than protoactor
// futures: the actor's send never blocks, a caller that gave up leaves
// nothing behind, and there is no future PID to register.
func await(ctx context.Context, ch <-chan Answer, actor string) (Answer, error) {
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return Answer{}, &NoAnswerError{Actor: actor}
	}
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(a), min: h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(n), min: h.min}
}
