package http

import (
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/hbd-project/hbd/internal/apiauth"
)

// req describes one request to the guard.
type req struct {
	method, uri, host, from string
	headers                 map[string]string
}

func (r req) ctx(t *testing.T) *fasthttp.RequestCtx {
	t.Helper()
	var fr fasthttp.Request
	fr.Header.SetMethod(r.method)
	fr.SetRequestURI(r.uri)
	host := r.host
	if host == "" {
		host = "127.0.0.1:50004"
	}
	fr.Header.SetHost(host)
	for k, v := range r.headers {
		fr.Header.Set(k, v)
	}
	if r.method == "POST" {
		fr.SetBodyString(`{"host":"web1","duration":"1h"}`)
	}
	ap := netip.MustParseAddrPort(r.from)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fr, net.TCPAddrFromAddrPort(ap), nil)
	return &ctx
}

func tokenSet(t *testing.T, withUser bool) *apiauth.Set {
	t.Helper()
	sum := func(tok string) [32]byte {
		s, err := apiauth.ParseHash(apiauth.HashToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var users []apiauth.User
	if withUser {
		h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		users = []apiauth.User{{Name: "alice", Scope: apiauth.Write, Bcrypt: string(h)}}
	}
	return apiauth.NewSet([]apiauth.Token{
		{Name: "reader", Scope: apiauth.Read, Sum: sum("R")},
		{Name: "writer", Scope: apiauth.Write, Sum: sum("W")},
	}, users)
}

const (
	loop   = "127.0.0.1:40000"
	remote = "192.0.2.10:40000"
	ctJSON = "application/json"
)

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// run passes r through g's checks; it returns the status and whether the
// handler behind the guard ran.
func run(t *testing.T, g *Guard, r req) (int, bool, *fasthttp.RequestCtx) {
	t.Helper()
	ctx := r.ctx(t)
	reached := false
	g.limit(g.protect(func(ctx *fasthttp.RequestCtx) { reached = true; ctx.SetStatusCode(200) }))(ctx)
	return ctx.Response.StatusCode(), reached, ctx
}

func TestGuardWithoutCredentials(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	g := NewGuard(GuardOptions{Logger: log, CORSOrigins: []string{"https://grafana.example.com", "*"}, Pprof: true})
	ct := func(v string) map[string]string { return map[string]string{"Content-Type": v} }
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": ctJSON}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		r      req
		status int
		reason string
	}{
		{"read from anywhere", req{method: "GET", uri: "/api/0/hosts", from: remote}, 200, ""},
		{"metrics from anywhere", req{method: "GET", uri: "/metrics", from: remote}, 200, ""},
		{"a token is ignored when none are configured", req{method: "GET", uri: "/api/0/hosts", from: remote, headers: bearer("x")}, 200, ""},
		{"write from loopback", req{method: "POST", uri: "/api/0/silences", from: loop, headers: ct(ctJSON)}, 200, ""},
		{"write from loopback, charset", req{method: "POST", uri: "/api/0/silences", from: loop, headers: ct("Application/JSON; charset=utf-8")}, 200, ""},
		{"write from loopback, localhost", req{method: "POST", uri: "/api/0/silences", host: "localhost:50004", from: "[::1]:4000", headers: ct(ctJSON)}, 200, ""},
		{"delete from loopback, no body", req{method: "DELETE", uri: "/api/0/silences/abc", from: loop}, 200, ""},
		{"write from another host", req{method: "POST", uri: "/api/0/silences", from: remote, headers: ct(ctJSON)}, 403, ReasonAuth},
		{"delete from another host", req{method: "DELETE", uri: "/api/0/silences/abc", from: remote}, 403, ReasonAuth},
		{"text/plain write", req{method: "POST", uri: "/api/0/silences", from: loop, headers: ct("text/plain;charset=UTF-8")}, 415, ReasonContentType},
		{"form write", req{method: "POST", uri: "/api/0/silences", from: loop, headers: ct("application/x-www-form-urlencoded")}, 415, ReasonContentType},
		{"no content type", req{method: "POST", uri: "/api/0/silences", from: loop}, 415, ReasonContentType},
		{"cross-site fetch", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Sec-Fetch-Site", "cross-site")}, 403, ReasonCSRF},
		{"same-site, other port", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:8080")}, 403, ReasonCSRF},
		{"foreign origin", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Origin", "http://evil.example")}, 403, ReasonCSRF},
		{"null origin", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Origin", "null")}, 403, ReasonCSRF},
		{"same origin", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Origin", "http://127.0.0.1:50004", "Sec-Fetch-Site", "same-origin")}, 200, ""},
		{"listed origin", req{method: "POST", uri: "/api/0/silences", from: loop, headers: with("Origin", "https://Grafana.example.com", "Sec-Fetch-Site", "cross-site")}, 200, ""},
		{"rebinding Host", req{method: "POST", uri: "/api/0/silences", host: "evil.example:50004", from: loop, headers: with("Origin", "http://evil.example:50004")}, 403, ReasonCSRF},
		{"pprof from loopback", req{method: "GET", uri: "/debug/pprof/heap", from: loop}, 200, ""},
		{"pprof from another host", req{method: "GET", uri: "/debug/pprof/heap", from: remote}, 403, ReasonAuth},
		{"pprof from a cross-site page", req{method: "GET", uri: "/debug/pprof/profile", from: loop, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, ReasonCSRF},
		{"page", req{method: "GET", uri: "/live", from: remote}, 200, ""},
	}
	for _, tt := range tests {
		before := uint64(0)
		if tt.reason != "" {
			before = g.ref.count(tt.reason)
		}
		status, reached, ctx := run(t, g, tt.r)
		if status != tt.status || reached != (tt.status == 200) {
			t.Errorf("%s: status %d, handler reached %v; want %d: %s", tt.name, status, reached, tt.status, ctx.Response.Body())
			continue
		}
		if tt.reason != "" {
			if g.ref.count(tt.reason) != before+1 {
				t.Errorf("%s: refusal not counted as %s", tt.name, tt.reason)
			}
			if !strings.HasPrefix(string(ctx.Response.Body()), `{"error":`) || string(ctx.Response.Header.ContentType()) != ctJSON {
				t.Errorf("%s: body %q is not a JSON error", tt.name, ctx.Response.Body())
			}
		}
	}
}

func TestGuardWithTokens(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	g := NewGuard(GuardOptions{Logger: log, Credentials: tokenSet(t, true), Pprof: true})
	js := func(h map[string]string) map[string]string { h["Content-Type"] = ctJSON; return h }
	basic := func(u, p string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	tests := []struct {
		name   string
		r      req
		status int
		reason string
	}{
		{"read without a token, from loopback too", req{method: "GET", uri: "/api/0/hosts", from: loop}, 401, ReasonAuth},
		{"metrics without a token", req{method: "GET", uri: "/metrics", from: remote}, 401, ReasonAuth},
		{"read with a wrong token", req{method: "GET", uri: "/api/0/hosts", from: remote, headers: bearer("nope")}, 401, ReasonAuth},
		{"read with the read token", req{method: "GET", uri: "/api/0/hosts", from: remote, headers: bearer("R")}, 200, ""},
		{"read with the write token", req{method: "GET", uri: "/api/0/alerts", from: remote, headers: bearer("W")}, 200, ""},
		{"read with basic auth", req{method: "GET", uri: "/api/0/hosts", from: remote, headers: basic("alice", "pw")}, 200, ""},
		{"wrong password", req{method: "GET", uri: "/api/0/hosts", from: remote, headers: basic("alice", "pW")}, 401, ReasonAuth},
		{"write without a token from loopback", req{method: "POST", uri: "/api/0/silences", from: loop, headers: map[string]string{"Content-Type": ctJSON}}, 401, ReasonAuth},
		{"write with the read token", req{method: "POST", uri: "/api/0/silences", from: loop, headers: js(bearer("R"))}, 403, ReasonScope},
		{"delete with the read token", req{method: "DELETE", uri: "/api/0/silences/x", from: remote, headers: bearer("R")}, 403, ReasonScope},
		{"write with the write token", req{method: "POST", uri: "/api/0/silences", from: remote, headers: js(bearer("W"))}, 200, ""},
		{"write token, text/plain", req{method: "POST", uri: "/api/0/silences", from: remote, headers: map[string]string{"Authorization": "Bearer W", "Content-Type": "text/plain"}}, 415, ReasonContentType},
		{"write token, cross-site", req{method: "POST", uri: "/api/0/silences", from: remote, headers: js(map[string]string{"Authorization": "Bearer W", "Sec-Fetch-Site": "cross-site"})}, 403, ReasonCSRF},
		{"stream with ?token=", req{method: "GET", uri: "/hbd?token=R", from: remote}, 200, ""},
		{"stream with a wrong ?token=", req{method: "GET", uri: "/hbd?token=X", from: remote}, 401, ReasonAuth},
		{"stream without a token", req{method: "GET", uri: "/hbd", from: remote}, 401, ReasonAuth},
		{"?token= only on the stream", req{method: "GET", uri: "/api/0/hosts?token=R", from: remote}, 401, ReasonAuth},
		{"page without a token", req{method: "GET", uri: "/alerts", from: remote}, 200, ""},
		{"static file without a token", req{method: "GET", uri: "/static/common.js", from: remote}, 200, ""},
		{"pprof from loopback without a token", req{method: "GET", uri: "/debug/pprof/heap", from: loop}, 200, ""},
		{"pprof remote without a token", req{method: "GET", uri: "/debug/pprof/heap", from: remote}, 401, ReasonAuth},
		{"pprof remote with the read token", req{method: "GET", uri: "/debug/pprof/heap", from: remote, headers: bearer("R")}, 403, ReasonScope},
		{"pprof remote with the write token", req{method: "GET", uri: "/debug/pprof/heap", from: remote, headers: bearer("W")}, 200, ""},
	}
	for _, tt := range tests {
		before := uint64(0)
		if tt.reason != "" {
			before = g.ref.count(tt.reason)
		}
		status, reached, ctx := run(t, g, tt.r)
		if status != tt.status || reached != (tt.status == 200) {
			t.Errorf("%s: status %d, handler reached %v; want %d: %s", tt.name, status, reached, tt.status, ctx.Response.Body())
			continue
		}
		if tt.reason != "" && g.ref.count(tt.reason) != before+1 {
			t.Errorf("%s: refusal not counted as %s", tt.name, tt.reason)
		}
		if status == 401 {
			var ch []string
			for _, v := range ctx.Response.Header.PeekAll("WWW-Authenticate") {
				ch = append(ch, string(v))
			}
			joined := strings.Join(ch, " | ")
			if !strings.HasPrefix(joined, `Bearer realm="hbd"`) || !strings.Contains(joined, `Basic realm="hbd"`) {
				t.Errorf("%s: WWW-Authenticate %q, want a Bearer and a Basic challenge", tt.name, joined)
			}
		}
	}
}

// pprof is 404 unless enabled: the guard lets the request through to the
// router, which has no such route.
func TestGuardPprofOff(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	g := NewGuard(GuardOptions{Logger: log, Credentials: tokenSet(t, false)})
	if status, reached, _ := run(t, g, req{method: "GET", uri: "/debug/pprof/heap", from: remote}); !reached || status != 200 {
		t.Errorf("pprof off: the guard answered %d instead of leaving it to the router", status)
	}
}

func TestGuardRate(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	clk := newFakeClock()
	g := NewGuard(GuardOptions{Logger: log, Rate: 1, Burst: 5, RateExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Now: clk.now})
	for i := range 5 {
		if status, _, _ := run(t, g, req{method: "GET", uri: "/api/0/hosts", from: remote}); status != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, status)
		}
	}
	status, reached, ctx := run(t, g, req{method: "GET", uri: "/live", from: remote})
	if status != 429 || reached {
		t.Fatalf("6th request: %d, want 429", status)
	}
	if ra := string(ctx.Response.Header.Peek("Retry-After")); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if g.ref.count(ReasonRate) != 1 {
		t.Errorf("rate refusals = %d, want 1", g.ref.count(ReasonRate))
	}
	for range 50 {
		if status, _, _ := run(t, g, req{method: "GET", uri: "/api/0/hosts", from: loop}); status != 200 {
			t.Fatal("loopback (exempt) was rate limited")
		}
	}
	clk.advance(time.Second)
	if status, _, _ := run(t, g, req{method: "GET", uri: "/api/0/hosts", from: remote}); status != 200 {
		t.Errorf("after a second: %d, want 200", status)
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"localhost": true, "localhost:50004": true, "LOCALHOST.:1": true, "app.localhost:80": true,
		"127.0.0.1:50004": true, "127.1.2.3": true, "[::1]:50004": true, "::1": true,
		"evil.example": false, "localhost.evil.example:50004": false, "192.0.2.1:50004": false, "": false, "[::ffff:127.0.0.1]:1": true,
	} {
		if got := loopbackHost([]byte(h)); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
}
