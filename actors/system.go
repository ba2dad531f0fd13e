package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/deps"
	"github.com/hbd-project/hbd/internal/journal"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/internal/rejected"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/ingest"
)

// Config is what Start needs; the daemon's main fills it from config.Daemon.
type Config struct {
	Listener  ingest.Config
	History   int // samples kept per plugin per host
	DownAfter int // missed heartbeat intervals before a connection is down
	// Liveness is how silent connections are detected, per host glob
	// (detect.go); nil: the fixed DownAfter rule for every host. Its
	// DownAfter fields left 0 are DownAfter.
	Liveness        *Liveness
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
	// Maintenance is the config's [[maintenance]] windows (see
	// silence.Store.SetConfig); a reload replaces them.
	Maintenance []silence.Silence
	// WebSocket, when set, starts the broadcaster (the WebSocket hub) with
	// these options; its Snapshot (every host's JSON from the fleet index)
	// and Unexpected are filled in here.
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
	// Cluster, when set, makes the daemon a cluster member (see Cluster);
	// nil: single node.
	Cluster *member.Config
	// FleetEvery is how often, in a cluster, the fleet index sends the
	// other members its hosts that changed; 0 = 1 s.
	FleetEvery time.Duration
	// Replica tunes replication to the hosts' successors (replicator.go),
	// which runs in cluster mode; nil there takes the defaults, and its
	// Link defaults to the cluster's member.
	Replica *ReplicaConfig
	// Dependencies are the [[dependencies]] rules (nil: none); agents
	// declare more (deps.go).
	Dependencies *deps.Rules
}

func (c *Config) setDefaults() {
	if c.History <= 0 {
		c.History = 100
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 3
	}
	c.Liveness = c.Liveness.withDefaults(c.DownAfter)
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
	if c.Cluster != nil && c.Replica == nil {
		c.Replica = &ReplicaConfig{}
	}
	if c.Replica != nil {
		if c.Replica.Every <= 0 {
			c.Replica.Every = 2 * time.Second
		}
		if c.Replica.MaxReplicas <= 0 {
			c.Replica.MaxReplicas = defaultMaxReplicas
		}
	}
}

// System is the actor pipeline: UDP ingest, registry and HostActors, fleet
// index, journal, notifier and WebSocket hub. New prepares it; its steps
// (Steps) start it and hand back what stops each part; Start runs them all.
// Its methods are safe for concurrent use; Stop is safe to call more than
// once.
type System struct {
	Registry *Registry
	Fleet    *Fleet
	Stats    *Stats
	Silences *silence.Store
	// Rejected lists who sent datagrams that were dropped, and why: one
	// table per UDP socket's reader, and a last one for the replays the
	// HostActors find. Set by the "udp" step.
	Rejected *rejected.Sources
	// State counts checkpoints and the restore; zero without durable state.
	State *StateStats
	// Refusals counts what the [limits] caps refused, by limit.
	Refusals *limits.Refusals
	// Replica counts replication in cluster mode; zero otherwise.
	Replica *ReplicaStats
	// Broadcaster is the WebSocket stream's hub actor; nil without
	// WebSocket. Its connections are an http/ws Endpoint built on it,
	// which must stop before the hub does.
	Broadcaster *broadcast.Broadcaster
	// Cluster is cluster mode's part; nil on a single node.
	Cluster *Cluster
	// queryHandler answers other members' per-host API queries (set by
	// the HTTP server; see SetQueryHandler).
	queryHandler atomic.Pointer[QueryHandler]
	fleetJoin    *fleetCluster // the exchange JoinCluster prepared

	cfg      Config
	actors   *actor.ActorSystem
	pool     *poolDispatcher
	ingest   *ingest.Ingest
	openedAt time.Time // when the UDP sockets were bound
	fleetPID *actor.PID
	journal  *actor.PID
	// notifier is the notifier's PID, named before it is spawned so the
	// HostActors and the dispatcher can be given it first. It runs with
	// no channels too, so that a reload can add some.
	notifier *actor.PID
	// dispatch sends the notifier's notifications; a reload replaces it
	// (under dispatchMu, read by NotifyChannels) and retires the old one,
	// whose drop counts carry over in dropBase (by channel name) and whose
	// deliveries retiring waits for.
	dispatchMu sync.Mutex
	dispatch   *notify.Dispatcher
	dropBase   map[string]notify.Drops
	retiring   sync.WaitGroup
	notifyOpt  notify.DispatcherOptions
	// env is what the HostActors share; a reload swaps its alert settings.
	env *hostEnv
	// loaded is the saved state until the HostActors own it; restored
	// are the HostActors spawned from it, resumed by the "resume" step.
	loaded   *statefile.State
	restored []*actor.PID
	// declaredNew are the declared hosts spawned at start that were not
	// in the saved state: resumed with the restored ones.
	declaredNew []*actor.PID
	began       time.Time     // when reading the saved state began
	ckpt        *checkpointer // nil without durable state
	load        *loadWatch    // whether ingest is behind (load.go)

	// publish hands a WebSocket frame to the hub and listening says
	// whether anybody is connected; nil without WebSocket.
	publish   func(ctx actor.Context, typ, host, key string, frame []byte)
	listening func() bool

	// replicator is the replicator's PID (cluster mode; nil otherwise),
	// named before it is spawned like the notifier; replicating says it
	// runs; handoffs are the hand-overs in progress; badFrameLog is when
	// a bad replica frame was last logged (unix ns).
	replicator  *actor.PID
	replicating atomic.Bool
	handoffs    sync.WaitGroup
	badFrameLog atomic.Int64

	clock Clock
	log   *slog.Logger

	// stops undo the steps Start ran, in reverse order.
	stops    []func()
	stopOnce sync.Once
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
//
// A host in the fleet's published snapshot is answered here, on the
// caller's goroutine, under the lock its HostActor holds while it changes
// its rings (see exposed): the actor's mailbox, which holds whatever the
// dispatcher has not run yet across the whole fleet, is not in the way.
// A host registered since the last publication is asked through it.
func (s *System) QueryPlugins(ctx context.Context, host, plugin string, limit int) (Answer, error) {
	if _, ok := s.Registry.Lookup(host); !ok {
		return Answer{Missing: MissingHost}, nil
	}
	if sum := s.Fleet.Snapshot().Find(host); sum != nil && sum.src != nil {
		a := sum.src
		a.exp.mu.Lock()
		defer a.exp.mu.Unlock()
		return a.answer(&pluginsQuery{plugin: plugin, limit: limit}), nil
	}
	return s.askHost(ctx, host, func(ch chan<- Answer) any { return &pluginsQuery{plugin: plugin, limit: limit, reply: ch} })
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
	if r.partial && s.cfg.Journal != nil {
		recs, err := journal.Read(*s.cfg.Journal, journal.Query{Limit: q.Limit, Host: q.Host, Since: q.Since})
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
	return s.askHost(ctx, host, func(ch chan<- Answer) any { return &alertsQuery{reply: ch} })
}

// QueryRTT asks a host's actor for the RTT windows of its connections,
// as the body of /api/0/hosts/{h}/rtt. The answer says when the host is
// unknown; the error is a *NoAnswerError when the actor did not answer
// before ctx ended.
func (s *System) QueryRTT(ctx context.Context, host string) (Answer, error) {
	return s.askHost(ctx, host, func(ch chan<- Answer) any { return &rttQuery{reply: ch} })
}

// askHost sends a host's actor the query that query makes with the reply
// channel, and waits for the answer (see await); an unknown host is
// answered MissingHost without asking.
func (s *System) askHost(ctx context.Context, host string, query func(chan<- Answer) any) (Answer, error) {
	pid, ok := s.Registry.Lookup(host)
	if !ok {
		return Answer{Missing: MissingHost}, nil
	}
	ch := make(chan Answer, 1)
	s.actors.Root.Send(pid, query(ch))
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
