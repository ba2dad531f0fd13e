package broadcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"
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

// Default limits on what one client may send.
const (
	DefaultMessageRate  = 10 // messages per second
	DefaultMessageBurst = 20 // messages at once
	DefaultReadLimit    = 64 << 10
)

// Options configure a Broadcaster. Zero values take the defaults noted,
// except Coalesce, where 0 turns coalescing off.
type Options struct {
	QueueFrames int // per-client bound on queued frames; default 1024
	// QueueBytes bounds the bytes queued for one client, snapshots
	// included, beyond one snapshot of the whole fleet (so that a large
	// fleet does not cut off every client before its first frame);
	// default 8 MiB.
	QueueBytes   int
	Coalesce     time.Duration // window for merging "host"/"plugin" events with the same (Type, Host, Key); 0 = off
	WriteTimeout time.Duration // deadline for writing one frame; default 10s
	PingInterval time.Duration // time between pings; default 30s; no pong within 2 intervals closes the client
	ReadLimit    int64         // largest client message in bytes; default 64 KiB; a larger one cuts the client off
	// MessageRate and MessageBurst bound what a client sends: messages,
	// pings and pongs, through a token bucket (golang.org/x/time/rate); a
	// client over it is cut off with close code 1008. Defaults 10/s and 20.
	MessageRate  rate.Limit
	MessageBurst int
	MaxGlobs     int // host globs in one subscription; default DefaultMaxGlobs
	// AllowedOrigins are the browser Origins allowed to open the stream:
	// exact ("https://ops.example.com"; compared without case and default
	// port) or "*". A request without an Origin header (not a browser) is
	// always allowed. The request's own Host is never trusted: DNS
	// rebinding lets any site choose it.
	AllowedOrigins []string
	Snapshot       func() [][]byte // the host objects (one JSON object each) for snapshot frames; called from the actor
	Logger         *slog.Logger
	Now            func() time.Time // the clock of the rate limits and of the log's own limit; default time.Now
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
		o.ReadLimit = DefaultReadLimit
	}
	if o.MessageRate <= 0 {
		o.MessageRate = DefaultMessageRate
	}
	if o.MessageBurst <= 0 {
		o.MessageBurst = DefaultMessageBurst
	}
	if o.MaxGlobs <= 0 {
		o.MaxGlobs = DefaultMaxGlobs
	}
	if o.Now == nil {
		o.Now = time.Now
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
	origins    map[string]bool // AllowedOrigins, normalized
	anyOrigin  bool            // AllowedOrigins has "*"
	closeGrace time.Duration
	logLimit   *logLimiter

	clients        atomic.Int64
	framesSent     atomic.Uint64
	cutOffs        [numCutReasons]atomic.Uint64
	originsRefused atomic.Uint64
	stopped        atomic.Bool // read without the lock by Publish and the timers

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
		origins:    make(map[string]bool),
		logLimit:   newLogLimiter(opt.Now),
	}
	for _, o := range opt.AllowedOrigins {
		if o == "*" {
			b.anyOrigin = true
		} else if n, ok := normalizeOrigin(strings.TrimSuffix(o, "/")); ok {
			b.origins[n] = true
		} else {
			b.log.Warn("websocket: ignoring an allowed origin that is not scheme://host[:port]", "origin", o)
		}
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

// CutOff returns the number of clients the daemon disconnected, for any
// reason.
func (b *Broadcaster) CutOff() uint64 {
	var n uint64
	for i := range b.cutOffs {
		n += b.cutOffs[i].Load()
	}
	return n
}

// CutOffs returns the number of clients disconnected for reason r.
func (b *Broadcaster) CutOffs(r CutReason) uint64 {
	if r >= numCutReasons {
		return 0
	}
	return b.cutOffs[r].Load()
}

// OriginsRefused returns the number of upgrades refused for their Origin.
func (b *Broadcaster) OriginsRefused() uint64 { return b.originsRefused.Load() }

// cutOff counts and logs c's cut-off, once per client whatever happens
// next (a client cut off for its queue usually also times out its last
// write). args describe it for the log.
func (b *Broadcaster) cutOff(c *client, r CutReason, args ...any) {
	if !c.isCut.CompareAndSwap(false, true) {
		return
	}
	b.cutOffs[r].Add(1)
	args = append([]any{"reason", r.String(), "why", r.explain()}, args...)
	c.log.Debug("websocket client cut off", args...)
	b.logLimit.warn(c.log, "cut:"+r.String(), "websocket client cut off", args...)
}

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
// one) and requests from an allowed origin. It never compares the Origin
// with the request's Host: a site whose name the attacker points at
// 127.0.0.1 (DNS rebinding) has a matching Host and Origin.
func (b *Broadcaster) checkOrigin(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" || b.anyOrigin {
		return true
	}
	if n, ok := normalizeOrigin(origin); ok && b.origins[n] {
		return true
	}
	b.originsRefused.Add(1)
	b.logLimit.warn(b.log, "origin", "websocket upgrade refused: its Origin is not allowed (add the page's origin to ws_origins if it is yours)",
		"origin", origin, "host", string(ctx.Host()), "remote", ctx.RemoteAddr().String())
	return false
}

// normalizeOrigin returns o as scheme://host[:port] in the form browsers
// send: scheme and host in lower case, IP addresses in their canonical
// form, no default port. It refuses anything else ("null", paths).
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.ContainsAny(host, "[]") {
		return "", false
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// serve runs on the hijacked connection's goroutine and is the client's
// reader. fasthttp closes the connection when serve returns, so serve
// returns only after the writer has finished with it.
func (b *Broadcaster) serve(ws *websocket.Conn) {
	c := newClient(ws, &b.opt, b.log.With("remote", ws.RemoteAddr().String()), b.cutOff)
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

// errRate ends a read when a ping or pong goes over the client's rate.
var errRate = errors.New("client over its message rate")

// readLoop reads the client's messages until the connection fails, the
// client closes it, or no pong (or other message) arrives within two ping
// intervals. Subscriptions go to the actor; the reader never writes data.
// Every message, ping and pong takes a token from the client's bucket; a
// client that runs out is cut off.
func (b *Broadcaster) readLoop(c *client) {
	ws := c.ws
	ws.SetReadLimit(b.opt.ReadLimit)
	limit := rate.NewLimiter(b.opt.MessageRate, b.opt.MessageBurst)
	allow := func() bool { return limit.AllowN(b.opt.Now(), 1) }
	alive := func() {
		if !c.goingAway.Load() {
			_ = ws.SetReadDeadline(time.Now().Add(2 * b.opt.PingInterval))
		}
	}
	alive()
	ws.SetPongHandler(func(string) error {
		if !allow() {
			return errRate
		}
		alive()
		return nil
	})
	// Pongs go out from the writer, the connection's only writer: the
	// library's default would write from this goroutine.
	ws.SetPingHandler(func(data string) error {
		if !allow() {
			return errRate
		}
		alive()
		c.queuePong(data)
		return nil
	})
	for {
		_, msg, err := ws.ReadMessage()
		if err == nil && !allow() {
			err = errRate
		}
		if err != nil {
			b.readEnded(c, err)
			return
		}
		alive()
		f, err := parseSubscription(msg, b.opt.MaxGlobs)
		if err != nil {
			b.system.Root.Send(b.pid, &rejected{c: c, frame: errorFrame(err.Error())})
			continue
		}
		b.system.Root.Send(b.pid, &subscribe{c: c, f: f})
	}
}

// readEnded handles the error that ended c's reads: a cut-off for the
// client's rate, an oversized message or a missed pong; anything else is
// the connection ending.
func (b *Broadcaster) readEnded(c *client, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errRate):
		b.cutOff(c, CutRate, "limit", fmt.Sprintf("%g/s, burst %d", float64(b.opt.MessageRate), b.opt.MessageBurst))
		c.closeWith(websocket.ClosePolicyViolation, fmt.Sprintf("rate limit exceeded: at most %g messages a second", float64(b.opt.MessageRate)))
		// Wait for the close frame to go out, then read and discard what
		// the client still sends until it closes or closeGrace passes.
		<-c.writerDone
		b.linger(c)
	case errors.Is(err, websocket.ErrReadLimit):
		// The library has sent a close frame (1009, message too big).
		b.cutOff(c, CutMessageSize, "limit", b.opt.ReadLimit)
		_ = c.raw.SetReadDeadline(time.Now().Add(b.closeGrace))
		b.linger(c)
	case errors.As(err, &ne) && ne.Timeout() && !c.goingAway.Load():
		b.cutOff(c, CutPongTimeout, "after", 2*b.opt.PingInterval)
	case !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		c.log.Debug("websocket client read ended", "err", err)
	}
}

// linger reads and discards what c still sends until it closes the
// connection or the read deadline (set by sayGoodbye or the caller)
// passes, so that closing the socket with unread data, which resets the
// connection, does not destroy the close frame before the client reads it.
func (b *Broadcaster) linger(c *client) {
	_, _ = io.Copy(io.Discard, c.raw)
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
