// Package http serves hbd's JSON API over fasthttp.
//
// Fleet-wide answers (/api/0/hosts) come from the fleet index's immutable
// snapshot and never ask the HostActors. Per-host answers are built by the
// host's actor and returned as finished JSON; the handler only copies what
// it needs out of the request before asking, because fasthttp reuses a
// RequestCtx and its byte slices once the handler returns.
//
// Every error is a JSON object {"error": "..."} with a 4xx status for bad
// input; bad input never yields a 500. Server methods are safe for
// concurrent use; Shutdown may be called more than once.
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/assets"
	"github.com/hbd-project/hbd/http/ws"
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/transport/wire"
)

// Limits of the API's query parameters.
const (
	defaultMessages = 30
	maxMessages     = 1000
	defaultSamples  = 10
	maxSamples      = 100000
	maxHostsPage    = 1000000
)

// Options configure the server.
type Options struct {
	// QueryTimeout bounds how long a handler waits for a HostActor's answer.
	QueryTimeout time.Duration
	Logger       *slog.Logger
	// Collectors are added to /metrics (for example the WebSocket broadcaster's).
	Collectors []prometheus.Collector
	// CORSOrigins lists the origins allowed to call the API from a browser
	// ("*" for any); empty adds no CORS headers.
	CORSOrigins []string
	// Guard applies the [api] table: connection caps, rate limit,
	// authentication, CSRF checks, pprof. nil = a Guard with no
	// credentials and no caps (reads open, writes from loopback only).
	Guard *Guard
	// TLS, when set, serves https:// (and wss:// on /hbd) on the API port.
	TLS *tls.Config
	// WebSocket, when set, is served at /hbd and its counters are added
	// to /metrics; nil serves no WebSocket stream on the API port.
	WebSocket *ws.Endpoint
	// Fleet bounds the fleet exposition, /metrics/fleet.
	Fleet FleetOptions
	// Reload, when set, serves POST /-/reload (a write, so a write token
	// or loopback): it re-reads the config and returns the status and the
	// JSON body of the answer. nil answers 404.
	Reload func() (status int, body []byte)
}

// maxBodySize bounds a request body: the only bodies the API takes are
// silences, well under 1 KiB.
const maxBodySize = 64 << 10 // bytes

// Server is the API server.
type Server struct {
	sys     *actors.System
	srv     *fasthttp.Server
	router  *router.Router
	metrics *metrics
	log     *slog.Logger
	timeout time.Duration

	mu       sync.Mutex
	ln       net.Listener
	shutdown bool

	guard *Guard
	tls   *tls.Config
}

// New builds the server and its routes; call Listen and Serve to run it.
func New(sys *actors.System, opt Options) *Server {
	if opt.QueryTimeout <= 0 {
		opt.QueryTimeout = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Guard == nil {
		opt.Guard = NewGuard(GuardOptions{Logger: opt.Logger, CORSOrigins: opt.CORSOrigins})
	}
	opt.Collectors = append(opt.Collectors, opt.Guard)
	s := &Server{sys: sys, log: opt.Logger, timeout: opt.QueryTimeout, guard: opt.Guard, tls: opt.TLS}
	r := router.New()
	r.RedirectTrailingSlash = false
	assets.Register(r)
	r.SaveMatchedRoutePath = true
	if opt.WebSocket != nil {
		opt.Collectors = append(opt.Collectors, wsCollector{opt.WebSocket})
		r.GET("/hbd", opt.WebSocket.Handler)
	}
	opt.Collectors = append(opt.Collectors, notifyCollector{sys})
	fleet := newFleetExposition(sys, opt.Fleet, opt.Logger)
	opt.Collectors = append(opt.Collectors, fleetCollector{fleet})
	if sys.Cluster != nil {
		opt.Collectors = append(opt.Collectors, clusterCollector{sys.Cluster, sys.Registry})
		opt.Collectors = append(opt.Collectors, replicaCollector{sys})
	}
	if sys.Cluster != nil {
		opt.Collectors = append(opt.Collectors, fleetExchangeCollector{sys})
	}
	s.metrics = newMetrics(sys, opt.Collectors...)
	r.GET("/metrics", s.metrics.handler())
	r.GET("/metrics/fleet", fleet.handler)
	if opt.Guard.pprof {
		r.GET("/debug/pprof/{profile:*}", opt.Guard.gate.wrap(pprof()))
	}
	r.GET("/api/0/hosts", s.hosts)
	r.GET("/api/0/hosts/{hostname}", s.host)
	r.GET("/api/0/hosts/{hostname}/plugins", s.byOwner(s.plugins))
	r.GET("/api/0/hosts/{hostname}/plugins/{plugin_name}", s.byOwner(s.plugin))
	r.GET("/api/0/hosts/{hostname}/alerts", s.byOwner(s.hostAlerts))
	r.GET("/api/0/hosts/{hostname}/rtt", s.byOwner(s.hostRTT))
	r.GET("/api/0/alerts", s.alerts)
	r.GET("/api/0/silences", s.listSilences)
	r.POST("/api/0/silences", s.addSilence)
	r.DELETE("/api/0/silences/{id}", s.deleteSilence)
	r.GET("/api/0/messages", s.messages)
	r.GET("/api/0/stats", s.stats)
	r.GET("/api/0/cluster", s.cluster)
	r.POST("/-/reload", reloadHandler(opt.Reload))
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("no such path: %s", ctx.Path()))
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", ctx.Method(), ctx.Path()))
	}
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		s.log.Error("HTTP handler panicked", "path", string(ctx.Path()), "panic", v)
		writeError(ctx, fasthttp.StatusInternalServerError, "internal error")
	}
	s.router = r
	if sys.Cluster != nil {
		sys.SetQueryHandler(s.answerQuery)
	}
	s.srv = &fasthttp.Server{
		// The guard's rate limit comes before CORS so that preflights count
		// too, and its checks after, so that a refusal carries the CORS
		// headers a dashboard on another origin needs to read it.
		Handler:     s.metrics.instrument(opt.Guard.limit(newCORS(opt.CORSOrigins).wrap(opt.Guard.protect(r.Handler)))),
		Name:        "hbd",
		ReadTimeout: opt.Guard.readTO,
		// A CPU profile answers after up to maxProfileSeconds.
		WriteTimeout:          (maxProfileSeconds + 30) * time.Second,
		IdleTimeout:           opt.Guard.idleTO,
		MaxRequestBodySize:    maxBodySize,
		NoDefaultServerHeader: false,
		NoDefaultDate:         true,
		Logger:                fasthttpLogger{s.log},
	}
	return s
}

// Router exposes the router so later features (pages, WebSocket, metrics) can add routes.
func (s *Server) Router() *router.Router { return s.router }

// Listen binds addr ("host:port"; an empty host means every interface),
// under the guard's connection caps, with TLS if Options.TLS is set.
func (s *Server) Listen(addr string) error {
	ln, err := s.guard.Listen("api", addr, s.tls)
	if err != nil {
		return fmt.Errorf("cannot listen for HTTP on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("http: Serve called before Listen")
	}
	err := s.srv.Serve(ln)
	s.mu.Lock()
	down := s.shutdown
	s.mu.Unlock()
	if down {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	s.mu.Unlock()
	return s.srv.ShutdownWithContext(ctx)
}

func (s *Server) hosts(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	limit, err := intArg(args, "limit", maxHostsPage, 1, maxHostsPage)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	offset, err := intArg(args, "offset", 0, 0, maxHostsPage)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	var want actors.HostState
	filter := false
	if st := args.Peek("state"); st != nil {
		var ok bool
		want, ok = parseState(string(st))
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("invalid state '%s': must be one of %s", st, stateList))
			return
		}
		filter = true
	}
	snap := s.sys.Fleet.Snapshot()
	setPartial(ctx, snap)
	hosts := snap.Hosts
	total := len(hosts)
	if filter {
		total = snap.CountByState(want)
	}
	ctx.Response.Header.Set("X-Total-Count", strconv.Itoa(total))
	// The page is built in a pooled buffer (fasthttp copies it into the
	// response's own): at fleet-100k's 500 pages of 100 hosts a second,
	// a buffer per page (and its growth) was half of everything the daemon
	// allocated, and so half of the collector's work.
	bp := pageBufs.Get().(*[]byte)
	b := contract.AppendHosts((*bp)[:0], func(yield func([]byte) bool) {
		skipped, n := 0, 0
		for _, h := range hosts {
			if filter && h.State != want {
				continue
			}
			if skipped < offset {
				skipped++
				continue
			}
			if n == limit || !yield(h.JSON()) {
				return
			}
			n++
		}
	})
	writeJSON(ctx, fasthttp.StatusOK, b)
	putPage(bp, b)
}

// pageBufs holds the buffers list pages are built in (/api/0/hosts,
// /api/0/alerts); a page larger than maxPooledPage (thousands of hosts or
// alerts) is left to the collector instead of pinning its memory in the
// pool.
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledPage = 4 << 20

// putPage gives the buffer of bp, grown to b, back to pageBufs once its
// page was copied into the response.
func putPage(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledPage {
		*bp = b
		pageBufs.Put(bp)
	}
}

// host answers /api/0/hosts/{hostname} from the fleet snapshot, like the
// lists (in a cluster, any member's view of any host), with each
// connection's "suspicion" read at the request from the model its summary
// carries (HostSummary.JSONAt).
func (s *Server) host(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	h := s.sys.Fleet.Snapshot().Find(name)
	if h == nil {
		hostNotFound(ctx, name)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, h.JSONAt(s.sys.Now()))
}

func (s *Server) plugins(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	s.askHost(ctx, name, "", 1)
}

func (s *Server) plugin(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	plugin, _ := ctx.UserValue("plugin_name").(string)
	if u, err := url.PathUnescape(plugin); err == nil {
		plugin = u
	}
	if !wire.ValidPluginName([]byte(plugin)) {
		pluginNotFound(ctx, name, plugin)
		return
	}
	limit, err := intArg(ctx.QueryArgs(), "limit", defaultSamples, 1, maxSamples)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	s.askHost(ctx, name, plugin, limit)
}

// hostRTT answers /api/0/hosts/{hostname}/rtt from the host's actor: per
// connection the quantiles of the recent heartbeats' RTTs and their history.
func (s *Server) hostRTT(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	s.ask(ctx, name, "", func(qctx context.Context) (actors.Answer, error) { return s.sys.QueryRTT(qctx, name) })
}

func (s *Server) askHost(ctx *fasthttp.RequestCtx, name, plugin string, limit int) {
	s.ask(ctx, name, plugin, func(qctx context.Context) (actors.Answer, error) {
		return s.sys.QueryPlugins(qctx, name, plugin, limit)
	})
}

// ask puts a question to a host's actor within the query timeout and
// writes its answer: 404 for an unknown host or plugin, 503 when the
// actor did not answer in time.
//
// The query's context is not derived from ctx: a *RequestCtx as a parent
// makes the context package watch it from a goroutine of its own, which
// reads the request's user values while fasthttp resets them for the next
// request (a data race the race detector found).
func (s *Server) ask(ctx *fasthttp.RequestCtx, name, plugin string, q func(context.Context) (actors.Answer, error)) {
	qctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	r, err := q(qctx)
	switch {
	case err != nil:
		noAnswer(ctx, err)
	case r.Missing == actors.MissingHost:
		hostNotFound(ctx, name)
	case r.Missing == actors.MissingPlugin:
		pluginNotFound(ctx, name, plugin)
	default:
		writeJSON(ctx, fasthttp.StatusOK, r.Body)
	}
}

// hostNotFound answers 404 for a host the daemon does not know.
func hostNotFound(ctx *fasthttp.RequestCtx, name string) {
	writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("Host '%s' not found", name))
}

// pluginNotFound answers 404 for a plugin the host has not sent.
func pluginNotFound(ctx *fasthttp.RequestCtx, host, plugin string) {
	writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("Plugin '%s' not found for host '%s'", plugin, host))
}

// noAnswer answers 503 for a query whose actor did not answer in time
// (an *actors.NoAnswerError says which).
func noAnswer(ctx *fasthttp.RequestCtx, err error) {
	writeError(ctx, fasthttp.StatusServiceUnavailable, err.Error()+"; the daemon is overloaded")
}

func (s *Server) messages(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	limit, err := intArg(args, "limit", defaultMessages, 1, maxMessages)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	q := actors.MessagesQuery{Limit: limit, Host: string(args.Peek("host"))}
	if v := args.Peek("since"); v != nil {
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f < 0 || f > 1e11 {
			writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("invalid since '%s': must be unix seconds", v))
			return
		}
		q.Since = time.UnixMilli(int64(f * 1e3))
	}
	qctx, cancel := context.WithTimeout(context.Background(), s.timeout) // not ctx: see ask
	defer cancel()
	b, err := s.sys.Messages(qctx, q)
	if err != nil {
		noAnswer(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, b)
}

// hostParam returns the {hostname} path parameter, answering 404 itself
// when it cannot be a host name (no host could have registered with it).
func hostParam(ctx *fasthttp.RequestCtx) (string, bool) {
	name, _ := ctx.UserValue("hostname").(string)
	if u, err := url.PathUnescape(name); err == nil {
		name = u
	}
	if !wire.ValidName([]byte(name)) {
		hostNotFound(ctx, name)
		return "", false
	}
	// The router's value may alias the request buffer: copy before it
	// travels to an actor.
	return string([]byte(name)), true
}

// stateList is the states parseState accepts, for its error message.
var stateList = func() string {
	var names []string
	for _, st := range actors.AllStates() {
		names = append(names, st.String())
	}
	return strings.Join(names, ", ")
}()

func parseState(s string) (actors.HostState, bool) {
	for _, st := range actors.AllStates() {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// intArg parses an integer query parameter in [lo, hi], or returns def when absent.
func intArg(args *fasthttp.Args, name string, def, lo, hi int) (int, error) {
	v := args.Peek(name)
	if v == nil {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("invalid %s '%s': must be an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(body)
}

func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	writeJSON(ctx, status, contract.ErrorBody(msg))
}

// fasthttpLogger routes fasthttp's own messages to the daemon's log.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// reloadHandler serves POST /-/reload with reload, as Prometheus does;
// the request's body is not read.
func reloadHandler(reload func() (int, []byte)) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if reload == nil {
			writeError(ctx, fasthttp.StatusNotFound, "this server cannot reload its config")
			return
		}
		status, body := reload()
		writeJSON(ctx, status, body)
	}
}

// stats answers the ingest counters as JSON: what was received, accepted
// and dropped (by reason). The Prometheus form is on /metrics.
func (s *Server) stats(ctx *fasthttp.RequestCtx) {
	st := s.sys.Stats
	reasons := wire.AllReasons()
	dropped := make([]contract.Count, len(reasons))
	for i, r := range reasons {
		dropped[i] = contract.Count{Name: r.String(), N: st.Dropped(r)}
	}
	writeJSON(ctx, fasthttp.StatusOK, contract.AppendStats(nil, &contract.Stats{
		Received:               st.Received.Load(),
		Accepted:               st.Accepted.Load(),
		Dropped:                dropped,
		Hosts:                  s.sys.Registry.Len(),
		SamplesHeld:            st.SamplesHeld.Load(),
		AcksSent:               st.AcksSent.Load(),
		AcksDropped:            st.AcksDropped.Load(),
		RejectedSources:        s.sys.Rejected.Top(topRejected),
		RejectedSourcesEvicted: s.sys.Rejected.Evicted(),
		ReplayInstancesEvicted: st.ReplayEvictions.Load(),
	}))
}

// topRejected is how many rejected sources /api/0/stats and /metrics show:
// the busiest, so the answer and the metric's cardinality stay small
// however many addresses send garbage.
const topRejected = 10
