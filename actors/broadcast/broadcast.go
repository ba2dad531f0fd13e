package broadcast

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// Event is one change to broadcast, already encoded by the actor that
// produced it. Frame is shared by every client and must not be modified
// after it is published.
type Event struct {
	Type  string // "host", "plugin", "alert" or "message"
	Host  string // the host it is about, for filtering and coalescing; "" for daemon-wide messages
	Key   string // coalescing key within (Type, Host): the plugin name for "plugin"; "" for "host"
	Frame []byte // the complete frame JSON: {"type":...,"data":...}
}

// DefaultCoalesce is the coalescing window the daemon uses unless its
// config says otherwise. Options.Coalesce has no implicit default because
// its zero value means "off".
const DefaultCoalesce = 250 * time.Millisecond

// Options configure a Broadcaster. Zero values take the defaults noted,
// except Coalesce, where 0 turns coalescing off.
type Options struct {
	QueueFrames    int             // per-client bound on queued frames; default 1024
	QueueBytes     int             // per-client bound on queued bytes; default 8 MiB; snapshot frames do not count
	Coalesce       time.Duration   // window for merging "host"/"plugin" events with the same (Type, Host, Key); 0 = off
	WriteTimeout   time.Duration   // deadline for writing one frame; default 10s
	PingInterval   time.Duration   // time between pings; default 30s; no pong within 2 intervals closes the client
	ReadLimit      int64           // largest client message in bytes; default 64 KiB
	AllowedOrigins []string        // browser Origins allowed besides the same host: exact ("https://ops.example.com") or "*"
	Snapshot       func() [][]byte // the host objects (one JSON object each) for snapshot frames; called from the actor
	Logger         *slog.Logger
}

func (o *Options) setDefaults() {
	if o.QueueFrames <= 0 {
		o.QueueFrames = 1024
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 8 << 20
	}
	if o.Coalesce < 0 {
		o.Coalesce = 0
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 64 << 10
	}
	if o.Snapshot == nil {
		o.Snapshot = func() [][]byte { return nil }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxCloseGrace bounds how long Stop waits for clients to answer its close
// frame before it closes their connections regardless.
const maxCloseGrace = time.Second

// Broadcaster is the running broadcaster: its actor and its clients.
type Broadcaster struct {
	opt        Options
	log        *slog.Logger
	system     *actor.ActorSystem
	pid        *actor.PID
	upgrader   websocket.FastHTTPUpgrader
	origins    []string // AllowedOrigins without a trailing slash
	closeGrace time.Duration

	clients    atomic.Int64
	framesSent atomic.Uint64
	cutOff     atomic.Uint64
	stopped    atomic.Bool // read without the lock by Publish and the timers

	// mu guards live and stopping. live is the set of connections for
	// shutdown only (like net/http's tracked connections): routing belongs
	// to the actor, but closing must not depend on the actor being alive.
	mu        sync.Mutex
	live      map[*client]struct{}
	stopping  bool
	wg        sync.WaitGroup // one per client, held by its reader goroutine
	stopOnce  sync.Once
	actorDone chan struct{} // closed when the actor has stopped
}

// Start spawns the broadcaster's actor in system.
func Start(system *actor.ActorSystem, opt Options) *Broadcaster {
	opt.setDefaults()
	b := &Broadcaster{
		opt:        opt,
		log:        opt.Logger,
		system:     system,
		live:       make(map[*client]struct{}),
		actorDone:  make(chan struct{}),
		closeGrace: min(maxCloseGrace, opt.WriteTimeout),
	}
	for _, o := range opt.AllowedOrigins {
		b.origins = append(b.origins, strings.TrimSuffix(o, "/"))
	}
	b.upgrader = websocket.FastHTTPUpgrader{
		CheckOrigin: b.checkOrigin,
		Error: func(ctx *fasthttp.RequestCtx, status int, reason error) {
			ctx.Response.Header.Set("Sec-Websocket-Version", "13")
			ctx.Error(reason.Error(), status)
		},
	}
	h := newHub(b)
	// The producer returns the same hub every time: if a panic makes
	// protoactor restart the actor, it keeps its clients instead of
	// silently forgetting them (they would stay connected and starve).
	b.pid = system.Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor { return h }), "broadcast")
	return b
}

// PID is the actor's address; other actors ctx.Send it an *Event.
func (b *Broadcaster) PID() *actor.PID { return b.pid }

// Publish sends e to the actor. It never blocks; after Stop it does nothing.
func (b *Broadcaster) Publish(e *Event) {
	if e == nil || b.stopped.Load() {
		return
	}
	b.system.Root.Send(b.pid, e)
}

// Clients returns the number of connected clients.
func (b *Broadcaster) Clients() int { return int(b.clients.Load()) }

// FramesSent returns the number of frames written to clients, all clients
// together, snapshots and error frames included.
func (b *Broadcaster) FramesSent() uint64 { return b.framesSent.Load() }

// CutOff returns the number of clients disconnected for falling behind.
func (b *Broadcaster) CutOff() uint64 { return b.cutOff.Load() }

// Handler upgrades the request to a WebSocket; mount it at "/hbd". A
// refused upgrade (bad Origin: 403; not a WebSocket request: 400) gets an
// HTTP error response.
func (b *Broadcaster) Handler(ctx *fasthttp.RequestCtx) {
	if b.stopped.Load() {
		ctx.Error("the WebSocket broadcaster is shutting down", fasthttp.StatusServiceUnavailable)
		return
	}
	if err := b.upgrader.Upgrade(ctx, b.serve); err != nil {
		b.log.Debug("websocket upgrade refused", "remote", ctx.RemoteAddr().String(), "origin", string(ctx.Request.Header.Peek("Origin")), "err", err)
	}
}

// checkOrigin accepts requests without an Origin (tools such as websocat
// send none, and cross-site attacks need a browser, which always sends
// one), requests from a page on the same host:port, and the allow-list.
func (b *Broadcaster) checkOrigin(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return true
	}
	for _, o := range b.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, string(ctx.Host()))
}

// serve runs on the hijacked connection's goroutine and is the client's
// reader. fasthttp closes the connection when serve returns, so serve
// returns only after the writer has finished with it.
func (b *Broadcaster) serve(ws *websocket.Conn) {
	c := newClient(ws, &b.opt, b.log.With("remote", ws.RemoteAddr().String()))
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "hbd is shutting down"), time.Now().Add(b.closeGrace))
		c.closeConn()
		return
	}
	b.live[c] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()

	// Register before counting, so that once Clients() includes this
	// client, an event published afterwards reaches the actor after the
	// registration and is delivered to it.
	b.system.Root.Send(b.pid, &register{c: c})
	b.clients.Add(1)
	c.log.Debug("websocket client connected")

	go c.writeLoop(&b.opt, &b.framesSent, b.closeGrace)
	b.readLoop(c)

	c.markDead()
	c.closeConn()
	<-c.writerDone
	b.system.Root.Send(b.pid, &unregister{c: c})

	b.mu.Lock()
	delete(b.live, c)
	b.mu.Unlock()
	b.clients.Add(-1)
	c.log.Debug("websocket client disconnected")
}

// readLoop reads the client's messages until the connection fails, the
// client closes it, or no pong (or other message) arrives within two ping
// intervals. Subscriptions go to the actor; the reader never writes data.
func (b *Broadcaster) readLoop(c *client) {
	ws := c.ws
	ws.SetReadLimit(b.opt.ReadLimit)
	alive := func() {
		if !c.goingAway.Load() {
			_ = ws.SetReadDeadline(time.Now().Add(2 * b.opt.PingInterval))
		}
	}
	alive()
	ws.SetPongHandler(func(string) error { alive(); return nil })
	// Pongs go out from the writer, the connection's only writer: the
	// library's default would write from this goroutine.
	ws.SetPingHandler(func(data string) error { alive(); c.queuePong(data); return nil })
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.log.Debug("websocket client read ended", "err", err)
			}
			return
		}
		alive()
		f, err := parseSubscription(msg)
		if err != nil {
			b.system.Root.Send(b.pid, &rejected{c: c, frame: errorFrame(err.Error())})
			continue
		}
		b.system.Root.Send(b.pid, &subscribe{c: c, f: f})
	}
}

// errorFrame encodes {"type":"error","data":{"error":msg}}.
func errorFrame(msg string) []byte {
	type data struct {
		Error string `json:"error"`
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data data   `json:"data"`
	}{"error", data{msg}})
	return b
}

// Stop closes every client with a "going away" close frame, waits for the
// clients' goroutines (closing the connections of clients that do not
// answer in time), then stops the actor. It is safe to call more than once
// and from several goroutines.
func (b *Broadcaster) Stop() {
	b.stopOnce.Do(func() {
		b.mu.Lock()
		b.stopping = true
		b.stopped.Store(true)
		for c := range b.live {
			c.goAway()
		}
		b.mu.Unlock()

		done := make(chan struct{})
		go func() {
			b.wg.Wait()
			close(done)
		}()
		grace := time.NewTimer(2 * b.closeGrace)
		select {
		case <-done:
		case <-grace.C:
			b.mu.Lock()
			for c := range b.live {
				c.markDead()
				c.closeConn()
			}
			b.mu.Unlock()
			<-done
		}
		grace.Stop()

		b.system.Root.Poison(b.pid)
		wait := time.NewTimer(10 * time.Second)
		defer wait.Stop()
		select {
		case <-b.actorDone:
		case <-wait.C:
			b.log.Warn("websocket broadcaster actor did not stop in time")
		}
	})
}
