package http

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/assets"
	"github.com/hbd-project/hbd/internal/apiauth"
)

// GuardOptions configure a Guard: the [api] table, translated by main.
type GuardOptions struct {
	// Credentials are the tokens and users; nil or empty means none, the
	// default: reads open, writes from loopback only.
	Credentials *apiauth.Set
	// CORSOrigins are the configured cors_origins; an origin listed there
	// (other than "*") may also write from a browser, with credentials.
	CORSOrigins []string
	// Pprof serves /debug/pprof (from loopback, or with a write token).
	Pprof bool
	// Rate is requests per second per client address, Burst the bucket
	// size; Rate 0 = no limit. RateExempt addresses are never limited.
	Rate       float64
	Burst      int
	RateExempt []netip.Prefix
	// MaxConns caps the open connections of all listeners that Listen
	// made, together; MaxConnsPerIP those of one client address. 0 = no cap.
	MaxConns      int
	MaxConnsPerIP int
	// ReadTimeout and IdleTimeout are the servers' (see [api] in config).
	ReadTimeout time.Duration
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock of the rate limits and of log pacing; nil = time.Now.
	Now func() time.Time
}

// Guard is what stands between the network and the handlers of every HTTP
// listener (API, ws_port, wss_port): connection caps and accept backoff
// (Listen), the per-client rate limit, authentication and scopes, CSRF
// checks on writes, and the pprof gate. It counts every refusal by reason
// on /metrics and logs it at most once a minute per source.
//
// The policy, in order, for each request:
//
//  1. rate: over the client address's rate: 429 with Retry-After.
//  2. public paths (the pages, their static files, /) pass: they hold no
//     data and must load to show the login field.
//  3. authentication: with credentials configured every other path needs
//     them (401 without, 401 for wrong ones, 403 for a read credential on
//     a write). With none configured, reads pass and writes and pprof are
//     accepted from loopback clients only (403 otherwise), and then only
//     with a loopback Host header, which DNS rebinding cannot forge.
//  4. writes and pprof: a cross-site browser request (Sec-Fetch-Site:
//     cross-site, or an Origin that is neither this host nor listed in
//     cors_origins) is 403; a write with a body must be application/json
//     (415), which a page on another site cannot send without a CORS
//     preflight that fails.
//
// Safe for concurrent use.
type Guard struct {
	creds    *apiauth.Set
	origins  []string // cors_origins entries other than "*", lower case
	pprof    bool
	limiters *clientLimiters // nil: no rate limit
	conns    *connLimiter
	ref      *refusals
	log      *slog.Logger
	readTO   time.Duration
	idleTO   time.Duration
	gate     *pprofGate
}

// NewGuard builds a guard.
func NewGuard(opt GuardOptions) *Guard {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Credentials == nil {
		opt.Credentials = apiauth.NewSet(nil, nil)
	}
	if opt.ReadTimeout <= 0 {
		opt.ReadTimeout = 10 * time.Second
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 2 * time.Minute
	}
	g := &Guard{
		creds:  opt.Credentials,
		pprof:  opt.Pprof,
		ref:    newRefusals(opt.Logger, opt.Now),
		log:    opt.Logger,
		readTO: opt.ReadTimeout,
		idleTO: opt.IdleTimeout,
	}
	for _, o := range opt.CORSOrigins {
		if o != "*" {
			g.origins = append(g.origins, strings.ToLower(o))
		}
	}
	if opt.Rate > 0 {
		g.limiters = newClientLimiters(opt.Rate, max(opt.Burst, 1), opt.RateExempt, opt.Now)
	}
	g.conns = newConnLimiter(opt.MaxConns, opt.MaxConnsPerIP, g.ref, opt.Logger)
	g.gate = &pprofGate{ref: g.ref, now: opt.Now}
	return g
}

// Listen binds addr for the listener called name ("api", "ws", "wss")
// under the connection caps; with tlsCfg it serves TLS on top.
func (g *Guard) Listen(name, addr string, tlsCfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = g.conns.wrap(name, ln, tlsCfg == nil)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// authRequired reports whether credentials are configured, and so needed
// for everything but the pages.
func (g *Guard) authRequired() bool { return !g.creds.Empty() }

// routeClass is what a request may do, which decides what it needs.
type routeClass int

const (
	classPublic routeClass = iota // pages and static files
	classRead
	classWrite
	classPprof
)

func classify(ctx *fasthttp.RequestCtx) routeClass {
	path := ctx.Path()
	switch {
	case assets.IsPublic(string(path)):
		return classPublic
	case bytes.HasPrefix(path, []byte("/debug/pprof")):
		return classPprof
	case ctx.IsGet() || ctx.IsHead() || ctx.IsOptions():
		return classRead
	}
	return classWrite
}

// limit wraps next with the per-client rate limit.
func (g *Guard) limit(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if g.limiters == nil {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		addr := remoteAddr(ctx)
		ok, wait := g.limiters.allow(addr)
		if !ok {
			secs := max(1, int((wait+time.Second-1)/time.Second))
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(secs))
			g.refuse(ctx, fasthttp.StatusTooManyRequests, ReasonRate, addr,
				fmt.Sprintf("too many requests from %s: over the limit of %g per second (api rate); retry in %d s", sourceName(addr), float64(g.limiters.limit), secs))
			return
		}
		next(ctx)
	}
}

// protect wraps next with authentication, scopes and the CSRF checks.
func (g *Guard) protect(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		class := classify(ctx)
		if class == classPublic || (class == classPprof && !g.pprof) {
			next(ctx) // pprof off: the router answers 404
			return
		}
		if g.admit(ctx, class) {
			next(ctx)
		}
	}
}

// admit applies steps 3 and 4 of the policy; on refusal it has answered.
func (g *Guard) admit(ctx *fasthttp.RequestCtx, class routeClass) bool {
	addr := remoteAddr(ctx)
	id, err := g.identify(ctx)
	switch {
	case errors.Is(err, apiauth.ErrInvalid):
		g.unauthorized(ctx, addr, true)
		return false
	case err == nil:
		if class != classRead && id.Scope < apiauth.Write {
			g.refuse(ctx, fasthttp.StatusForbidden, ReasonScope, addr,
				fmt.Sprintf("%q has scope %s; %s needs scope write", id.Name, id.Scope, ctx.Path()))
			return false
		}
	case class == classRead && !g.authRequired():
		return true
	case class == classPprof && addr.IsLoopback(), class == classWrite && addr.IsLoopback() && !g.authRequired():
		// Trusted for being on this machine; a rebinding page on another
		// site reaches loopback too, but cannot make its Host loopback.
		if !loopbackHost(ctx.Host()) {
			g.refuse(ctx, fasthttp.StatusForbidden, ReasonCSRF, addr,
				fmt.Sprintf("Host %q is not a loopback name: without a token, writes and pprof are accepted only at localhost or a loopback address", ctx.Host()))
			return false
		}
	case g.authRequired():
		g.unauthorized(ctx, addr, false)
		return false
	default:
		g.refuse(ctx, fasthttp.StatusForbidden, ReasonAuth, addr,
			fmt.Sprintf("%s from %s refused: without [api] tokens, writes and pprof are accepted only from loopback (see docs/SECURITY.md)", ctx.Path(), sourceName(addr)))
		return false
	}
	if class == classRead {
		return true
	}
	if why := g.crossSite(ctx); why != "" {
		g.refuse(ctx, fasthttp.StatusForbidden, ReasonCSRF, addr, "cross-site request refused: "+why)
		return false
	}
	if class == classWrite && (ctx.IsPost() || ctx.IsPut() || ctx.IsPatch()) && !isJSON(ctx.Request.Header.ContentType()) {
		g.refuse(ctx, fasthttp.StatusUnsupportedMediaType, ReasonContentType, addr,
			fmt.Sprintf("Content-Type %q refused: the body must be JSON (Content-Type: application/json)", ctx.Request.Header.ContentType()))
		return false
	}
	return true
}

// identify checks the request's credentials: the Authorization header, or
// on the WebSocket path the token query parameter (browsers cannot set
// headers on a WebSocket). With no credentials configured it ignores what
// the request carries.
func (g *Guard) identify(ctx *fasthttp.RequestCtx) (apiauth.Identity, error) {
	if g.creds.Empty() {
		return apiauth.Identity{}, apiauth.ErrNoCredentials
	}
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 0 {
		return g.creds.CheckHeader(string(h))
	}
	if string(ctx.Path()) == "/hbd" {
		if tok := ctx.QueryArgs().Peek("token"); len(tok) > 0 {
			return g.creds.CheckToken(string(tok))
		}
	}
	return apiauth.Identity{}, apiauth.ErrNoCredentials
}

func (g *Guard) unauthorized(ctx *fasthttp.RequestCtx, addr netip.Addr, invalid bool) {
	h := &ctx.Response.Header
	msg := "authentication required: send Authorization: Bearer <token> (a token from [[api.token]])"
	challenge := `Bearer realm="hbd"`
	if invalid {
		msg = "invalid credentials"
		challenge += `, error="invalid_token"`
	}
	h.Add("WWW-Authenticate", challenge)
	if g.creds.HasUsers() {
		h.Add("WWW-Authenticate", `Basic realm="hbd", charset="UTF-8"`)
	}
	g.refuse(ctx, fasthttp.StatusUnauthorized, ReasonAuth, addr, fmt.Sprintf("%s %s: %s", ctx.Method(), ctx.Path(), msg))
}

// refuse answers status with a JSON error, counts reason and logs it
// (paced per source).
func (g *Guard) refuse(ctx *fasthttp.RequestCtx, status int, reason string, addr netip.Addr, msg string) {
	g.ref.refuse(reason, sourceName(addr), msg)
	writeError(ctx, status, msg)
}

// crossSite says why a write or pprof request comes from another site's
// page, or "" when it does not. Requests without Origin and
// Sec-Fetch-Site come from tools, not browsers, and pass.
func (g *Guard) crossSite(ctx *fasthttp.RequestCtx) string {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin != "" {
		lo := strings.ToLower(origin)
		for _, o := range g.origins {
			if o == lo {
				return ""
			}
		}
	}
	if sfs := ctx.Request.Header.Peek("Sec-Fetch-Site"); bytes.EqualFold(sfs, []byte("cross-site")) {
		return "Sec-Fetch-Site: cross-site (a page on another site)"
	}
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, string(ctx.Host())) {
		return fmt.Sprintf("Origin %q is neither this host nor in cors_origins", origin)
	}
	return ""
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost, *.localhost, or a loopback IP literal.
func loopbackHost(host []byte) bool {
	h := string(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// isJSON reports whether a Content-Type is application/json (parameters
// such as charset allowed).
func isJSON(ct []byte) bool {
	mt, _, _ := bytes.Cut(ct, []byte(";"))
	return bytes.EqualFold(bytes.TrimSpace(mt), []byte("application/json"))
}

// Describe and Collect expose the refusal counters and the connection
// gauges on /metrics.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) {
	g.ref.describe(ch)
	g.conns.describe(ch)
}

// Collect implements prometheus.Collector.
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	g.ref.collect(ch)
	g.conns.collect(ch)
}
