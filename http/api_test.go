package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/hbd-project/hbd/actors"
	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/apiauth"
	"github.com/hbd-project/hbd/internal/clock/fakeclock"
	"github.com/hbd-project/hbd/internal/journal"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// These are black-box tests of the API: a real actor system on a fake
// clock, fed real signed datagrams over loopback UDP, and the real server
// on fasthttputil's in-memory listener; requests go in, and status,
// headers and JSON are checked on the way out. The actors work
// asynchronously, so a condition that must come true is waited for
// (eventually); time in the daemon moves only when a test advances the
// clock.

var testKey = []byte("0123456789abcdef0123456789abcdef")

// eventually polls cond until it holds, for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ptr(f float64) *float64 { return &f }

// daemon is a running actor system and the UDP socket that feeds it.
type daemon struct {
	t   *testing.T
	sys *actors.System
	clk *fakeclock.Clock
	udp *net.UDPConn
	sg  *wire.Signer

	mu  sync.Mutex
	seq map[string]uint64
}

// startDaemon starts the actor system with its journal and silences in a
// temporary data directory, "db01" declared, and the alert rules
// cpu_monitor.cpu_percent > 80 (warning) / > 90 (critical).
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	return startDaemonWith(t, nil)
}

// startDaemonWith is startDaemon with the detection settings l (nil: the
// fixed rule).
func startDaemonWith(t *testing.T, l *actors.Liveness) *daemon {
	t.Helper()
	dir := t.TempDir()
	rules, err := alert.Compile([]alert.Rule{{Metric: "cpu_monitor.cpu_percent", Op: alert.OpGT, Warning: ptr(80), Critical: ptr(90)}})
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New(time.Now().Truncate(time.Second))
	sys, err := actors.Start(actors.Config{
		Listener: ingest.Config{Host: "127.0.0.1", Port: 0, RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil),
			Watch: map[string]bool{"db01": true}, AcceptDynamic: true, MaxClockSkew: time.Hour},
		History:      5,
		DownAfter:    3,
		Liveness:     l,
		PublishEvery: time.Millisecond,
		Clock:        clk,
		Logger:       quiet(),
		Rules:        rules,
		AlertDynamic: true,
		Journal:      &journal.Config{Dir: dir, File: "journal.jsonl", MaxSize: 1 << 20, MaxBackups: 1},
		SilencesFile: dir + "/silences.json",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(sys.UDPAddrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &daemon{t: t, sys: sys, clk: clk, udp: c, sg: wire.NewSigner(testKey), seq: map[string]uint64{}}
}

type encoder func(e wire.Envelope, n uint64) ([]byte, error)

// send sends one datagram of host, stamped with the daemon's clock (plus
// n ms, so that samples sent at one instant have distinct timestamps).
func (d *daemon) send(host string, enc encoder) {
	d.t.Helper()
	d.mu.Lock()
	d.seq[host]++
	n := d.seq[host]
	d.mu.Unlock()
	b, err := enc(wire.Envelope{Host: host, Seq: n, Time: d.clk.Now().UnixNano() + int64(n)*1e6}, n)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.udp.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) heartbeat(host string) {
	d.t.Helper()
	d.send(host, func(e wire.Envelope, n uint64) ([]byte, error) {
		return wire.AppendHeartbeat(nil, d.sg, e, wire.Heartbeat{IntervalMS: 10000, ConnSeq: uint32(n)})
	})
}

func (d *daemon) shutdown(host string) {
	d.t.Helper()
	d.send(host, func(e wire.Envelope, _ uint64) ([]byte, error) {
		return wire.AppendShutdown(nil, d.sg, e, wire.Shutdown{Reason: []byte("agent stopped")})
	})
}

func (d *daemon) sample(host, plugin, data string) {
	d.t.Helper()
	d.send(host, func(e wire.Envelope, _ uint64) ([]byte, error) {
		return wire.AppendSample(nil, d.sg, e, plugin, []byte(data))
	})
}

// api is a client of one server, from one source address.
type api struct {
	t      *testing.T
	c      *fasthttp.Client
	header map[string]string // sent with every request
}

// serve starts the server on an in-memory listener; it stops at cleanup.
func serve(t *testing.T, sys *actors.System, opt hbdhttp.Options) *fasthttputil.InmemoryListener {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quiet()
	}
	s := hbdhttp.New(sys, opt)
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln
}

// client returns a client whose connections come from addr ("ip:port").
func client(t *testing.T, ln *fasthttputil.InmemoryListener, from string, header map[string]string) *api {
	local := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(from))
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.DialWithLocalAddr(local) }}
	t.Cleanup(c.CloseIdleConnections)
	return &api{t: t, c: c, header: header}
}

// reply is an answer, copied out of fasthttp's buffers.
type reply struct {
	status int
	header map[string]string
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request; a body is sent with contentType ("" = none).
func (a *api) do(method, uri, contentType, body string) reply {
	a.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://localhost" + uri)
	for k, v := range a.header {
		req.Header.Set(k, v)
	}
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	if body != "" {
		req.SetBodyString(body)
	}
	if err := a.c.DoTimeout(req, resp, 10*time.Second); err != nil {
		a.t.Fatalf("%s %s: %v", method, uri, err)
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r
}

func (a *api) get(uri string) reply { a.t.Helper(); return a.do("GET", uri, "", "") }

// getJSON GETs uri, wants 200 with a JSON body, and decodes it into v.
func (a *api) getJSON(uri string, v any) reply {
	a.t.Helper()
	r := a.get(uri)
	if r.status != 200 {
		a.t.Fatalf("GET %s: %s, want 200", uri, r)
	}
	if ct := r.header["Content-Type"]; ct != "application/json" {
		a.t.Fatalf("GET %s: Content-Type %q", uri, ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		a.t.Fatalf("GET %s: %v in %s", uri, err, r.body)
	}
	return r
}

// wantError checks a refusal: the status and a JSON {"error"} containing msg.
func wantError(t *testing.T, what string, r reply, status int, msg string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if r.status != status || json.Unmarshal(r.body, &e) != nil || !strings.Contains(e.Error, msg) || r.header["Content-Type"] != "application/json" {
		t.Errorf("%s: %s (Content-Type %q), want %d with an error containing %q", what, r, r.header["Content-Type"], status, msg)
	}
}

type hostJSON struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Dyn   bool   `json:"dyn"`
}

func names(hs []hostJSON) string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return strings.Join(out, " ")
}

// stateOf returns a host's state through the API ("" when not found).
func (a *api) stateOf(name string) string {
	a.t.Helper()
	r := a.get("/api/0/hosts/" + name)
	var h hostJSON
	if r.status != 200 || json.Unmarshal(r.body, &h) != nil {
		return ""
	}
	return h.State
}

func (a *api) waitState(name, state string) {
	a.t.Helper()
	eventually(a.t, name+" "+state, func() bool { return a.stateOf(name) == state })
}

// fleet populates d with six hosts in four states, samples and alerts:
//
//	db01    declared, never heard from: UNKNOWN, heartbeat alert CRITICAL
//	down01  silent for 30 s: DOWN, heartbeat alert CRITICAL
//	web01   UP, cpu_monitor 50, 70, 95 (CRITICAL) and a memory_monitor sample
//	web02   UP, cpu_monitor 85 (WARNING)
//	web03   UP
//	web04   shut down: STOPPED
func fleet(t *testing.T, d *daemon, a *api) {
	t.Helper()
	d.heartbeat("down01")
	a.waitState("down01", "UP")
	d.clk.Advance(15 * time.Second)
	for _, h := range []string{"web01", "web02", "web03", "web04"} {
		d.heartbeat(h)
	}
	for _, v := range []string{"50", "70", "95"} {
		d.sample("web01", "cpu_monitor", `{"cpu_percent":`+v+`}`)
	}
	d.sample("web01", "memory_monitor", `{"percent":40}`)
	d.sample("web02", "cpu_monitor", `{"cpu_percent":85}`)
	for _, h := range []string{"web01", "web02", "web03", "web04"} {
		a.waitState(h, "UP")
	}
	d.shutdown("web04")
	a.waitState("web04", "STOPPED")
	eventually(t, "5 samples held", func() bool { return d.sys.Stats.SamplesHeld.Load() == 5 })
	d.clk.Advance(15 * time.Second) // down01 30 s silent, db01 30 s unreported
	a.waitState("down01", "DOWN")
	var last []byte
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last alerts answer: %s", last)
		}
	})
	eventually(t, "4 active alerts", func() bool {
		var v struct {
			Summary struct{ Total int } `json:"summary"`
		}
		last = a.getJSON("/api/0/alerts", &v).body
		return v.Summary.Total == 4
	})
}

// TestAPI checks the read side of the API on one populated fleet, then
// silences (which the alerts answer reflects).
func TestAPI(t *testing.T) {
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{})
	a := client(t, ln, "127.0.0.1:40000", nil)
	fleet(t, d, a)

	t.Run("hosts", func(t *testing.T) {
		var hs []hostJSON
		r := a.getJSON("/api/0/hosts", &hs)
		if got := names(hs); got != "db01 down01 web01 web02 web03 web04" {
			t.Fatalf("hosts %q, want all six by name", got)
		}
		var states []string
		for _, h := range hs {
			states = append(states, h.State)
		}
		if got := strings.Join(states, " "); got != "UNKNOWN DOWN UP UP UP STOPPED" {
			t.Errorf("states %q", got)
		}
		if hs[0].Dyn || !hs[1].Dyn {
			t.Errorf("dyn: declared db01 %v, dynamic down01 %v", hs[0].Dyn, hs[1].Dyn)
		}
		if r.header["X-Total-Count"] != "6" || r.header["Cache-Control"] != "no-store" {
			t.Errorf("headers %v", r.header)
		}
	})

	t.Run("hosts limit offset state", func(t *testing.T) {
		for _, c := range []struct{ query, names, total string }{
			{"limit=2", "db01 down01", "6"},
			{"limit=2&offset=1", "down01 web01", "6"},
			{"offset=4", "web03 web04", "6"},
			{"offset=6", "", "6"},
			{"offset=1000&limit=5", "", "6"},
			{"limit=1000000", "db01 down01 web01 web02 web03 web04", "6"},
			{"state=UP", "web01 web02 web03", "3"},
			{"state=UP&limit=1&offset=2", "web03", "3"},
			{"state=UP&offset=3", "", "3"},
			{"state=DOWN", "down01", "1"},
			{"state=STOPPED", "web04", "1"},
			{"state=UNKNOWN", "db01", "1"},
			{"state=DEGRADED", "", "0"},
		} {
			var hs []hostJSON
			r := a.getJSON("/api/0/hosts?"+c.query, &hs)
			if got := names(hs); got != c.names || r.header["X-Total-Count"] != c.total || hs == nil {
				t.Errorf("?%s: %q total %s (%s), want %q total %s", c.query, got, r.header["X-Total-Count"], r.body, c.names, c.total)
			}
		}
	})

	t.Run("hosts bad parameters", func(t *testing.T) {
		for _, c := range []struct{ query, msg string }{
			{"limit=0", "invalid limit '0'"},
			{"limit=-1", "invalid limit '-1'"},
			{"limit=ten", "invalid limit 'ten': must be an integer from 1 to 1000000"},
			{"limit=1000001", "invalid limit"},
			{"limit=", "invalid limit"},
			{"offset=-1", "invalid offset '-1'"},
			{"offset=1.5", "invalid offset"},
			{"state=up", "invalid state 'up': must be one of UNKNOWN, UP, DEGRADED, DOWN, STOPPED, SUSPECT, UNREACHABLE"},
			{"state=", "invalid state"},
			{"limit=2&state=BOGUS", "invalid state 'BOGUS'"},
		} {
			r := a.get("/api/0/hosts?" + c.query)
			wantError(t, "?"+c.query, r, 400, c.msg)
			if _, ok := r.header["X-Total-Count"]; ok {
				t.Errorf("?%s: X-Total-Count on a refusal", c.query)
			}
		}
	})

	t.Run("host", func(t *testing.T) {
		var h hostJSON
		a.getJSON("/api/0/hosts/web01", &h)
		if h.Name != "web01" || h.State != "UP" {
			t.Errorf("web01: %+v", h)
		}
		wantError(t, "unknown host", a.get("/api/0/hosts/nosuch"), 404, "Host 'nosuch' not found")
		wantError(t, "impossible name", a.get("/api/0/hosts/a%20b"), 404, "Host 'a b' not found")
		wantError(t, "unknown path", a.get("/api/0/nope"), 404, "no such path: /api/0/nope")
		wantError(t, "wrong method", a.do("PUT", "/api/0/hosts", "application/json", "{}"), 405, "method PUT is not allowed on /api/0/hosts")
	})

	t.Run("plugins", func(t *testing.T) {
		type pluginJSON struct {
			Timestamp   float64         `json:"timestamp"`
			Data        json.RawMessage `json:"data"`
			SampleCount int             `json:"sample_count"`
		}
		var v struct {
			Hostname string                `json:"hostname"`
			Plugins  map[string]pluginJSON `json:"plugins"`
		}
		a.getJSON("/api/0/hosts/web01/plugins", &v)
		cpu := v.Plugins["cpu_monitor"]
		if v.Hostname != "web01" || len(v.Plugins) != 2 || cpu.SampleCount != 3 || string(cpu.Data) != `{"cpu_percent":95}` ||
			v.Plugins["memory_monitor"].SampleCount != 1 {
			t.Errorf("web01 plugins: %+v", v)
		}
		v.Plugins = nil
		a.getJSON("/api/0/hosts/web03/plugins", &v)
		if v.Hostname != "web03" || v.Plugins == nil || len(v.Plugins) != 0 {
			t.Errorf("web03 (no samples): %+v, want an empty plugins object", v)
		}
		wantError(t, "unknown host", a.get("/api/0/hosts/nosuch/plugins"), 404, "Host 'nosuch' not found")
	})

	t.Run("plugin samples", func(t *testing.T) {
		type samples struct {
			Hostname string `json:"hostname"`
			Plugin   string `json:"plugin"`
			Samples  []struct {
				Timestamp float64 `json:"timestamp"`
				Data      struct {
					CPU float64 `json:"cpu_percent"`
				} `json:"data"`
			} `json:"samples"`
			SampleCount int `json:"sample_count"`
			Stored      int `json:"stored"`
		}
		values := func(s samples) (out []float64) {
			for _, x := range s.Samples {
				out = append(out, x.Data.CPU)
			}
			return out
		}
		for _, c := range []struct {
			query string
			want  []float64
		}{{"", []float64{95, 70, 50}}, {"?limit=2", []float64{95, 70}}, {"?limit=100000", []float64{95, 70, 50}}} {
			var s samples
			a.getJSON("/api/0/hosts/web01/plugins/cpu_monitor"+c.query, &s)
			if s.Hostname != "web01" || s.Plugin != "cpu_monitor" || !slices.Equal(values(s), c.want) || s.SampleCount != len(c.want) || s.Stored != 3 {
				t.Errorf("cpu_monitor%s: %+v, want %v newest first of 3 stored", c.query, s, c.want)
			}
			if len(s.Samples) == 3 && !(s.Samples[0].Timestamp > s.Samples[1].Timestamp && s.Samples[1].Timestamp > s.Samples[2].Timestamp) {
				t.Errorf("timestamps not newest first: %+v", s.Samples)
			}
		}
		for _, q := range []string{"limit=0", "limit=100001", "limit=x"} {
			wantError(t, q, a.get("/api/0/hosts/web01/plugins/cpu_monitor?"+q), 400, "invalid limit")
		}
		wantError(t, "unknown plugin", a.get("/api/0/hosts/web01/plugins/disk_monitor"), 404, "Plugin 'disk_monitor' not found for host 'web01'")
		wantError(t, "plugin of another host", a.get("/api/0/hosts/web03/plugins/cpu_monitor"), 404, "Plugin 'cpu_monitor' not found for host 'web03'")
		wantError(t, "impossible plugin name", a.get("/api/0/hosts/web01/plugins/a%20b"), 404, "Plugin 'a b' not found")
		wantError(t, "unknown host", a.get("/api/0/hosts/nosuch/plugins/cpu_monitor"), 404, "Host 'nosuch' not found")
	})

	type alertJSON struct {
		Hostname   string   `json:"hostname"`
		MetricPath string   `json:"metric_path"`
		Level      string   `json:"level"`
		LastValue  *float64 `json:"last_value"`
		Silenced   bool     `json:"silenced"`
	}
	type alertsJSON struct {
		Alerts  []alertJSON `json:"alerts"`
		Summary struct {
			Critical, Warning, Unknown, Total int
		} `json:"summary"`
		HostCount int `json:"host_count"`
	}
	list := func(v alertsJSON) string {
		var out []string
		for _, x := range v.Alerts {
			out = append(out, x.Hostname+":"+x.MetricPath+":"+x.Level)
		}
		return strings.Join(out, " ")
	}

	t.Run("alerts", func(t *testing.T) {
		var v alertsJSON
		r := a.getJSON("/api/0/alerts", &v)
		criticals := map[string]bool{}
		for _, x := range v.Alerts[:3] {
			criticals[x.Hostname+":"+x.MetricPath+":"+x.Level] = true
		}
		if len(v.Alerts) != 4 || !criticals["db01:heartbeat:CRITICAL"] || !criticals["down01:heartbeat:CRITICAL"] ||
			!criticals["web01:cpu_monitor.cpu_percent:CRITICAL"] || list(alertsJSON{Alerts: v.Alerts[3:]}) != "web02:cpu_monitor.cpu_percent:WARNING" {
			t.Fatalf("alerts %q, want three CRITICAL then web02's WARNING", list(v))
		}
		if v.Summary.Critical != 3 || v.Summary.Warning != 1 || v.Summary.Total != 4 || v.HostCount != 6 || r.header["X-Total-Count"] != "4" {
			t.Errorf("summary %+v host_count %d total %s", v.Summary, v.HostCount, r.header["X-Total-Count"])
		}
		if x := v.Alerts[3]; x.LastValue == nil || *x.LastValue != 85 || x.Silenced {
			t.Errorf("web02's alert: %+v", x)
		}
		for _, c := range []struct{ query, list, total string }{
			{"level=WARNING", "web02:cpu_monitor.cpu_percent:WARNING", "1"},
			{"level=UNKNOWN", "", "0"},
			{"host=web*", "web01:cpu_monitor.cpu_percent:CRITICAL web02:cpu_monitor.cpu_percent:WARNING", "2"},
			{"host=web*&level=CRITICAL", "web01:cpu_monitor.cpu_percent:CRITICAL", "1"},
			{"limit=1&offset=3", "web02:cpu_monitor.cpu_percent:WARNING", "4"},
			{"offset=10", "", "4"},
		} {
			var v alertsJSON
			r := a.getJSON("/api/0/alerts?"+c.query, &v)
			if got := list(v); got != c.list || r.header["X-Total-Count"] != c.total {
				t.Errorf("?%s: %q total %s, want %q total %s", c.query, got, r.header["X-Total-Count"], c.list, c.total)
			}
		}
		for _, c := range []struct{ query, msg string }{
			{"level=OK", "invalid level 'OK'"},
			{"level=bad", "invalid level 'bad'"},
			{"host=[", "invalid host glob '['"},
			{"limit=0", "invalid limit"},
			{"offset=-2", "invalid offset"},
		} {
			wantError(t, "alerts?"+c.query, a.get("/api/0/alerts?"+c.query), 400, c.msg)
		}
	})

	t.Run("host alerts", func(t *testing.T) {
		var v struct {
			Hostname string      `json:"hostname"`
			Alerts   []alertJSON `json:"alerts"`
			Summary  struct {
				OK, Warning, Critical, Unknown int
			} `json:"summary"`
		}
		a.getJSON("/api/0/hosts/web01/alerts", &v)
		var got []string
		for _, x := range v.Alerts {
			got = append(got, x.MetricPath+":"+x.Level)
		}
		if v.Hostname != "web01" || !slices.Contains(got, "cpu_monitor.cpu_percent:CRITICAL") || v.Summary.Critical != 1 || v.Summary.Warning != 0 {
			t.Errorf("web01 alerts: %+v", v)
		}
		a.getJSON("/api/0/hosts/web03/alerts", &v)
		if v.Hostname != "web03" || v.Summary.Critical+v.Summary.Warning+v.Summary.Unknown != 0 {
			t.Errorf("web03 alerts: %+v, want nothing active", v)
		}
		wantError(t, "unknown host", a.get("/api/0/hosts/nosuch/alerts"), 404, "Host 'nosuch' not found")
	})

	type messageJSON struct {
		Time float64 `json:"time"`
		Host string  `json:"host"`
		Msg  string  `json:"msg"`
		Kind string  `json:"kind"`
	}
	t.Run("messages", func(t *testing.T) {
		var all []messageJSON
		a.getJSON("/api/0/messages?limit=1000", &all)
		if len(all) < 10 {
			t.Fatalf("%d messages: %+v", len(all), all)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Time > all[i-1].Time {
				t.Fatalf("not newest first at %d: %+v", i, all)
			}
		}
		if !slices.ContainsFunc(all, func(m messageJSON) bool { return m.Host == "down01" && strings.Contains(m.Msg, "UP -> DOWN") }) {
			t.Errorf("no down01 UP -> DOWN in %+v", all)
		}
		var def []messageJSON
		a.getJSON("/api/0/messages", &def)
		if len(def) != min(30, len(all)) {
			t.Errorf("default: %d messages, want %d", len(def), min(30, len(all)))
		}
		var some []messageJSON
		a.getJSON("/api/0/messages?limit=2", &some)
		if len(some) != 2 || some[0] != all[0] || some[1] != all[1] {
			t.Errorf("limit=2: %+v, want the newest two %+v", some, all[:2])
		}
		var web04 []messageJSON
		a.getJSON("/api/0/messages?host=web04&limit=1000", &web04)
		if len(web04) == 0 || !slices.ContainsFunc(web04, func(m messageJSON) bool { return strings.Contains(m.Msg, "STOPPED") }) {
			t.Errorf("host=web04: %+v", web04)
		}
		for _, m := range web04 {
			if m.Host != "web04" {
				t.Errorf("host=web04 answered %+v", m)
			}
		}
		// since: the events at or after the clock's last step (down01
		// going DOWN among them), none of the first contacts before it.
		since := float64(d.clk.Now().UnixMilli()) / 1e3
		var late []messageJSON
		a.getJSON(fmt.Sprintf("/api/0/messages?limit=1000&since=%.3f", since), &late)
		if len(late) == 0 || len(late) >= len(all) {
			t.Errorf("since=%.3f: %d of %d messages", since, len(late), len(all))
		}
		for _, m := range late {
			if m.Time < since {
				t.Errorf("since=%.3f answered %+v", since, m)
			}
		}
		var none []messageJSON
		a.getJSON(fmt.Sprintf("/api/0/messages?since=%.3f", since+3600), &none)
		if none == nil || len(none) != 0 {
			t.Errorf("since an hour ahead: %+v, want []", none)
		}
		for _, c := range []struct{ query, msg string }{
			{"limit=0", "invalid limit '0': must be an integer from 1 to 1000"},
			{"limit=1001", "invalid limit"},
			{"since=yesterday", "invalid since 'yesterday': must be unix seconds"},
			{"since=-1", "invalid since"},
		} {
			wantError(t, "messages?"+c.query, a.get("/api/0/messages?"+c.query), 400, c.msg)
		}
	})

	t.Run("stats", func(t *testing.T) {
		// A datagram signed with another key: dropped, and its source listed.
		bad := wire.NewSigner([]byte("another key, not the daemon's!!!"))
		d.send("intruder", func(e wire.Envelope, n uint64) ([]byte, error) {
			return wire.AppendHeartbeat(nil, bad, e, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 1})
		})
		type statsJSON struct {
			Received        uint64            `json:"received"`
			Accepted        uint64            `json:"accepted"`
			Dropped         map[string]uint64 `json:"dropped"`
			Hosts           int               `json:"hosts"`
			SamplesHeld     int64             `json:"samples_held"`
			AcksSent        *uint64           `json:"acks_sent"`
			AcksDropped     *uint64           `json:"acks_dropped"`
			RejectedSources []struct {
				Address  string  `json:"address"`
				Host     *string `json:"host"`
				Reason   string  `json:"reason"`
				Count    uint64  `json:"count"`
				LastSeen float64 `json:"last_seen"`
			} `json:"rejected_sources"`
			RejectedEvicted *uint64 `json:"rejected_sources_evicted"`
			ReplayEvicted   *uint64 `json:"replay_instances_evicted"`
		}
		var st statsJSON
		eventually(t, "the bad datagram counted", func() bool {
			st = statsJSON{}
			a.getJSON("/api/0/stats", &st)
			return st.Dropped["bad_mac"] == 1
		})
		// Accepted: 5 heartbeats, 5 samples and a shutdown.
		if st.Received != st.Accepted+1 || st.Accepted != 11 || st.Hosts != 6 || st.SamplesHeld != 5 ||
			st.AcksSent == nil || st.AcksDropped == nil || st.RejectedEvicted == nil || st.ReplayEvicted == nil {
			t.Errorf("stats %+v", st)
		}
		if len(st.Dropped) != len(wire.AllReasons()) {
			t.Errorf("dropped has %d reasons, want every one of %d: %v", len(st.Dropped), len(wire.AllReasons()), st.Dropped)
		}
		for _, r := range wire.AllReasons() {
			if _, ok := st.Dropped[r.String()]; !ok {
				t.Errorf("dropped lacks %q", r)
			}
		}
		if len(st.RejectedSources) != 1 {
			t.Fatalf("rejected_sources %+v, want the intruder", st.RejectedSources)
		}
		src := st.RejectedSources[0]
		if src.Host == nil || *src.Host != "intruder" || src.Reason != "bad_mac" || src.Count != 1 ||
			!strings.HasPrefix(src.Address, "127.0.0.1:") || src.LastSeen <= 0 {
			t.Errorf("rejected source %+v", src)
		}
	})

	t.Run("maintenance windows", func(t *testing.T) {
		for _, c := range []struct{ body, msg string }{
			{`{"host":"db*","schedule":"Sat 02:00-04:00","timezone":"Mars/Olympus"}`, `unknown timezone "Mars/Olympus"`},
			{`{"host":"db*","schedule":"0 2 * * 6"}`, "a cron schedule needs a duration"},
			{`{"host":"db*","schedule":"Sat 02:00-04:00","duration":"1h"}`, "drop the duration"},
			{`{"host":"db*","schedule":"Sat 02:00-04:00","until":5}`, "has no until"},
			{`{"host":"db*","schedule":"Sam 02:00-04:00"}`, `unknown weekday "Sam"`},
			{`{"host":"db*","timezone":"UTC","duration":"1h"}`, "timezone is given without a schedule"},
			{`{"host":"[","schedule":"Sat 02:00-04:00"}`, "invalid host glob"},
		} {
			wantError(t, "POST "+c.body, a.do("POST", "/api/0/silences", "application/json", c.body), 400, c.msg)
		}
		type windowJSON struct {
			ID        string   `json:"id"`
			Origin    string   `json:"origin"`
			Name      string   `json:"name"`
			Schedule  string   `json:"schedule"`
			Timezone  string   `json:"timezone"`
			Duration  *float64 `json:"duration"`
			Until     float64  `json:"until"`
			NextStart float64  `json:"next_start"`
			NextEnd   float64  `json:"next_end"`
			Active    *bool    `json:"active"`
		}
		var list struct {
			Silences []windowJSON `json:"silences"`
		}
		a.getJSON("/api/0/silences", &list)
		if len(list.Silences) != 0 {
			t.Fatalf("refused bodies left silences: %+v", list.Silences)
		}
		// Every day, all day, in UTC: open now, since midnight.
		r := a.do("POST", "/api/0/silences", "application/json", `{"host":"db*","schedule":"* 00:00-24:00","timezone":"UTC","comment":"all day"}`)
		var w windowJSON
		if r.status != 201 || json.Unmarshal(r.body, &w) != nil {
			t.Fatalf("POST window: %s", r)
		}
		midnight := d.clk.Now().UTC().Truncate(24 * time.Hour)
		if w.Schedule != "* 00:00-24:00" || w.Timezone != "UTC" || w.Duration != nil || w.Active == nil || !*w.Active ||
			w.NextStart != float64(midnight.Unix()) || w.NextEnd != float64(midnight.Add(24*time.Hour).Unix()) || w.Until != w.NextEnd {
			t.Errorf("window %+v, want open since %s", w, midnight)
		}
		r = a.do("POST", "/api/0/silences", "application/json", `{"host":"web*","schedule":"0 2 * * 6","duration":"90m","timezone":"Europe/Berlin"}`)
		var cw windowJSON
		if r.status != 201 || json.Unmarshal(r.body, &cw) != nil || cw.Duration == nil || *cw.Duration != 5400 || cw.NextEnd-cw.NextStart != 5400 {
			t.Fatalf("POST cron window: %s", r)
		}
		if got := time.Unix(int64(cw.NextStart), 0).In(mustLoad(t, "Europe/Berlin")); got.Weekday() != time.Saturday || got.Hour() != 2 {
			t.Errorf("cron window starts %s, want a Saturday 02:00 in Berlin", got)
		}
		var al alertsJSON
		a.getJSON("/api/0/alerts", &al)
		for _, x := range al.Alerts {
			if want := strings.HasPrefix(x.Hostname, "db"); x.Silenced != want {
				t.Errorf("%s %s silenced %v, want %v", x.Hostname, x.MetricPath, x.Silenced, want)
			}
		}

		// A [[maintenance]] window is the config's: the API cannot delete it.
		sched, err := silence.ParseSchedule("Sun 01:00-03:00", 0, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.sys.Silences.SetConfig([]silence.Silence{{Name: "backups", Host: "nas*", Schedule: sched}}); err != nil {
			t.Fatal(err)
		}
		wantError(t, "delete config window", a.do("DELETE", "/api/0/silences/config:backups", "", ""), 409, `remove [[maintenance]] "backups" from the config and reload`)
		a.getJSON("/api/0/silences", &list)
		if len(list.Silences) != 3 || !slices.ContainsFunc(list.Silences, func(x windowJSON) bool { return x.Origin == "config" && x.Name == "backups" }) {
			t.Errorf("silences %+v, want the two windows and the config's", list.Silences)
		}
		for _, id := range []string{w.ID, cw.ID} {
			if r := a.do("DELETE", "/api/0/silences/"+id, "", ""); r.status != 200 {
				t.Errorf("DELETE %s: %s", id, r)
			}
		}
		if err := d.sys.Silences.SetConfig(nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("silences", func(t *testing.T) {
		const body = `{"host":"web0*","metric":"cpu_monitor.*","duration":"2h","comment":"maintenance"}`
		wantError(t, "no Content-Type", a.do("POST", "/api/0/silences", "", body), 415, "the body must be JSON")
		wantError(t, "text/plain", a.do("POST", "/api/0/silences", "text/plain", body), 415, `Content-Type "text/plain" refused`)
		for _, c := range []struct{ body, msg string }{
			{`not json`, "invalid silence: "},
			{`{"host":"web01"}`, "invalid silence: until (unix seconds) or duration is required"},
			{`{"host":"web01","duration":"-1h"}`, `duration '-1h' is not a positive duration`},
			{`{"host":"web01","duration":"1h","until":5}`, "give until or duration, not both"},
			{`{"host":"web01","duration":"1h","colour":"red"}`, `unknown field "colour"`},
			{`{"host":"web01","duration":"1h"} {}`, "unexpected data after the JSON object"},
			{`{"host":"[","duration":"1h"}`, "invalid silence: "},
		} {
			wantError(t, "POST "+c.body, a.do("POST", "/api/0/silences", "application/json", c.body), 400, c.msg)
		}
		type silenceJSON struct {
			ID      string  `json:"id"`
			Host    string  `json:"host"`
			Metric  string  `json:"metric"`
			Until   float64 `json:"until"`
			Comment string  `json:"comment"`
		}
		var list struct {
			Silences []silenceJSON `json:"silences"`
		}
		a.getJSON("/api/0/silences", &list)
		if len(list.Silences) != 0 {
			t.Fatalf("refused bodies left silences: %+v", list.Silences)
		}

		r := a.do("POST", "/api/0/silences", "application/json; charset=utf-8", body)
		var sil silenceJSON
		if r.status != 201 || json.Unmarshal(r.body, &sil) != nil {
			t.Fatalf("POST: %s, want 201 with the silence", r)
		}
		wantUntil := float64(d.clk.Now().Add(2*time.Hour).UnixMilli()) / 1e3
		if sil.ID == "" || sil.Host != "web0*" || sil.Metric != "cpu_monitor.*" || sil.Comment != "maintenance" || sil.Until != wantUntil {
			t.Errorf("silence %+v, want until %.3f (the daemon's clock + 2h)", sil, wantUntil)
		}
		a.getJSON("/api/0/silences", &list)
		if len(list.Silences) != 1 || list.Silences[0] != sil {
			t.Errorf("silences %+v, want [%+v]", list.Silences, sil)
		}
		var al alertsJSON
		a.getJSON("/api/0/alerts", &al)
		for _, x := range al.Alerts {
			if want := strings.HasPrefix(x.Hostname, "web0"); x.Silenced != want {
				t.Errorf("%s %s silenced %v, want %v", x.Hostname, x.MetricPath, x.Silenced, want)
			}
		}

		wantError(t, "delete unknown", a.do("DELETE", "/api/0/silences/0123456789abcdef", "", ""), 404, "Silence '0123456789abcdef' not found")
		r = a.do("DELETE", "/api/0/silences/"+sil.ID, "", "")
		if r.status != 200 || string(r.body) != `{"deleted":"`+sil.ID+`"}` {
			t.Fatalf("DELETE: %s", r)
		}
		wantError(t, "delete again", a.do("DELETE", "/api/0/silences/"+sil.ID, "", ""), 404, "not found")
		a.getJSON("/api/0/silences", &list)
		if len(list.Silences) != 0 {
			t.Errorf("silences after delete: %+v", list.Silences)
		}

		// Without tokens, writes come from loopback only; reads from anywhere.
		far := client(t, ln, "192.0.2.7:40000", nil)
		wantError(t, "POST from afar", far.do("POST", "/api/0/silences", "application/json", body), 403, "accepted only from loopback")
		if r := far.get("/api/0/hosts"); r.status != 200 {
			t.Errorf("GET from afar: %s", r)
		}
		var msgs []messageJSON
		a.getJSON("/api/0/messages?limit=5", &msgs)
		if !slices.ContainsFunc(msgs, func(m messageJSON) bool { return m.Msg == "silence "+sil.ID+" deleted" }) {
			t.Errorf("the journal lacks the deletion: %+v", msgs)
		}
	})
}

// With tokens configured every API path needs one: none or a wrong one is
// 401 with a challenge, a read token cannot write (403), a write token can.
func TestAPITokens(t *testing.T) {
	d := startDaemon(t)
	sum := func(tok string) [32]byte {
		s, err := apiauth.ParseHash(apiauth.HashToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	creds := apiauth.NewSet([]apiauth.Token{
		{Name: "reader", Scope: apiauth.Read, Sum: sum("read-token")},
		{Name: "writer", Scope: apiauth.Write, Sum: sum("write-token")},
	}, nil)
	ln := serve(t, d.sys, hbdhttp.Options{Guard: hbdhttp.NewGuard(hbdhttp.GuardOptions{Credentials: creds, Logger: quiet()})})
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	anon := client(t, ln, "127.0.0.1:40000", nil)
	wrong := client(t, ln, "127.0.0.1:40000", bearer("guess"))
	reader := client(t, ln, "192.0.2.7:40000", bearer("read-token"))
	writer := client(t, ln, "192.0.2.8:40000", bearer("write-token"))
	const body = `{"host":"web01","duration":"1h"}`

	for _, path := range []string{"/api/0/hosts", "/api/0/stats", "/api/0/messages", "/metrics/fleet"} {
		r := anon.get(path)
		wantError(t, "anonymous GET "+path, r, 401, "authentication required")
		if r.header["Www-Authenticate"] != `Bearer realm="hbd"` {
			t.Errorf("challenge %q", r.header["Www-Authenticate"])
		}
		r = wrong.get(path)
		wantError(t, "wrong token GET "+path, r, 401, "invalid credentials")
		if r.header["Www-Authenticate"] != `Bearer realm="hbd", error="invalid_token"` {
			t.Errorf("challenge %q", r.header["Www-Authenticate"])
		}
		if r := reader.get(path); r.status != 200 {
			t.Errorf("reader GET %s: %s", path, r)
		}
	}
	wantError(t, "anonymous POST from loopback", anon.do("POST", "/api/0/silences", "application/json", body), 401, "authentication required")
	wantError(t, "reader POST", reader.do("POST", "/api/0/silences", "application/json", body), 403, `"reader" has scope read`)
	if r := writer.do("POST", "/api/0/silences", "application/json", body); r.status != 201 {
		t.Fatalf("writer POST: %s", r)
	}
	if n := len(d.sys.Silences.List()); n != 1 {
		t.Errorf("%d silences, want the writer's one", n)
	}
}

// Over the per-client rate the API answers 429 with Retry-After; the
// guard's clock stands still, so the bucket refills only when told, and
// another client has a bucket of its own.
func TestAPIRateLimit(t *testing.T) {
	d := startDaemon(t)
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ln := serve(t, d.sys, hbdhttp.Options{Guard: hbdhttp.NewGuard(hbdhttp.GuardOptions{Rate: 2, Burst: 3, Now: clock, Logger: quiet()})})
	a := client(t, ln, "192.0.2.7:40000", nil)
	for i := range 3 {
		if r := a.get("/api/0/hosts"); r.status != 200 {
			t.Fatalf("request %d within the burst: %s", i+1, r)
		}
	}
	r := a.get("/api/0/hosts")
	wantError(t, "over the burst", r, 429, "too many requests from 192.0.2.7")
	if r.header["Retry-After"] != "1" {
		t.Errorf("Retry-After %q, want 1", r.header["Retry-After"])
	}
	if r := client(t, ln, "192.0.2.8:40000", nil).get("/api/0/hosts"); r.status != 200 {
		t.Errorf("another client: %s", r)
	}
	mu.Lock()
	now = now.Add(500 * time.Millisecond) // one token at 2 per second
	mu.Unlock()
	if r := a.get("/api/0/hosts"); r.status != 200 {
		t.Errorf("after the bucket refilled one: %s", r)
	}
	wantError(t, "and again", a.get("/api/0/hosts"), 429, "too many requests")
}

func mustLoad(t *testing.T, zone string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
