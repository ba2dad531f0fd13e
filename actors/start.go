package actors

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/journal"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/logx"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/ingest"
)

// Step is one part of the pipeline: Start starts it and returns what stops
// it. Steps are started in the order Steps lists them and stopped in the
// reverse order, so what a part depends on runs before it and stops after
// it.
type Step struct {
	Name  string
	Start func() (stop func(), err error)
}

// New prepares a System: the actor system, its counters and indexes.
// Nothing is bound and no actor runs until its steps are started; Close
// releases what New made.
func New(cfg Config) *System {
	cfg.setDefaults()
	log := cfg.Logger
	acfg := actor.Configure()
	// protoactor logs at Info for routine events; keep only its warnings.
	acfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger {
		return slog.New(logx.AtLeast(log.Handler(), slog.LevelWarn)).With("lib", "protoactor")
	}
	as := actor.NewActorSystemWithConfig(acfg)
	s := &System{Registry: &Registry{}, Fleet: &Fleet{}, Stats: NewStats(), State: &StateStats{}, Replica: &ReplicaStats{},
		Refusals: limits.NewRefusals(limits.Options{Logger: log}),
		cfg:      cfg, actors: as, pool: newPoolDispatcher(0, 300), clock: cfg.Clock, log: log}
	s.load = newLoadWatch(s.Stats, cfg.Clock, log)
	// Named before it exists: the HostActors are spawned (restored)
	// before the notifier, which must stop before them, and the
	// dispatcher's workers report to it. Nothing is sent to it before
	// it is spawned: restored hosts report their firing alerts when
	// they resume, after the notifier has started. It runs without
	// channels too, so that a reload can add the first.
	s.notifier = actor.NewPID(as.Address(), notifierName)
	s.dropBase = make(map[string]notify.Drops)
	// A message the readers handed over leaves the ingest backlog when an
	// actor takes it, or here, if it meets no actor (a dead letter).
	// HostActors stop only with the daemon, so a message cannot be left
	// uncounted in a stopped one's mailbox while the readers run.
	stats := s.Stats
	as.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			if _, ok := dl.Message.(ingest.Message); ok {
				stats.Taken()
			}
		}
	})
	if cfg.Cluster != nil {
		s.Cluster = newCluster(s, *cfg.Cluster)
		s.newReplication()
	} else if cfg.Replica != nil {
		s.newReplication()
	}
	return s
}

// notifierName is the notifier actor's name in the actor system.
const notifierName = "notifier"

// Steps lists the pipeline's parts in the order they start. Each one's
// stop undoes it; run in reverse, they stop ingest first, then the
// periodic checkpoints, pause liveness, let the notifier deliver what is
// queued (for up to NotifyGrace), save every host's state, and stop the
// HostActors, the fleet index, the journal, the WebSocket hub and the
// silences, in that order. cmd/hbd runs them as start/stop pairs beside
// its own (HTTP, dead man's switch); Start runs them for tests.
func (s *System) Steps() []Step {
	steps := []Step{
		{"udp", s.bindUDP},
		{"load watch", s.startLoadWatch},
		{"silences", s.startSilences},
		{"websocket hub", s.startBroadcaster},
		{"journal", s.startJournal},
		{"fleet index", s.startFleet},
	}
	// A member joins before its hosts are spawned: only the declared
	// hosts it owns are.
	if s.Cluster != nil {
		steps = append(steps, Step{"cluster", s.Cluster.start}, Step{"fleet exchange", s.startFleetExchange})
	}
	return append(steps, []Step{
		{"hosts", s.startHosts},
		{"replication", s.startReplication},
		{"final checkpoint", s.startFinalCheckpoint},
		{"notifier", s.startNotifier},
		{"resume", s.resumeHosts},
		{"silence ends", s.startSilenceEnds},
		{"checkpoints", s.startCheckpoints},
		{"ingest", s.startIngest},
	}...)
}

// Start prepares a System and starts every step. An error (a UDP port in
// use, an unreadable journal or state directory) is returned with
// everything that had started stopped again.
func Start(cfg Config) (*System, error) {
	s := New(cfg)
	for _, st := range s.Steps() {
		stop, err := st.Start()
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.stops = append(s.stops, stop)
	}
	return s, nil
}

// Stop stops what Start started, in reverse order, and then closes the
// System. Safe to call more than once.
func (s *System) Stop() {
	s.stopOnce.Do(func() {
		for i := len(s.stops) - 1; i >= 0; i-- {
			s.stops[i]()
		}
		s.Close()
	})
}

// Close shuts the actor system and the HostActors' worker pool down; run
// it after every step has stopped.
func (s *System) Close() {
	s.actors.Shutdown()
	s.pool.stop()
}

// Durable reports whether the system keeps its state on disk.
func (s *System) Durable() bool { return s.ckpt != nil }

// KernelDrops returns the datagrams the kernel dropped on the daemon's
// sockets because their receive buffers were full; ok is false where the
// platform cannot tell.
func (s *System) KernelDrops() (uint64, bool) {
	if s.ingest == nil {
		return 0, false
	}
	return s.ingest.KernelDrops()
}

// UDPAddrs returns the addresses the daemon listens on.
func (s *System) UDPAddrs() []netip.AddrPort {
	return s.ingest.Addrs()
}

// bindUDP opens the sockets. From here agents' datagrams wait in the
// kernel's buffers; nothing reads them before the saved state is back
// (the "ingest" step).
func (s *System) bindUDP() (func(), error) {
	in, err := ingest.Bind(s.cfg.Listener, s.log)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on UDP port %d: %w", s.cfg.Listener.Port, err)
	}
	s.ingest = in
	s.openedAt = s.clock.Now()
	tables := in.Sockets() + 1
	if s.Cluster != nil {
		tables++ // the Injector's, for datagrams other members forward
	}
	s.Rejected = rejected.New(tables, rejected.Options{Logger: s.log})
	return in.Close, nil
}

// startLoadWatch starts watching whether ingest is behind (load.go).
func (s *System) startLoadWatch() (func(), error) {
	s.load.start()
	return s.load.stop, nil
}

func (s *System) startSilences() (func(), error) {
	sil, err := silence.Open(s.cfg.SilencesFile, s.clock, s.log)
	if err != nil {
		return nil, err
	}
	sil.Limit(&s.cfg.Limits, s.Refusals)
	if err := sil.SetConfig(s.cfg.Maintenance); err != nil {
		sil.Close()
		return nil, err
	}
	s.Silences = sil
	return sil.Close, nil
}

// startBroadcaster starts the WebSocket hub, when configured. It stops
// after every actor that publishes to it; its connections (http/ws) are
// stopped before any of these steps.
func (s *System) startBroadcaster() (func(), error) {
	if s.cfg.WebSocket == nil {
		return func() {}, nil
	}
	opt := *s.cfg.WebSocket
	opt.Snapshot = streamSnapshots(s.Fleet)
	if opt.Logger == nil {
		opt.Logger = s.log
	}
	opt.Unexpected = func(msg any) { unexpected("broadcast", msg) }
	// The hub asks at each of its windows whether the load watch's last
	// look found ingest behind (load.go).
	stats := s.Stats
	opt.Behind = stats.IngestBehindNow.Load
	b := broadcast.Start(s.actors, opt)
	s.Broadcaster = b
	s.publish = func(_ actor.Context, typ, host, key string, frame []byte) {
		b.Publish(&broadcast.Event{Type: typ, Host: host, Key: key, Frame: frame})
	}
	// With nobody connected there is nothing to frame: a new client
	// starts from the fleet snapshot anyway.
	s.listening = func() bool { return b.Clients() > 0 }
	return b.Stop, nil
}

// startJournal starts the journal actor, warmed from the file so
// /api/0/messages survives a restart; every other actor feeds it.
func (s *System) startJournal() (func(), error) {
	cfg, log := &s.cfg, s.log
	var warm []Event
	var jw *journal.Writer
	if cfg.Journal != nil {
		recs, err := journal.Tail(*cfg.Journal, cfg.KeepEvents)
		if err != nil {
			return nil, fmt.Errorf("cannot read the journal: %w", err)
		}
		warm = eventsFromRecords(recs)
		if jw, err = journal.Open(*cfg.Journal); err != nil {
			return nil, fmt.Errorf("cannot open the journal: %w", err)
		}
		if n := jw.Repaired(); n > 0 {
			log.Warn("the journal ended in a torn line (a crash during a write); removed it", "file", jw.Path(), "bytes", n)
		}
	}
	root := s.actors.Root
	s.journal = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		j := newJournalActor(cfg.KeepEvents, s.Stats, warm)
		j.publish, j.listening = s.publish, s.listening
		if jw != nil {
			j.startWriter(jw, log)
		}
		return j
	}))
	root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system", Msg: "hbd started"})
	if jw != nil && jw.Repaired() > 0 {
		root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system",
			Msg: fmt.Sprintf("the journal ended in a torn line of %d bytes, left by a crash during a write; it was removed", jw.Repaired())})
	}
	return func() {
		root.Send(s.journal, &Event{Time: s.clock.Now(), Kind: "system", Msg: "hbd stopped"})
		s.poison(s.journal)
	}, nil
}

func (s *System) startFleet() (func(), error) {
	s.fleetPID = s.actors.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return newFleetActor(s.Fleet, s.clock, s.cfg.PublishEvery, s.actors, s.Stats)
	}))
	if s.Cluster != nil {
		// Before the cluster step starts the member: it registers the
		// fleet service.
		s.JoinCluster(s.Cluster.Node, s.cfg.FleetEvery)
	}
	return func() { s.poison(s.fleetPID) }, nil
}

// startHosts reads the saved state and spawns the registry, which spawns
// a HostActor for every saved host and for every declared one, their
// liveness paused until the "resume" step.
func (s *System) startHosts() (func(), error) {
	cfg, log, root := &s.cfg, s.log, s.actors.Root
	env := &hostEnv{
		system:    s.actors,
		clock:     cfg.Clock,
		history:   cfg.History,
		downAfter: cfg.DownAfter,
		liveness:  cfg.Liveness.watching(&s.Stats.IngestBehind),
		interval:  cfg.DefaultInterval,
		fleet:     s.fleetPID,
		journal:   s.journal,
		stats:     s.Stats,
		rejects:   s.Rejected.Table(s.ingest.Sockets()),

		notifier:   s.notifier,
		replicator: s.replicator,
		silences:   s.Silences,
		broadcast:  s.publish,
		listening:  s.listening,
		log:        log,
		limits:     &cfg.Limits,
		refusals:   s.Refusals,
		view:       s.Fleet,
	}
	if s.Cluster != nil {
		env.fleetLag = cfg.FleetEvery
		if env.fleetLag <= 0 {
			env.fleetLag = time.Second
		}
	}
	env.alerting.Store(alertingOf(cfg))
	env.spawner = newHostSpawner(actor.WithDispatcher(s.pool))
	s.env = env

	// The saved state, read back before any datagram is.
	loaded := &statefile.State{NextSeq: 1}
	s.began = time.Now()
	if cfg.State != nil {
		var err error
		if loaded, err = statefile.Load(cfg.State.Dir); err != nil {
			return nil, err
		}
		for _, p := range loaded.Problems {
			log.Error("state file not used", "path", p.Path, "err", p.Err, "action", p.Action)
			root.Send(s.journal, &Event{Time: cfg.Clock.Now(), Kind: "system", Msg: "state file not used: " + p.String()})
		}
	}
	s.loaded = loaded
	restored := make(chan spawnedAtStart, 1)
	s.Registry.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		a := &registryActor{reg: s.Registry, env: env, watch: cfg.Listener.Watch, dynamic: cfg.Listener.AcceptDynamic, log: log,
			restore: loaded.Hosts, openedAt: s.openedAt, restored: restored}
		if s.Cluster != nil {
			a.owns = s.Cluster.Owns
		} else if s.cfg.Replica != nil {
			link := s.cfg.Replica.Link // a test's members
			a.owns = func(host string) bool { return link.Placement().Local(host) }
		}
		return a
	}, actor.WithSupervisor(resumeHosts(log)), actor.WithDispatcher(s.pool)))
	sp := <-restored
	s.restored, s.declaredNew = sp.restored, sp.declared
	return func() { s.poison(s.Registry.pid) }, nil
}

// startFinalCheckpoint makes the checkpointer, when the state is durable.
// Its stop is the last save, after the notifier's last deliveries have
// reached the hosts and before the hosts stop.
func (s *System) startFinalCheckpoint() (func(), error) {
	if s.cfg.State == nil {
		return func() {}, nil
	}
	s.ckpt = newCheckpointer(*s.cfg.State, s.loaded, s.Registry, s.actors.Root, s.clock, s.log, s.State, s.Journal)
	return func() {
		began := time.Now()
		if s.ckpt.final() {
			s.log.Info("state saved", "dir", s.ckpt.cfg.Dir, "hosts", s.Registry.Len(), "took", time.Since(began).Round(time.Millisecond))
		}
	}, nil
}

// startNotifier starts the notification dispatcher and the notifier actor
// it reports to, when channels are configured. Its stop sends the
// transitions still waiting to be grouped, lets queued notifications go
// out for up to NotifyGrace, and stops the actor, whose last messages
// (deliveries) reach the hosts before they hand over their state.
func (s *System) startNotifier() (func(), error) {
	cfg, root := &s.cfg, s.actors.Root
	opt := cfg.NotifyOptions
	pid := s.notifier
	opt.Result = func(r notify.Result) { root.Send(pid, &notifyResult{r: r}) }
	s.notifyOpt = opt
	s.dispatch = notify.NewDispatcher(cfg.Routes, opt)
	_, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &notifierActor{
			d: s.dispatch, routes: cfg.Routes, silences: s.Silences, journal: s.journal, clock: cfg.Clock,
			system: s.actors, stats: s.Stats, firing: make(map[string]*firing), recovered: make(map[string]time.Time), hostPIDs: make(map[string]*actor.PID),
			tick: cfg.RepeatCheck, grouping: cfg.Grouping, fleet: s.Fleet, log: s.log,
			groups: make(map[groupKey]*pendingGroup),
		}
	}), notifierName)
	if err != nil {
		s.dispatch.Close()
		return nil, fmt.Errorf("cannot start the notifier: %w", err)
	}
	return func() {
		done := make(chan struct{})
		root.Send(pid, &flushGroups{done: done})
		select {
		case <-done:
		case <-time.After(ckptWait):
			s.log.Warn("the notifier did not flush its groups in time")
		}
		s.dispatchMu.Lock()
		d := s.dispatch
		s.dispatchMu.Unlock()
		d.CloseWithin(cfg.NotifyGrace)
		s.waitRetired(cfg.NotifyGrace)
		s.poison(pid)
	}, nil
}

// resumeHosts starts the restored hosts' liveness: it counts from now, so
// a host that sent nothing while the daemon was down turns DOWN
// down_after intervals from here, not at once; so does the grace of a
// declared host never heard from, however long the restore took. It returns once the fleet
// index lists every host, so the API's first answer lists the whole
// fleet. Its stop pauses every host's liveness: ingest has stopped by
// then, and a deadline passing now would page for a host that is fine.
func (s *System) resumeHosts() (func(), error) {
	now := s.clock.Now()
	s.inBatches(slices.Concat(s.restored, s.declaredNew), "resume", func(done chan<- struct{}) any { return &resume{at: now, done: done} })
	s.declaredNew = nil
	s.wait(s.fleetPID)
	if n := len(s.loaded.Hosts); n > 0 {
		s.State.RestoreNanos.Store(int64(time.Since(s.began)))
		s.State.RestoredHosts.Store(int64(len(s.restored)))
		tracked, firing := 0, 0
		for _, hr := range s.loaded.Hosts {
			for _, a := range hr.Records[len(hr.Records)-1].Host.Alerts {
				tracked++
				if alert.Level(a.Level) != alert.LevelOK {
					firing++
				}
			}
		}
		msg := fmt.Sprintf("state restored: %d hosts, %d samples, %d alerts (%d firing) (checkpoint age %.1f s)",
			len(s.restored), s.Stats.SamplesHeld.Load(), tracked, firing, now.Sub(s.loaded.Newest).Seconds())
		s.log.Info(msg, "dir", s.cfg.State.Dir, "took", time.Since(s.began).Round(time.Millisecond))
		s.actors.Root.Send(s.journal, &Event{Time: now, Kind: "system", Msg: msg})
	}
	if len(s.loaded.Hosts) > 0 {
		// Reading the files made garbage about the size of the state;
		// give it back to the system now rather than at the scavenger's
		// pace, so the restarted daemon's RSS is what it holds.
		go debug.FreeOSMemory()
	}
	s.loaded.Hosts, s.restored = nil, nil // the records belong to the actors now
	return func() {
		// The registry routes what the readers handed it before the
		// hosts are frozen, so a host born in the last batch is frozen too.
		s.wait(s.Registry.pid)
		s.freezeHosts()
	}, nil
}

// startCheckpoints starts the periodic checkpoints, when the state is
// durable.
func (s *System) startCheckpoints() (func(), error) {
	if s.ckpt == nil {
		return func() {}, nil
	}
	s.ckpt.start()
	return s.ckpt.stop, nil
}

// startIngest starts reading the UDP sockets: a reader and an ACK writer
// per socket. Its stop closes the sockets and waits for both.
func (s *System) startIngest() (func(), error) {
	deps := ingest.Deps{Router: ingestRouter{reg: s.Registry, root: s.actors.Root}, Clock: s.clock, Stats: &s.Stats.Counters,
		Rejected: s.Rejected, Limits: &s.cfg.Limits, Refusals: s.Refusals, Logger: s.log}
	if s.Cluster != nil {
		deps.Router = clusterRouter{ingestRouter: deps.Router.(ingestRouter), c: s.Cluster}
	}
	s.ingest.Start(deps)
	if s.Cluster != nil {
		s.Cluster.injector.Store(s.ingest.NewInjector(deps, s.ingest.Sockets()+1, s.Cluster))
		return func() {
			s.Cluster.injector.Store(nil)
			s.ingest.Stop()
		}, nil
	}
	return s.ingest.Stop, nil
}

// poison stops an actor and waits until it has.
func (s *System) poison(pid *actor.PID) {
	if err := s.actors.Root.PoisonFuture(pid).Wait(); err != nil {
		s.log.Warn("actor did not stop in time", "actor", pid.Id, "err", err)
	}
}
