package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/http/ws"
)

// WSServer serves only the WebSocket endpoint /hbd on a port of its own:
// ws_port in plain text, wss_port with TLS. The same endpoint is also on
// the API port, for reverse proxies and the web pages.
type WSServer struct {
	srv   *fasthttp.Server
	guard *Guard
	mu    sync.Mutex
	ln    net.Listener
	off   bool
}

// NewWSServer builds a server around the endpoint's upgrade handler.
// The guard (nil = one with no credentials and no caps) applies the same
// connection caps, rate limit and credentials as on the API port; the
// upgrade request must arrive within its read timeout, after which the
// endpoint owns the connection and its deadlines.
func NewWSServer(e *ws.Endpoint, log *slog.Logger, g *Guard) *WSServer {
	if g == nil {
		g = NewGuard(GuardOptions{Logger: log})
	}
	r := router.New()
	r.GET("/hbd", e.Handler)
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("no such path: %s (the WebSocket endpoint is /hbd)", ctx.Path()))
	}
	return &WSServer{guard: g, srv: &fasthttp.Server{
		Handler:            g.limit(g.protect(r.Handler)),
		Name:               "hbd",
		ReadTimeout:        g.readTO,
		MaxRequestBodySize: 4 << 10, // an upgrade has no body
		Logger:             fasthttpLogger{log},
	}}
}

// Listen binds addr under the guard's connection caps; with tlsCfg it
// serves wss://.
func (w *WSServer) Listen(addr string, tlsCfg *tls.Config) error {
	name := "ws"
	if tlsCfg != nil {
		name = "wss"
	}
	ln, err := w.guard.Listen(name, addr, tlsCfg)
	if err != nil {
		return fmt.Errorf("cannot listen for WebSocket clients on %s: %w", addr, err)
	}
	w.mu.Lock()
	w.ln = ln
	w.mu.Unlock()
	return nil
}

// Addr returns the bound address.
func (w *WSServer) Addr() net.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ln.Addr()
}

// Serve serves until Shutdown; nil after a clean shutdown.
func (w *WSServer) Serve() error {
	w.mu.Lock()
	ln := w.ln
	w.mu.Unlock()
	if ln == nil {
		return errors.New("http: WSServer.Serve called before Listen")
	}
	err := w.srv.Serve(ln)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.off {
		return nil
	}
	return err
}

// Shutdown stops accepting. Upgraded connections are hijacked and are
// closed by the endpoint's Stop, not here. Safe to call twice.
func (w *WSServer) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	if w.off {
		w.mu.Unlock()
		return nil
	}
	w.off = true
	w.mu.Unlock()
	return w.srv.ShutdownWithContext(ctx)
}

var (
	descWSClients = prometheus.NewDesc("hbd_ws_clients", "Connected WebSocket clients.", nil, nil)
	descWSFrames  = prometheus.NewDesc("hbd_ws_frames_sent_total", "WebSocket frames written to clients.", nil, nil)
	descWSCut     = prometheus.NewDesc("hbd_ws_cut_off_total",
		"WebSocket clients the daemon disconnected, by reason: queue (fell too far behind), write_timeout, pong_timeout (sent nothing for two ping intervals), rate (sent messages too fast), message_size.",
		[]string{"reason"}, nil)
	descWSConflated = prometheus.NewDesc("hbd_ws_frames_conflated_total",
		"Host and plugin frames replaced by a newer frame of the same host and plugin before the stream's hub took them: the hub was behind, and clients got the newer state only.", nil, nil)
	descWSDropped = prometheus.NewDesc("hbd_ws_frames_dropped_total",
		"Frames dropped before the stream's hub took them, because the frames waiting for it reached their bound (64 MiB in its inbox, 256 MiB waiting for a flush).", nil, nil)
	descWSPending = prometheus.NewDesc("hbd_ws_hub_pending_frames",
		"Host and plugin frames waiting in the stream's hub for their turn: the coalescing window, or past [websocket] fanout_rate, one per host and plugin, the newest.", nil, nil)
	descWSShare = prometheus.NewDesc("hbd_ws_fanout_share",
		"The share of [websocket] fanout_rate the stream's hub uses now: 1, halved at each flush while ingest is behind (down to 1/64) and grown back by 1/32 a flush after.", nil, nil)
	descWSRefused = prometheus.NewDesc("hbd_ws_upgrades_refused_total", "WebSocket upgrades refused, by reason: origin (a browser page not in ws_origins nor served by the daemon).", []string{"reason"}, nil)
)

// wsCollector exposes the WebSocket endpoint's counters on /metrics.
type wsCollector struct{ b *ws.Endpoint }

func (c wsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWSClients
	ch <- descWSFrames
	ch <- descWSCut
	ch <- descWSRefused
	ch <- descWSConflated
	ch <- descWSDropped
	ch <- descWSPending
	ch <- descWSShare
}

func (c wsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descWSClients, prometheus.GaugeValue, float64(c.b.Clients()))
	ch <- prometheus.MustNewConstMetric(descWSFrames, prometheus.CounterValue, float64(c.b.FramesSent()))
	for _, r := range ws.CutReasons() {
		ch <- prometheus.MustNewConstMetric(descWSCut, prometheus.CounterValue, float64(c.b.CutOffs(r)), r.String())
	}
	ch <- prometheus.MustNewConstMetric(descWSRefused, prometheus.CounterValue, float64(c.b.OriginsRefused()), "origin")
	ch <- prometheus.MustNewConstMetric(descWSConflated, prometheus.CounterValue, float64(c.b.FramesConflated()))
	ch <- prometheus.MustNewConstMetric(descWSDropped, prometheus.CounterValue, float64(c.b.FramesDropped()))
	ch <- prometheus.MustNewConstMetric(descWSPending, prometheus.GaugeValue, float64(c.b.FramesPending()))
	ch <- prometheus.MustNewConstMetric(descWSShare, prometheus.GaugeValue, c.b.FanoutShare())
}
