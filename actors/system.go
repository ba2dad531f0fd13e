package actors

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
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
}

// System is the running actor pipeline: UDP listener, registry and
// HostActors, fleet index and journal. Its methods are safe for concurrent
// use; Stop is safe to call more than once.
type System struct {
	Registry *Registry
	Fleet    *Fleet
	Stats    *Stats

	actors   *actor.ActorSystem
	listener *listener
	fleetPID *actor.PID
	journal  *actor.PID
	log      *slog.Logger
	stopOnce sync.Once
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

	acfg := actor.Configure()
	// protoactor logs at Info for routine events; keep only its warnings.
	acfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger {
		return slog.New(minLevel{Handler: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	}
	as := actor.NewActorSystemWithConfig(acfg)

	s := &System{Registry: &Registry{}, Fleet: &Fleet{}, Stats: NewStats(), actors: as, log: log}
	root := as.Root
	s.journal = root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newJournalActor(cfg.KeepEvents, s.Stats) }))
	s.fleetPID = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return newFleetActor(s.Fleet, cfg.Clock, cfg.PublishEvery, as, s.Stats)
	}))
	env := &hostEnv{
		system:    as,
		clock:     cfg.Clock,
		history:   cfg.History,
		downAfter: cfg.DownAfter,
		interval:  cfg.DefaultInterval,
		fleet:     s.fleetPID,
		journal:   s.journal,
		stats:     s.Stats,
	}
	s.Registry.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &registryActor{reg: s.Registry, env: env, watch: cfg.Listener.Watch, dynamic: cfg.Listener.AcceptDynamic, log: log}
	}, actor.WithSupervisor(resumeHosts(log))))

	l := &listener{cfg: cfg.Listener, conns: conns, system: as, registry: s.Registry, clock: cfg.Clock, stats: s.Stats, log: log}
	for _, c := range conns {
		l.writers = append(l.writers, &ackWriter{conn: c, queue: make(chan ackRequest, 8192), keys: cfg.Listener.Keys, clock: cfg.Clock, stats: s.Stats, log: log})
	}
	s.listener = l
	l.start()
	return s, nil
}

// UDPAddrs returns the addresses the daemon listens on.
func (s *System) UDPAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range s.listener.conns {
		out = append(out, c.LocalAddr().AddrPort())
	}
	return out
}

// Stop stops ingest first, then the actors in dependency order, so every
// message already read is applied and every event reaches the journal.
func (s *System) Stop() {
	s.stopOnce.Do(func() {
		s.listener.stop()
		root := s.actors.Root
		for _, pid := range []*actor.PID{s.Registry.pid, s.fleetPID, s.journal} {
			if err := root.PoisonFuture(pid).Wait(); err != nil {
				s.log.Warn("actor did not stop in time", "actor", pid.Id, "err", err)
			}
		}
		s.actors.Shutdown()
	})
}

// errTimeout answers a query whose actor did not reply in time.
var errTimeout = APIReply{Status: 503, Body: ErrorBody("the host's actor did not answer in time; the daemon is overloaded")}

// QueryPlugins asks a host's actor for its plugin data. found is false for
// an unknown host. plugin "" asks for the latest sample of every plugin.
func (s *System) QueryPlugins(ctx context.Context, host, plugin string, limit int) (reply APIReply, found bool) {
	pid, ok := s.Registry.Lookup(host)
	if !ok {
		return APIReply{}, false
	}
	ch := make(chan APIReply, 1)
	s.actors.Root.Send(pid, pluginsQuery{plugin: plugin, limit: limit, reply: ch})
	return await(ctx, ch), true
}

// Messages returns the newest limit journal events as a JSON array.
func (s *System) Messages(ctx context.Context, limit int) APIReply {
	ch := make(chan APIReply, 1)
	s.actors.Root.Send(s.journal, messagesQuery{limit: limit, reply: ch})
	return await(ctx, ch)
}

// await waits for an actor's answer. Replies go through a buffered channel
// rather than protoactor futures: the actor's send never blocks, a caller
// that gave up leaves nothing behind, and there is no future PID to register.
func await(ctx context.Context, ch <-chan APIReply) APIReply {
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return errTimeout
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
