package ws

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/hbd-project/hbd/actors/broadcast"
)

func TestMain(m *testing.M) {
	// fasthttp refreshes its Date header from one goroutine per process,
	// started on first use and never stopped.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// harness is an endpoint and its hub behind a real fasthttp server on
// loopback.
type harness struct {
	system *actor.ActorSystem
	hub    *broadcast.Broadcaster
	b      *Endpoint
	srv    *fasthttp.Server
	addr   string
	hosts  atomic.Pointer[broadcast.Hosts] // the current publication
	served chan struct{}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newHarness(tb testing.TB, opt Options) *harness {
	tb.Helper()
	return newHarnessAt(tb, func(string) Options { return opt })
}

// newHarnessAt is newHarness for options that depend on the server's
// address (host:port), such as an allowed origin.
func newHarnessAt(tb testing.TB, options func(addr string) Options) *harness {
	tb.Helper()
	return newHarnessHub(tb, broadcast.Options{}, options)
}

// newCoalescingHarness is newHarness with the hub's coalescing window
// (which newHarness leaves off).
func newCoalescingHarness(tb testing.TB, coalesce time.Duration, opt Options) *harness {
	tb.Helper()
	return newHarnessHub(tb, broadcast.Options{Coalesce: coalesce}, func(string) Options { return opt })
}

func newHarnessHub(tb testing.TB, hubOpt broadcast.Options, options func(addr string) Options) *harness {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := actor.Configure()
	cfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger { return quietLogger() }
	h := &harness{system: actor.NewActorSystemWithConfig(cfg), served: make(chan struct{})}
	h.addr = ln.Addr().String()
	h.hosts.Store(broadcast.HostsOf(nil))
	hubOpt.Snapshot = h.hosts.Load
	hubOpt.Logger = quietLogger()
	h.hub = broadcast.Start(h.system, hubOpt)
	opt := options(h.addr)
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	h.b = New(h.hub, opt)
	h.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/hbd" {
				h.b.Handler(ctx)
				return
			}
			ctx.NotFound()
		},
		Logger: discardFastHTTPLogger{},
		// The worker pool's cleaner notices Shutdown only between sleeps
		// of this length (10 s by default), which goleak would see.
		MaxIdleWorkerDuration: 10 * time.Millisecond,
	}
	go func() {
		defer close(h.served)
		_ = h.srv.Serve(ln)
	}()
	tb.Cleanup(h.close)
	return h
}

// stop stops the endpoint, then the hub, as the daemon does.
func (h *harness) stop() {
	h.b.Stop()
	h.hub.Stop()
}

// close stops in the daemon's order: the endpoint and the hub (hijacked
// connections are not closed by Shutdown), the HTTP server, the actor
// system.
func (h *harness) close() {
	h.stop()
	_ = h.srv.Shutdown()
	<-h.served
	h.system.Shutdown()
}

type discardFastHTTPLogger struct{}

func (discardFastHTTPLogger) Printf(string, ...any) {}

func (h *harness) setHosts(names ...string) {
	hosts := make([][]byte, len(names))
	for i, n := range names {
		hosts[i] = hostObject(n)
	}
	h.hosts.Store(broadcast.HostsOf(hosts))
}

func hostObject(name string) []byte {
	return fmt.Appendf(nil, `{"name":%q,"dyn":false,"ver":1,"state":"UP","last_seen":1711234567.123,"interval":10,"agent_version":"1.0","connections":[]}`, name)
}

func (h *harness) url() string { return "ws://" + h.addr + "/hbd" }

// dial connects a client and fails the test on error.
func (h *harness) dial(tb testing.TB, header http.Header) *websocket.Conn {
	tb.Helper()
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second} // no proxy from the environment
	c, resp, err := d.Dial(h.url(), header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial %s: %v (HTTP %d)", h.url(), err, status)
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// frame is a received frame, decoded enough to check it.
type frame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// readFrame reads one frame within a generous deadline; the deadline only
// turns a hang into a failure, it is not part of any check.
func readFrame(tb testing.TB, c *websocket.Conn) frame {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, msg, err := c.ReadMessage()
	if err != nil {
		tb.Fatalf("read frame: %v", err)
	}
	if mt != websocket.TextMessage {
		tb.Fatalf("frame type %d, want text", mt)
	}
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		tb.Fatalf("frame %s is not JSON: %v", msg, err)
	}
	return f
}

// snapshotHosts decodes a snapshot frame's host names.
func snapshotHosts(tb testing.TB, f frame) []string {
	tb.Helper()
	if f.Type != "snapshot" {
		tb.Fatalf("frame type %q, want snapshot (data %s)", f.Type, f.Data)
	}
	var d struct {
		Hosts []struct {
			Name string `json:"name"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil {
		tb.Fatal(err)
	}
	names := []string{}
	for _, h := range d.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// eventually polls cond until it holds or 10 s pass. It waits for an
// outcome (a goroutine finishing, a socket closing); it is not used to let
// time-based logic run.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Event constructors; the Frame embeds a sequence number so that order and
// identity can be checked.

func hostEvent(host string, seq int) *broadcast.Event {
	return &broadcast.Event{Type: "host", Host: host, Frame: fmt.Appendf(nil,
		`{"type":"host","data":{"name":%q,"dyn":false,"ver":1,"state":"UP","last_seen":%d,"interval":10,"agent_version":"1.0","connections":[]}}`, host, seq)}
}

// pluginEvent pads the sample's data to make frames of a chosen size.
func pluginEvent(host, plugin string, seq int, pad int) *broadcast.Event {
	p := make([]byte, pad)
	for i := range p {
		p[i] = 'x'
	}
	return &broadcast.Event{Type: "plugin", Host: host, Key: plugin, Frame: fmt.Appendf(nil,
		`{"type":"plugin","data":{"host":%q,"plugin":%q,"data":{"seq":%d,"pad":%q},"timestamp":1711234567.123}}`, host, plugin, seq, p)}
}

func alertEvent(host string, seq int) *broadcast.Event {
	return &broadcast.Event{Type: "alert", Host: host, Frame: fmt.Appendf(nil,
		`{"type":"alert","data":{"hostname":%q,"metric_path":"cpu_monitor.cpu_percent","level":"CRITICAL","prev_level":"WARNING","since":1711234567,"last_value":%d,"last_check":1711234567,"notification_count":2,"flapping":false,"silenced":false}}`, host, seq)}
}

func messageEvent(host string, seq int) *broadcast.Event {
	return &broadcast.Event{Type: "message", Host: host, Frame: fmt.Appendf(nil,
		`{"type":"message","data":{"time":1711234567.123,"host":%q,"msg":"event %d"}}`, host, seq)}
}

// seqOf extracts the sequence number that the constructors above embed.
func seqOf(tb testing.TB, f frame) (host string, seq int) {
	tb.Helper()
	var d struct {
		Name     string `json:"name"`
		Host     string `json:"host"`
		Hostname string `json:"hostname"`
		LastSeen int    `json:"last_seen"`
		Value    int    `json:"last_value"`
		Msg      string `json:"msg"`
		Data     struct {
			Seq int `json:"seq"`
		} `json:"data"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil {
		tb.Fatal(err)
	}
	switch f.Type {
	case "host":
		return d.Name, d.LastSeen
	case "plugin":
		return d.Host, d.Data.Seq
	case "alert":
		return d.Hostname, d.Value
	case "message":
		if _, err := fmt.Sscanf(d.Msg, "event %d", &seq); err != nil {
			tb.Fatalf("message %q: %v", d.Msg, err)
		}
		return d.Host, seq
	}
	tb.Fatalf("unexpected frame type %q", f.Type)
	return "", 0
}
