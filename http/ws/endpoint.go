package ws

import (
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

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/contract"
)

// Default limits on what one client may send.
const (
	DefaultMessageRate  = 10 // messages per second
	DefaultMessageBurst = 20 // messages at once
	DefaultReadLimit    = 64 << 10
)

// DefaultMaxGlobs bounds the host globs of one subscription unless
// Options.MaxGlobs says otherwise: every event is matched against every
// glob of every client, on the actor that serves them all.
const DefaultMaxGlobs = 64

// Options configure an Endpoint. Zero values take the defaults noted.
type Options struct {
	QueueFrames int // per-client bound on queued frames; default 1024
	// QueueBytes bounds the bytes queued for one client, snapshots
	// included, beyond one snapshot of the whole fleet (so that a large
	// fleet does not cut off every client before its first frame);
	// default 8 MiB.
	QueueBytes   int
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
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxCloseGrace bounds how long Stop waits for clients to answer its close
// frame before it closes their connections regardless.
const maxCloseGrace = time.Second

// Endpoint is the WebSocket endpoint "/hbd": it upgrades requests and owns
// the connections, and hands each one to the hub (a broadcast.Broadcaster)
// as a broadcast.Conn.
type Endpoint struct {
	opt        Options
	log        *slog.Logger
	hub        *broadcast.Broadcaster
	upgrader   websocket.FastHTTPUpgrader
	origins    map[string]bool // AllowedOrigins, normalized
	anyOrigin  bool            // AllowedOrigins has "*"
	closeGrace time.Duration
	logLimit   *logLimiter

	framesSent     atomic.Uint64
	cutOffs        [numCutReasons]atomic.Uint64
	originsRefused atomic.Uint64
	stopped        atomic.Bool // read without the lock by Handler

	// mu guards live and stopping. live is the set of connections for
	// shutdown only (like net/http's tracked connections): routing belongs
	// to the hub, but closing must not depend on the hub being alive.
	mu       sync.Mutex
	live     map[*client]struct{}
	stopping bool
	wg       sync.WaitGroup // one per client, held by its reader goroutine
	stopOnce sync.Once
}

// New builds the endpoint in front of hub. It starts nothing: each
// upgraded connection runs on its own goroutines until it ends or Stop.
func New(hub *broadcast.Broadcaster, opt Options) *Endpoint {
	opt.setDefaults()
	e := &Endpoint{
		opt:        opt,
		log:        opt.Logger,
		hub:        hub,
		live:       make(map[*client]struct{}),
		closeGrace: min(maxCloseGrace, opt.WriteTimeout),
		origins:    make(map[string]bool),
		logLimit:   newLogLimiter(opt.Now),
	}
	for _, o := range opt.AllowedOrigins {
		if o == "*" {
			e.anyOrigin = true
		} else if n, ok := normalizeOrigin(strings.TrimSuffix(o, "/")); ok {
			e.origins[n] = true
		} else {
			e.log.Warn("websocket: ignoring an allowed origin that is not scheme://host[:port]", "origin", o)
		}
	}
	e.upgrader = websocket.FastHTTPUpgrader{
		CheckOrigin: e.checkOrigin,
		Error: func(ctx *fasthttp.RequestCtx, status int, reason error) {
			ctx.Response.Header.Set("Sec-Websocket-Version", "13")
			ctx.Error(reason.Error(), status)
		},
	}
	return e
}

// Clients returns the number of connected clients: those the hub has
// registered and not yet unregistered.
func (e *Endpoint) Clients() int { return e.hub.Clients() }

// FramesSent returns the number of frames written to clients, all clients
// together, snapshots and error frames included.
func (e *Endpoint) FramesSent() uint64 { return e.framesSent.Load() }

// FramesConflated returns how many host and plugin frames the hub's inbox
// replaced with a newer one of the same host and plugin before the hub
// took them (a hub behind the publishers).
func (e *Endpoint) FramesConflated() uint64 { return e.hub.Conflated() }

// FramesPending returns how many host and plugin frames wait in the hub
// for their turn (the coalescing window, or the fan-out budget).
func (e *Endpoint) FramesPending() int { return e.hub.Pending() }

// FanoutShare returns the share of the fan-out budget the hub uses now
// (lowered while ingest is behind).
func (e *Endpoint) FanoutShare() float64 { return e.hub.Share() }

// FramesDropped returns how many frames the hub's inbox dropped because it
// was full.
func (e *Endpoint) FramesDropped() uint64 { return e.hub.Dropped() }

// CutOff returns the number of clients the daemon disconnected, for any
// reason.
func (e *Endpoint) CutOff() uint64 {
	var n uint64
	for i := range e.cutOffs {
		n += e.cutOffs[i].Load()
	}
	return n
}

// CutOffs returns the number of clients disconnected for reason r.
func (e *Endpoint) CutOffs(r CutReason) uint64 {
	if r >= numCutReasons {
		return 0
	}
	return e.cutOffs[r].Load()
}

// OriginsRefused returns the number of upgrades refused for their Origin.
func (e *Endpoint) OriginsRefused() uint64 { return e.originsRefused.Load() }

// cutOff counts and logs c's cut-off, once per client whatever happens
// next (a client cut off for its queue usually also times out its last
// write). args describe it for the log.
func (e *Endpoint) cutOff(c *client, r CutReason, args ...any) {
	if !c.isCut.CompareAndSwap(false, true) {
		return
	}
	e.cutOffs[r].Add(1)
	args = append([]any{"reason", r.String(), "why", r.explain()}, args...)
	c.log.Debug("websocket client cut off", args...)
	e.logLimit.warn(c.log, "cut:"+r.String(), "websocket client cut off", args...)
}

// Handler upgrades the request to a WebSocket; mount it at "/hbd". A
// refused upgrade (bad Origin: 403; not a WebSocket request: 400) gets an
// HTTP error response.
func (e *Endpoint) Handler(ctx *fasthttp.RequestCtx) {
	if e.stopped.Load() {
		ctx.Error("the WebSocket broadcaster is shutting down", fasthttp.StatusServiceUnavailable)
		return
	}
	f, err := urlSubscription(ctx.QueryArgs(), e.opt.MaxGlobs)
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	if err := e.upgrader.Upgrade(ctx, func(ws *websocket.Conn) { e.serve(ws, f) }); err != nil {
		e.log.Debug("websocket upgrade refused", "remote", ctx.RemoteAddr().String(), "origin", string(ctx.Request.Header.Peek("Origin")), "err", err)
	}
}

// checkOrigin accepts requests without an Origin (tools such as websocat
// send none, and cross-site attacks need a browser, which always sends
// one) and requests from an allowed origin. It never compares the Origin
// with the request's Host: a site whose name the attacker points at
// 127.0.0.1 (DNS rebinding) has a matching Host and Origin.
func (e *Endpoint) checkOrigin(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" || e.anyOrigin {
		return true
	}
	if n, ok := normalizeOrigin(origin); ok && e.origins[n] {
		return true
	}
	e.originsRefused.Add(1)
	e.logLimit.warn(e.log, "origin", "websocket upgrade refused: its Origin is not allowed (add the page's origin to ws_origins if it is yours)",
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
func (e *Endpoint) serve(ws *websocket.Conn, f *broadcast.Filter) {
	c := newClient(ws, &e.opt, e.log.With("remote", ws.RemoteAddr().String()), e.cutOff)
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "hbd is shutting down"), time.Now().Add(e.closeGrace))
		c.closeConn()
		return
	}
	e.live[c] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	// Register counts the client after registering it, so that once
	// Clients() includes it, an event published afterwards is delivered
	// to it.
	e.hub.Register(c, f)
	c.log.Debug("websocket client connected")

	go c.writeLoop(&e.opt, &e.framesSent, e.closeGrace)
	e.readLoop(c)

	c.markDead()
	c.closeConn()
	<-c.writerDone
	e.hub.Unregister(c)

	e.mu.Lock()
	delete(e.live, c)
	e.mu.Unlock()
	c.log.Debug("websocket client disconnected")
}

// errRate ends a read when a ping or pong goes over the client's rate.
var errRate = errors.New("client over its message rate")

// readLoop reads the client's messages until the connection fails, the
// client closes it, or no pong (or other message) arrives within two ping
// intervals. Subscriptions go to the hub; the reader never writes data.
// Every message, ping and pong takes a token from the client's bucket; a
// client that runs out is cut off.
func (e *Endpoint) readLoop(c *client) {
	ws := c.ws
	ws.SetReadLimit(e.opt.ReadLimit)
	limit := rate.NewLimiter(e.opt.MessageRate, e.opt.MessageBurst)
	allow := func() bool { return limit.AllowN(e.opt.Now(), 1) }
	alive := func() {
		if !c.goingAway.Load() {
			_ = ws.SetReadDeadline(time.Now().Add(2 * e.opt.PingInterval))
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
			e.readEnded(c, err)
			return
		}
		alive()
		f, err := parseSubscription(msg, e.opt.MaxGlobs)
		if err != nil {
			e.hub.Reject(c, contract.ErrorFrame(err.Error()))
			continue
		}
		e.hub.Subscribe(c, f)
	}
}

// readEnded handles the error that ended c's reads: a cut-off for the
// client's rate, an oversized message or a missed pong; anything else is
// the connection ending.
func (e *Endpoint) readEnded(c *client, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errRate):
		e.cutOff(c, CutRate, "limit", fmt.Sprintf("%g/s, burst %d", float64(e.opt.MessageRate), e.opt.MessageBurst))
		c.closeWith(websocket.ClosePolicyViolation, fmt.Sprintf("rate limit exceeded: at most %g messages a second", float64(e.opt.MessageRate)))
		// Wait for the close frame to go out, then read and discard what
		// the client still sends until it closes or closeGrace passes.
		<-c.writerDone
		e.linger(c)
	case errors.Is(err, websocket.ErrReadLimit):
		// The library has sent a close frame (1009, message too big).
		e.cutOff(c, CutMessageSize, "limit", e.opt.ReadLimit)
		_ = c.raw.SetReadDeadline(time.Now().Add(e.closeGrace))
		e.linger(c)
	case errors.As(err, &ne) && ne.Timeout() && !c.goingAway.Load():
		e.cutOff(c, CutPongTimeout, "after", 2*e.opt.PingInterval)
	case !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		c.log.Debug("websocket client read ended", "err", err)
	}
}

// linger reads and discards what c still sends until it closes the
// connection or the read deadline (set by sayGoodbye or the caller)
// passes, so that closing the socket with unread data, which resets the
// connection, does not destroy the close frame before the client reads it.
func (e *Endpoint) linger(c *client) {
	_, _ = io.Copy(io.Discard, c.raw)
}

// Stop closes every client with a "going away" close frame and waits for
// the clients' goroutines (closing the connections of clients that do not
// answer in time); upgrades after it are refused. It leaves the hub
// running: stop the hub (broadcast.Broadcaster.Stop) after it. It is safe
// to call more than once and from several goroutines.
func (e *Endpoint) Stop() {
	e.stopOnce.Do(func() {
		e.mu.Lock()
		e.stopping = true
		e.stopped.Store(true)
		for c := range e.live {
			c.goAway()
		}
		e.mu.Unlock()

		done := make(chan struct{})
		go func() {
			e.wg.Wait()
			close(done)
		}()
		grace := time.NewTimer(2 * e.closeGrace)
		select {
		case <-done:
		case <-grace.C:
			e.mu.Lock()
			for c := range e.live {
				c.markDead()
				c.closeConn()
			}
			e.mu.Unlock()
			<-done
		}
		grace.Stop()
	})
}
