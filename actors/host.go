package actors

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/transport/wire"
)

// inbound is one verified, decoded datagram on its way to its HostActor.
// Its byte slices are owned by the message (copied off the socket buffer).
type inbound struct {
	kind     wire.Kind
	ver      uint8
	seq      uint64
	sent     int64     // agent's timestamp, unix nanoseconds
	recv     time.Time // when the daemon read it
	from     netip.AddrPort
	acks     *ackWriter // the socket it came in on, for the ACK; nil sends none
	interval time.Duration
	connSeq  uint32
	rtt      time.Duration
	text     string // boot: agent version; shutdown: reason
	plugin   []byte
	data     []byte // sample: a validated JSON object
	host     string // set only when the message goes through the registry
}

// livenessTick asks a HostActor to check its deadlines; sent by its timer.
type livenessTick struct{}

// pluginsQuery asks a HostActor for its plugin data, as the body of
// /api/0/hosts/{h}/plugins (plugin == "") or .../plugins/{plugin}?limit=N.
// The actor answers on reply, which must have room for one value, so the
// actor never blocks on a slow or departed caller.
type pluginsQuery struct {
	plugin string
	limit  int
	reply  chan<- APIReply
}

// APIReply is a finished HTTP answer built by an actor.
type APIReply struct {
	Status int
	Body   []byte
}

// hostEnv is what every HostActor shares: read-only settings and the PIDs
// of the actors it reports to.
type hostEnv struct {
	system    *actor.ActorSystem
	clock     Clock
	history   int
	downAfter int
	interval  time.Duration // assumed until the agent states its own
	fleet     *actor.PID
	journal   *actor.PID
	stats     *Stats
}

// hostActor owns everything the daemon knows of one host: liveness and
// connections, replay window and plugin ring buffers. Nothing else reads or
// writes them; other parts ask with messages. Receive never blocks.
type hostActor struct {
	env     *hostEnv
	st      *hostState
	replay  wire.ReplayWindow
	plugins map[string]*ring

	timer   Timer
	timerAt time.Time
}

func newHostActor(env *hostEnv, name string, dyn bool) *hostActor {
	return &hostActor{
		env:     env,
		st:      newHostState(name, dyn, env.interval, env.downAfter),
		plugins: make(map[string]*ring),
	}
}

func (a *hostActor) Receive(ctx actor.Context) {
	a.env.stats.hostMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *inbound:
		a.apply(ctx, m)
	case livenessTick:
		a.timer, a.timerAt = nil, time.Time{}
		a.st.check(a.env.clock.Now())
		a.afterChange(ctx)
	case pluginsQuery:
		m.reply <- a.answer(m)
	case *actor.Started:
		ctx.Send(a.env.fleet, a.st.summary())
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
		a.env.stats.SamplesHeld.Add(-int64(a.samplesHeld()))
	}
}

func (a *hostActor) apply(ctx actor.Context, m *inbound) {
	// The replay check is here, not in the reader, because the window is
	// per-host state and this actor is its only owner.
	if !a.replay.Check(m.seq) {
		a.env.stats.Drop(wire.ReasonReplay)
		return
	}
	a.env.stats.accept(m.kind)
	a.st.ver = m.ver
	switch m.kind {
	case wire.KindHeartbeat:
		a.st.heartbeat(m.recv, m.from, m.interval, m.connSeq, m.rtt)
		a.ack(m)
	case wire.KindBoot:
		a.st.boot(m.recv, m.from, m.interval, m.text)
		a.ack(m)
	case wire.KindShutdown:
		a.st.shutdown(m.recv, m.from, m.text)
	case wire.KindSample:
		a.store(m)
		return // samples do not change the host's summary
	}
	a.afterChange(ctx)
}

// ack queues the ACK with the socket's writer; a full queue drops it (and
// counts it) rather than block: the agent just measures no RTT this time.
func (a *hostActor) ack(m *inbound) {
	if m.acks == nil {
		return
	}
	if !m.acks.enqueue(ackRequest{host: a.st.name, to: m.from, seq: m.seq, sent: m.sent, recv: m.recv}) {
		a.env.stats.AcksDropped.Add(1)
	}
}

func (a *hostActor) store(m *inbound) {
	r := a.plugins[string(m.plugin)]
	if r == nil {
		r = newRing(a.env.history)
		a.plugins[string(m.plugin)] = r
	}
	// The agent sends each sample to every daemon address, with the same
	// timestamp: keep the first copy. An older sample arriving late would
	// break the ring's time order, so it is dropped too (and counted).
	if r.len() > 0 && m.sent <= r.newest(0).unixNano {
		a.env.stats.SamplesDuplicate.Add(1)
		return
	}
	before := r.len()
	r.push(sample{unixNano: m.sent, data: m.data})
	a.env.stats.SamplesReceived.Add(1)
	if r.len() > before {
		a.env.stats.SamplesHeld.Add(1)
	}
}

func (a *hostActor) samplesHeld() int {
	n := 0
	for _, r := range a.plugins {
		n += r.len()
	}
	return n
}

// afterChange publishes the new summary and events and re-arms the liveness timer.
func (a *hostActor) afterChange(ctx actor.Context) {
	now := a.env.clock.Now()
	for _, msg := range a.st.drainEvents() {
		ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Msg: msg})
	}
	ctx.Send(a.env.fleet, a.st.summary())
	a.arm(ctx.Self())
}

// arm makes sure a timer fires at the next connection deadline. Deadlines
// only move later as heartbeats arrive, so a pending earlier timer is kept:
// when it fires, check finds nothing overdue and arm sets the later one.
// That keeps heartbeats from resetting a timer each time.
func (a *hostActor) arm(self *actor.PID) {
	next := a.st.nextDeadline()
	if next.IsZero() {
		return
	}
	if a.timer != nil && !a.timerAt.After(next) {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	root := a.env.system.Root
	a.timerAt = next
	a.timer = a.env.clock.AfterFunc(next.Sub(a.env.clock.Now()), func() { root.Send(self, livenessTick{}) })
}

// answer builds the body of a plugins query.
func (a *hostActor) answer(q pluginsQuery) APIReply {
	name := a.st.name
	if q.plugin == "" {
		names := make([]string, 0, len(a.plugins))
		for p := range a.plugins {
			names = append(names, p)
		}
		slices.Sort(names)
		b := make([]byte, 0, 256+len(names)*256)
		b = append(b, `{"hostname":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"plugins":{`...)
		for i, p := range names {
			r := a.plugins[p]
			if i > 0 {
				b = append(b, ',')
			}
			s := r.newest(0)
			b = appendJSONString(b, p)
			b = append(b, `:{"timestamp":`...)
			b = appendUnixNano(b, s.unixNano)
			b = append(b, `,"data":`...)
			b = append(b, s.data...)
			b = append(b, `,"sample_count":`...)
			b = strconv.AppendInt(b, int64(r.len()), 10)
			b = append(b, '}')
		}
		return APIReply{Status: 200, Body: append(b, "}}"...)}
	}
	r := a.plugins[q.plugin]
	if r == nil {
		return errorReply(404, "Plugin '"+q.plugin+"' not found for host '"+name+"'")
	}
	n := min(q.limit, r.len())
	b := make([]byte, 0, 128+n*(64+len(r.newest(0).data)))
	b = append(b, `{"hostname":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"plugin":`...)
	b = appendJSONString(b, q.plugin)
	b = append(b, `,"samples":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		s := r.newest(i)
		b = append(b, `{"timestamp":`...)
		b = appendUnixNano(b, s.unixNano)
		b = append(b, `,"data":`...)
		b = append(b, s.data...)
		b = append(b, '}')
	}
	b = append(b, `],"sample_count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"stored":`...)
	b = strconv.AppendInt(b, int64(r.len()), 10)
	return APIReply{Status: 200, Body: append(b, '}')}
}

// ErrorBody is the JSON error object every API error carries.
func ErrorBody(msg string) []byte {
	b := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	return append(b, '}')
}

func errorReply(status int, msg string) APIReply {
	return APIReply{Status: status, Body: ErrorBody(msg)}
}
