package http

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

var fuzzKey = []byte("0123456789abcdef0123456789abcdef")

// fuzzServer starts a real actor system on loopback with one host that has
// a plugin, and the API server in front of it (not listening: requests
// are handed to its handler directly, as fasthttp would).
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys, err := actors.Start(actors.Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(fuzzKey, nil),
			AcceptDynamic: true, MaxClockSkew: time.Hour},
		Logger: log,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sys.Stop)
	b, err := wire.AppendSample(nil, wire.NewSigner(fuzzKey), wire.Envelope{Host: "web01", Seq: 1, Time: time.Now().UnixNano()},
		"cpu_monitor", []byte(`{"cpu_percent":12.5}`))
	if err != nil {
		f.Fatal(err)
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(sys.UDPAddrs()[0]))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		f.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sys.Stats.AcceptedKind(wire.KindSample) == 0 {
		if time.Now().After(deadline) {
			f.Fatal("the sample was not accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return New(sys, Options{Logger: log})
}

// serve runs one request through the server's whole handler chain.
func (s *Server) serve(method, uri string, body []byte) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	s.srv.Handler(ctx)
	return ctx
}

// checkAnswer fails on a 5xx or on an answer that is not JSON: bad input
// gets a 4xx with an error object (or a redirect to the clean path), never
// a server error.
func checkAnswer(t *testing.T, what string, ctx *fasthttp.RequestCtx) {
	t.Helper()
	status, body := ctx.Response.StatusCode(), ctx.Response.Body()
	if status >= 500 {
		t.Fatalf("%s: status %d: %s", what, status, body)
	}
	if status >= 300 && status < 400 {
		// The router sends a path that is not clean to its clean form.
		if len(ctx.Response.Header.Peek("Location")) == 0 {
			t.Fatalf("%s: redirect %d without a Location", what, status)
		}
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%s: status %d, body is not JSON: %q", what, status, body)
	}
	if status >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Fatalf("%s: status %d without an error message: %s", what, status, body)
		}
	}
}

// FuzzAPIQuery sends GET (and DELETE) requests with arbitrary paths under
// /api/0/ and arbitrary query parameters: every parameter parser (limit,
// offset, state, level, host globs, since, host and plugin names, silence
// IDs) answers 2xx or 4xx with JSON, never 5xx or a panic.
func FuzzAPIQuery(f *testing.F) {
	for _, seed := range []string{
		"hosts", "hosts?limit=10&offset=5&state=DOWN", "hosts?limit=-1", "hosts?state=up&limit=99999999999999999999",
		"hosts/web01", "hosts/web%2501", "hosts/web01/plugins", "hosts/web01/plugins/cpu_monitor?limit=3",
		"hosts/web01/plugins/cpu_monitor?limit=0", "hosts/web01/plugins/nope", "hosts/%00/alerts", "hosts/web01/alerts",
		"alerts?level=CRITICAL&host=web*", "alerts?host=[", "alerts?level=OK", "alerts?limit=1&offset=1000000000",
		"messages?limit=5&host=web01&since=1795510000.5", "messages?since=NaN", "messages?since=-1", "messages?limit=1001",
		"silences", "silences/0123456789abcdef", "stats", "nope",
	} {
		f.Add(byte(0), seed)
	}
	f.Add(byte(1), "silences/nope")
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, method byte, rest string) {
		m := fasthttp.MethodGet
		if method%2 == 1 {
			m = fasthttp.MethodDelete
		}
		uri := "/api/0/" + rest
		checkAnswer(t, m+" "+uri, s.serve(m, uri, nil))
	})
}

// FuzzSilenceBody feeds POST /api/0/silences arbitrary bodies: the parser
// never panics, what it accepts has an expiry and comes from the API, and
// the handler answers 201 with the silence or 4xx with an error.
func FuzzSilenceBody(f *testing.F) {
	for _, seed := range []string{
		`{"host":"web*","metric":"disk_monitor.*.percent","duration":"2h","comment":"disk swap"}`,
		`{"host":"db01","until":1795510000}`, `{"host":"*","duration":"2562047h"}`, `{"host":"*","until":1e300}`,
		`{"host":"[","duration":"1h"}`, `{"host":"x","metric":"a..b","duration":"1h"}`, `{"host":"x","duration":"1h","until":5}`,
		`{"host":"x","duration":"-1h"}`, `{"host":"x","duration":"1h","extra":1}`, `{"host":"x","duration":"1h"} trailing`,
		`{"host":"` + strings.Repeat("a", 300) + `","duration":"1h"}`, `[]`, `null`, ``, `{"host":1}`,
		`{"host":"db*","schedule":"Sat 02:00-04:00","timezone":"Europe/Berlin"}`, `{"host":"x","schedule":"0 2 * * 6","duration":"2h"}`,
		`{"host":"x","schedule":"0 2 * * 6"}`, `{"host":"x","schedule":"Sat 02:00-04:00","timezone":"Mars/Olympus"}`,
	} {
		f.Add([]byte(seed))
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		now := time.Unix(1795510000, 0)
		sil, err := parseSilence(body, now)
		if err == nil && (sil.Origin != "api" || sil.Until.IsZero() == (sil.Schedule == nil)) {
			t.Fatalf("parseSilence(%q) = %+v: no origin or expiry", body, sil)
		}
		ctx := s.serve(fasthttp.MethodPost, "/api/0/silences", body)
		checkAnswer(t, "POST "+string(body), ctx)
		if st := ctx.Response.StatusCode(); st != fasthttp.StatusCreated && st < 400 {
			t.Fatalf("POST %q: status %d", body, st)
		}
	})
}
