package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The tests here hold the real daemon to docs/openapi.yaml: every
// documented operation is called, with good and bad parameters, and every
// answer (status, content type, headers the document requires, body) is
// validated against the operation the document's router finds for the
// request. Requests are checked too: a request the daemon refuses as bad
// input must break the document's parameter or body schemas where those
// can say so, and one it accepts must not, so the documented limits are
// the daemon's.

// apiChecker sends requests to a daemon and validates them and their
// answers against docs/openapi.yaml.
type apiChecker struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	client *http.Client
	hdr    map[string]string // sent with every request (credentials)

	mu   sync.Mutex
	seen map[string]bool // "GET /api/0/hosts/{hostname}": operations answered
}

// apiReq is one request and what the daemon must answer.
type apiReq struct {
	method, path string // path with its query
	body         string
	hdr          map[string]string // "Host" sets the Host header
	status       int               // the status the daemon must answer
	// bad: the request breaks the document's schemas (a parameter out of
	// range, a body with an unknown field), so request validation must
	// refuse it; otherwise it must accept it.
	bad bool
}

func (r apiReq) String() string { return r.method + " " + r.path }

// apiResp is an answer, read whole.
type apiResp struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// The pages, static files and profiles are text the validator reads as
// strings: their schemas say "string", and the content type is what is
// checked.
func init() {
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

func newAPIChecker(t *testing.T, base string) *apiChecker {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	// The document's server is the default port; route this daemon's.
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("no router over docs/openapi.yaml: %v", err)
	}
	return &apiChecker{t: t, doc: doc, router: router, base: base, seen: map[string]bool{},
		client: &http.Client{
			Timeout: 30 * time.Second,
			// The redirect of / is an answer to check, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

func (c *apiChecker) newRequest(r apiReq) (*http.Request, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, c.base+r.path, body)
	if err != nil {
		return nil, err
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range []map[string]string{c.hdr, r.hdr} {
		for k, v := range h {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
	}
	return req, nil
}

// send sends r and reads the answer; safe to call from any goroutine.
func (c *apiChecker) send(r apiReq) apiResp {
	req, err := c.newRequest(r)
	if err != nil {
		return apiResp{err: err}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return apiResp{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiResp{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// check sends r and validates it and its answer; it returns the answer.
func (c *apiChecker) check(r apiReq) apiResp {
	c.t.Helper()
	resp := c.send(r)
	c.validate(r, resp)
	return resp
}

// validate holds r and its answer to the document and to r's expectations.
func (c *apiChecker) validate(r apiReq, resp apiResp) {
	t := c.t
	t.Helper()
	if resp.err != nil {
		t.Fatalf("%s: %v", r, resp.err)
	}
	if resp.status != r.status {
		t.Errorf("%s: status %d, want %d: %s", r, resp.status, r.status, resp.body)
		return
	}
	vreq, err := c.newRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	vreq.Host = vreq.URL.Host // the router matches the document's server
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		// Not a documented operation: the daemon's own 404 or 405.
		if (errors.Is(err, routers.ErrPathNotFound) && r.status != 404) || (errors.Is(err, routers.ErrMethodNotAllowed) && r.status != 405) {
			t.Errorf("%s: no documented operation (%v), yet the daemon answered %d", r, err, resp.status)
		}
		c.validateError(r, resp)
		return
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case r.bad && err == nil:
		t.Errorf("%s: the daemon refuses it (%d %s), but docs/openapi.yaml allows it", r, resp.status, resp.body)
	case !r.bad && err != nil:
		t.Errorf("%s: docs/openapi.yaml refuses the request: %v", r, err)
	}
	op := r.method + " " + route.Path
	c.mu.Lock()
	c.seen[op] = true
	c.mu.Unlock()
	if r.method == http.MethodHead {
		// ValidateResponse passes every HEAD: check the status and type.
		ref := route.Operation.Responses.Status(resp.status)
		if ref == nil {
			t.Errorf("%s: status %d is not documented", r, resp.status)
		} else if ct := resp.header.Get("Content-Type"); len(ref.Value.Content) > 0 && ref.Value.Content.Get(ct) == nil {
			t.Errorf("%s: Content-Type %q is not documented for %d", r, ct, resp.status)
		}
		return
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.status,
		Header:                 resp.header,
		Body:                   io.NopCloser(bytes.NewReader(resp.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s: the answer (%d, %s) does not match docs/openapi.yaml: %v\nbody: %.600s", r, resp.status, resp.header.Get("Content-Type"), err, resp.body)
	}
}

// validateError checks an answer outside the documented operations: the
// JSON error object.
func (c *apiChecker) validateError(r apiReq, resp apiResp) {
	c.t.Helper()
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	c.validateJSON(r.String(), "Error", resp.body)
}

// validateJSON checks body against one of the document's schemas.
func (c *apiChecker) validateJSON(what, schema string, body []byte) {
	c.t.Helper()
	s := c.doc.Components.Schemas[schema]
	if s == nil {
		c.t.Fatalf("docs/openapi.yaml has no schema %s", schema)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Errorf("%s: not JSON: %v: %.300s", what, err, body)
		return
	}
	if err := s.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s does not match schema %s: %v\n%.600s", what, schema, err, body)
	}
}

// unexercised lists the documented operations no request has reached.
func (c *apiChecker) unexercised() []string {
	var out []string
	for p, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if op := method + " " + p; !c.seen[op] {
				out = append(out, op)
			}
		}
	}
	slices.Sort(out)
	return out
}

// A daemon with hosts (a real agent over IPv4 and IPv6, a declared host
// never heard from, a host whose samples raise a CRITICAL alert), alerts,
// messages, silences, pprof and the stream: every documented operation
// answers as the document says, for good and bad requests.
func TestOpenAPIMatchesTheDaemon(t *testing.T) {
	d := startDaemon(t, `watchhosts = ["db01"]
alert_dynamic = true

[[threshold]]
metric = "queue.depth"
warning = 50.0
critical = 90.0
operator = ">"

[[threshold]]
metric = "memory_monitor.percent"
warning = 0.001
critical = 1000.0
operator = ">"

[limits]
silences_per_host = 2

[[maintenance]]
name = "db-patching"
hosts = "db*"
schedule = "Sat 02:00-04:00"
timezone = "Europe/Berlin"

[api]
pprof = true
`)
	startAgent(t, d, "web01", `
[plugins.cpu_monitor]
interval = "1s"
[plugins.memory_monitor]
interval = "1s"
[plugins.disk_monitor]
interval = "1s"
[plugins.network_monitor]
enabled = false
`)
	app := newSender(t, d, "app01", d.key, false)
	app.heartbeat(time.Second, 1)
	app.sample("queue", `{"depth": 95, "by_shard": {"a": 60, "b": 35}}`)

	waitFor(t, 30*time.Second, "web01 with RTTs on both families", func() bool {
		h, ok := d.hostQuiet("web01")
		if !ok || len(h.Connections) != 2 {
			return false
		}
		for _, c := range h.Connections {
			if c.RTTMs == nil {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "web01's memory WARNING and app01's queue CRITICAL", func() bool {
		st, body := getQuiet(d.http + "/api/0/alerts")
		return st == 200 && strings.Contains(string(body), `"hostname":"web01","metric_path":"memory_monitor.percent","level":"WARNING"`) &&
			strings.Contains(string(body), `"hostname":"app01","metric_path":"queue.depth","level":"CRITICAL"`)
	})

	c := newAPIChecker(t, d.http)

	// Hosts.
	for _, r := range []apiReq{
		{method: "GET", path: "/api/0/hosts", status: 200},
		{method: "GET", path: "/api/0/hosts?limit=1", status: 200},
		{method: "GET", path: "/api/0/hosts?limit=2&offset=1", status: 200},
		{method: "GET", path: "/api/0/hosts?state=UNKNOWN", status: 200},
		{method: "GET", path: "/api/0/hosts?offset=1000000", status: 200},
		{method: "GET", path: "/api/0/hosts?state=up", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts?limit=0", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts?limit=x", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts?limit=1000001", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts?offset=-1", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts/web01", status: 200},
		{method: "GET", path: "/api/0/hosts/db01", status: 200},
		{method: "GET", path: "/api/0/hosts/nosuch", status: 404},
		{method: "GET", path: "/api/0/hosts/bad%20name", status: 404},
		{method: "GET", path: "/api/0/hosts/web01/plugins", status: 200},
		{method: "GET", path: "/api/0/hosts/app01/plugins", status: 200},
		{method: "GET", path: "/api/0/hosts/nosuch/plugins", status: 404},
		{method: "GET", path: "/api/0/hosts/web01/plugins/cpu_monitor", status: 200},
		{method: "GET", path: "/api/0/hosts/web01/plugins/disk_monitor?limit=1", status: 200},
		{method: "GET", path: "/api/0/hosts/app01/plugins/queue?limit=100000", status: 200},
		{method: "GET", path: "/api/0/hosts/web01/plugins/cpu_monitor?limit=0", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts/web01/plugins/cpu_monitor?limit=100001", status: 400, bad: true},
		{method: "GET", path: "/api/0/hosts/web01/plugins/nosuch", status: 404},
		{method: "GET", path: "/api/0/hosts/web01/plugins/bad%20plugin", status: 404},
		{method: "GET", path: "/api/0/hosts/nosuch/plugins/cpu_monitor", status: 404},
	} {
		c.check(r)
	}
	// The bodies hold what the schemas' nullable and non-null branches cover.
	var hosts []map[string]any
	if err := json.Unmarshal(c.check(apiReq{method: "GET", path: "/api/0/hosts", status: 200}).body, &hosts); err != nil || len(hosts) != 3 {
		t.Fatalf("hosts: %v, %d: want db01, app01, web01", err, len(hosts))
	}
	if db := c.check(apiReq{method: "GET", path: "/api/0/hosts/db01", status: 200}); !bytes.Contains(db.body, []byte(`"ver":null`)) || !bytes.Contains(db.body, []byte(`"connections":[]`)) {
		t.Errorf("db01, never heard from: %s", db.body)
	}

	// Alerts.
	for _, r := range []apiReq{
		{method: "GET", path: "/api/0/hosts/web01/alerts", status: 200},
		{method: "GET", path: "/api/0/hosts/app01/alerts", status: 200},
		{method: "GET", path: "/api/0/hosts/db01/alerts", status: 200},
		{method: "GET", path: "/api/0/hosts/nosuch/alerts", status: 404},
		{method: "GET", path: "/api/0/alerts", status: 200},
		{method: "GET", path: "/api/0/alerts?level=CRITICAL", status: 200},
		{method: "GET", path: "/api/0/alerts?host=web*&limit=1&offset=0", status: 200},
		{method: "GET", path: "/api/0/alerts?offset=5", status: 200},
		{method: "GET", path: "/api/0/alerts?level=OK", status: 400, bad: true},
		{method: "GET", path: "/api/0/alerts?level=INFO", status: 400, bad: true},
		{method: "GET", path: "/api/0/alerts?limit=0", status: 400, bad: true},
		{method: "GET", path: "/api/0/alerts?host=%5B", status: 400}, // "[": a glob the schema cannot judge
	} {
		c.check(r)
	}

	// Silences: two fill app01's cap; the third is refused with 429.
	var added []string
	for _, body := range []string{
		`{"host":"app01","metric":"queue.*","duration":"2h","comment":"queue drain"}`,
		fmt.Sprintf(`{"host":"app01","until":%d}`, time.Now().Add(time.Hour).Unix()),
	} {
		resp := c.check(apiReq{method: "POST", path: "/api/0/silences", body: body, status: 201})
		var s struct{ ID string }
		if err := json.Unmarshal(resp.body, &s); err != nil || s.ID == "" {
			t.Fatalf("POST silence: %s", resp.body)
		}
		added = append(added, s.ID)
	}
	for _, r := range []apiReq{
		{method: "POST", path: "/api/0/silences", body: `{"host":"app01","duration":"1h"}`, status: 429},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"soon"}`, status: 400},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h","until":2000000000}`, status: 400},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","until":1}`, status: 400},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*"}`, status: 400},
		{method: "POST", path: "/api/0/silences", body: `{"duration":"1h"}`, status: 400, bad: true},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h","hosts":"x"}`, status: 400, bad: true},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","until":"soon"}`, status: 400, bad: true},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h"}`, hdr: map[string]string{"Content-Type": "text/plain"}, status: 415, bad: true},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h"}`, hdr: map[string]string{"Host": "hbd.example.net"}, status: 403},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h"}`, hdr: map[string]string{"Origin": "https://evil.example"}, status: 403},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","schedule":"0 3 * * *","duration":"1h","timezone":"Europe/Berlin"}`, status: 201},
		{method: "GET", path: "/api/0/silences", status: 200},
		{method: "DELETE", path: "/api/0/silences/config:db-patching", status: 409},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","schedule":"Sat 02:00-04:00","timezone":"Mars/Olympus"}`, status: 400},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","schedule":"0 3 * * *"}`, status: 400},
		{method: "GET", path: "/api/0/alerts?host=app01", status: 200}, // silenced: true
		{method: "DELETE", path: "/api/0/silences/" + added[0], status: 200},
		{method: "DELETE", path: "/api/0/silences/" + added[0], status: 404},
		{method: "DELETE", path: "/api/0/silences/" + added[1], hdr: map[string]string{"Host": "hbd.example.net"}, status: 403},
	} {
		c.check(r)
	}
	if list := c.check(apiReq{method: "GET", path: "/api/0/silences", status: 200}); !bytes.Contains(list.body, []byte(added[1])) || bytes.Contains(list.body, []byte(added[0])) {
		t.Errorf("silences after the delete: %s", list.body)
	}

	// The daemon's own.
	for _, r := range []apiReq{
		{method: "GET", path: "/api/0/messages", status: 200},
		{method: "GET", path: "/api/0/messages?limit=1000&host=app01&since=0", status: 200},
		{method: "GET", path: "/api/0/messages?since=1711234567.123", status: 200},
		{method: "GET", path: "/api/0/messages?limit=1001", status: 400, bad: true},
		{method: "GET", path: "/api/0/messages?since=yesterday", status: 400, bad: true},
		{method: "GET", path: "/api/0/messages?since=-1", status: 400, bad: true},
		{method: "GET", path: "/api/0/stats", status: 200},
		{method: "GET", path: "/api/0/cluster", status: 200}, // {"enabled":false}: this daemon runs alone
		{method: "GET", path: "/metrics", status: 200},
		{method: "GET", path: "/metrics/fleet", status: 200},
		{method: "GET", path: "/metrics/fleet?host=web*&host=db01", status: 200},
		{method: "GET", path: "/metrics/fleet?host=%5B", status: 400},
		{method: "GET", path: "/debug/pprof/", status: 200},
		{method: "GET", path: "/debug/pprof/cmdline", status: 200},
		{method: "GET", path: "/debug/pprof/heap", status: 200},
		{method: "GET", path: "/debug/pprof/goroutine?debug=1", status: 200},
		{method: "GET", path: "/debug/pprof/profile?seconds=61", status: 400, bad: true},
		{method: "GET", path: "/debug/pprof/heap", hdr: map[string]string{"Host": "hbd.example.net"}, status: 403},
	} {
		c.check(r)
	}
	if msgs := c.check(apiReq{method: "GET", path: "/api/0/messages?limit=1000", status: 200}); !bytes.Contains(msgs.body, []byte(`"kind":"silence"`)) {
		t.Errorf("messages lack the silences: %.500s", msgs.body)
	}
	checkProfileConflict(t, c)

	// Pages, and what the router answers for paths and methods it has not.
	for _, r := range []apiReq{
		{method: "GET", path: "/", status: 302},
		{method: "HEAD", path: "/", status: 302},
		{method: "GET", path: "/live", status: 200},
		{method: "HEAD", path: "/live", status: 200},
		{method: "GET", path: "/plugins", status: 200},
		{method: "HEAD", path: "/plugins", status: 200},
		{method: "GET", path: "/alerts", status: 200},
		{method: "HEAD", path: "/alerts", status: 200},
		{method: "GET", path: "/static/hbd.css", status: 200},
		{method: "GET", path: "/static/live.js", status: 200},
		{method: "GET", path: "/static/favicon.svg", status: 200},
		{method: "HEAD", path: "/static/hbd.css", status: 200},
		{method: "GET", path: "/static/nope.js", status: 404},
		{method: "HEAD", path: "/static/nope.js", status: 404},
		{method: "GET", path: "/static/vendor/uplot/uPlot.iife.min.js", status: 200},
		{method: "GET", path: "/static/vendor/uplot/LICENSE", status: 200},
		{method: "HEAD", path: "/static/vendor/uplot/uPlot.min.css", status: 200},
		{method: "GET", path: "/static/vendor/uplot/nope.js", status: 404},
		{method: "HEAD", path: "/static/vendor/uplot/nope.js", status: 404},
		{method: "GET", path: "/nope", status: 404},
		{method: "GET", path: "/api/0/hosts/web01/nope", status: 404},
		{method: "POST", path: "/api/0/hosts", body: "{}", status: 405},
		{method: "PUT", path: "/api/0/silences", body: "{}", status: 405},
		{method: "POST", path: "/-/reload", hdr: map[string]string{"Content-Type": "application/json"}, status: 200},
		{method: "POST", path: "/-/reload", hdr: map[string]string{"Content-Type": "application/json", "Host": "hbd.example.net"}, status: 403},
		{method: "DELETE", path: "/api/0/alerts", status: 405},
	} {
		c.check(r)
	}

	// The stream.
	checkStream(t, c, d)
	for _, r := range []apiReq{
		{method: "GET", path: "/hbd", status: 400},
		{method: "GET", path: "/hbd?types=cpu", status: 400},
	} {
		c.check(r)
	}

	// The RTT distributions (issue 13) are documented while they are
	// built: until the daemon serves the route, its check is skipped, and
	// only it.
	pending := map[string]bool{}
	if checkRTT(t, c) {
		t.Log("GET /api/0/hosts/{hostname}/rtt is served and matches the document")
	} else {
		t.Log("GET /api/0/hosts/{hostname}/rtt is not served yet: not checked")
		pending["GET /api/0/hosts/{hostname}/rtt"] = true
	}

	for _, op := range c.unexercised() {
		if !pending[op] {
			t.Errorf("%s is documented but this test never called it", op)
		}
	}
}

// checkProfileConflict runs two CPU profiles at once: one answers the
// profile, the other 409, both as documented.
func checkProfileConflict(t *testing.T, c *apiChecker) {
	t.Helper()
	r := apiReq{method: "GET", path: "/debug/pprof/profile?seconds=1"}
	for attempt := 0; attempt < 3; attempt++ {
		var wg sync.WaitGroup
		var resps [2]apiResp
		for i := range resps {
			wg.Go(func() { resps[i] = c.send(r) })
		}
		wg.Wait()
		codes := []int{resps[0].status, resps[1].status}
		slices.Sort(codes)
		if slices.Equal(codes, []int{200, 200}) {
			continue // the profiles did not overlap: try again
		}
		if !slices.Equal(codes, []int{200, 409}) {
			t.Fatalf("two profiles at once: %v, want one 200 and one 409 (%s)", codes, resps[0].body)
		}
		for _, resp := range resps {
			rr := r
			rr.status = resp.status
			c.validate(rr, resp)
			if resp.status == 409 && resp.header.Get("Retry-After") == "" {
				t.Errorf("409 without Retry-After")
			}
		}
		return
	}
	t.Fatal("three pairs of CPU profiles never overlapped")
}

// checkStream opens the WebSocket stream on the API port: the upgrade's
// answer matches the document, and so do the frames (schema Frame): the
// snapshot, live frames, and the error frame of a bad subscription. The
// schema Subscription refuses the subscription the daemon refuses and
// allows the one it takes.
func checkStream(t *testing.T, c *apiChecker, d *daemon) {
	t.Helper()
	path := "/hbd?types=host,message,alert"
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(d.http, "http")+path, nil)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	defer conn.Close()
	c.validate(apiReq{method: "GET", path: path, status: http.StatusSwitchingProtocols}, apiResp{status: resp.StatusCode, header: resp.Header})
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	// readUntil reads frames, checking the first few of each type, until
	// one of type want; it returns that one.
	readUntil := func(want string) []byte {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("stream: %v after frames %v, waiting for a %s frame", err, types, want)
			}
			var f struct{ Type string }
			if err := json.Unmarshal(msg, &f); err != nil {
				t.Fatalf("frame is not JSON: %s", msg)
			}
			types[f.Type]++
			if types[f.Type] <= 3 || f.Type == want {
				c.validateJSON("a "+f.Type+" frame", "Frame", msg)
			}
			if f.Type == want {
				return msg
			}
		}
	}
	subscribe := func(msg string, valid bool) {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(msg), &v); err != nil {
			t.Fatal(err)
		}
		if err := c.doc.Components.Schemas["Subscription"].Value.VisitJSON(v); (err == nil) != valid {
			t.Errorf("schema Subscription on %s: %v, want valid = %v", msg, err, valid)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	readUntil("snapshot")
	readUntil("host")
	subscribe(`{"subscribe":{"types":["cpu"]}}`, false)
	readUntil("error")
	subscribe(`{"subscribe":{"hosts":["web*"],"types":["host"]}}`, true)
	if snap := readUntil("snapshot"); !bytes.Contains(snap, []byte(`"name":"web01"`)) || bytes.Contains(snap, []byte(`"name":"app01"`)) {
		t.Errorf("snapshot after subscribing to web*: %.300s", snap)
	}
	t.Logf("frames checked against schema Frame: %v", types)
}

// checkRTT checks GET /api/0/hosts/{hostname}/rtt and the connections'
// RTT percentiles when the daemon serves the route; false when it does not.
func checkRTT(t *testing.T, c *apiChecker) bool {
	t.Helper()
	probe := c.send(apiReq{method: "GET", path: "/api/0/hosts/web01/rtt"})
	if probe.err != nil {
		t.Fatal(probe.err)
	}
	if probe.status == 404 && bytes.Contains(probe.body, []byte("no such path")) {
		return false
	}
	for _, r := range []apiReq{
		{method: "GET", path: "/api/0/hosts/web01/rtt", status: 200},
		{method: "GET", path: "/api/0/hosts/db01/rtt", status: 200},
		{method: "GET", path: "/api/0/hosts/nosuch/rtt", status: 404},
	} {
		c.check(r)
	}
	var hosts []struct {
		Name        string
		Connections []map[string]any
	}
	if err := json.Unmarshal(c.check(apiReq{method: "GET", path: "/api/0/hosts", status: 200}).body, &hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		for _, conn := range h.Connections {
			for _, k := range []string{"rtt_p50_ms", "rtt_p95_ms", "rtt_p99_ms"} {
				if _, ok := conn[k]; !ok {
					t.Errorf("%s's connection %v lacks %s, which the document promises with the rtt route", h.Name, conn["family"], k)
				}
			}
		}
	}
	return true
}

// With credentials and a rate limit configured, the refusals are as
// documented: 401 with its challenge, 403 for a read token that writes,
// 429 with Retry-After; the pages stay public.
func TestOpenAPIRefusals(t *testing.T) {
	readTok, readHash := newToken(t)
	writeTok, writeHash := newToken(t)
	d := startDaemon(t, fmt.Sprintf(`
[api]
rate = 0.1
burst = 20
rate_exempt = []

[[api.token]]
name = "grafana"
scope = "read"
hash = %q

[[api.token]]
name = "ops"
scope = "write"
hash = %q
`, readHash, writeHash))
	c := newAPIChecker(t, d.http)
	read := map[string]string{"Authorization": "Bearer " + readTok}
	write := map[string]string{"Authorization": "Bearer " + writeTok}
	for _, r := range []apiReq{
		{method: "GET", path: "/api/0/hosts", status: 401},
		{method: "GET", path: "/api/0/hosts", hdr: map[string]string{"Authorization": "Bearer hbd_wrong"}, status: 401},
		{method: "GET", path: "/metrics", status: 401},
		{method: "GET", path: "/hbd", status: 401},
		{method: "GET", path: "/api/0/hosts", hdr: read, status: 200},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h"}`, hdr: read, status: 403},
		{method: "POST", path: "/api/0/silences", body: `{"host":"web*","duration":"1h"}`, hdr: write, status: 201},
		{method: "POST", path: "/-/reload", hdr: withJSON(read), status: 403},
		{method: "POST", path: "/-/reload", hdr: withJSON(write), status: 200},
		{method: "POST", path: "/-/reload", hdr: write, status: 415},
		{method: "POST", path: "/-/reload", status: 401},
		{method: "GET", path: "/live", status: 200},
	} {
		c.check(r)
	}
	// A config with errors is refused with every problem.
	if err := os.WriteFile(d.cfgPath, []byte("hbd_port = \"x\"\nno_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp := c.check(apiReq{method: "POST", path: "/-/reload", hdr: withJSON(write), status: 422}); !bytes.Contains(resp.body, []byte("no_such_key")) {
		t.Errorf("422 without every problem: %s", resp.body)
	}
	for i := 0; ; i++ {
		r := apiReq{method: "GET", path: "/api/0/stats", hdr: read, status: 200}
		resp := c.send(r)
		if resp.status == 429 {
			r.status = 429
			c.validate(r, resp)
			if resp.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		c.validate(r, resp)
		if i == 40 {
			t.Fatalf("40 requests at a rate of 0.1/s with a burst of 20 were never refused")
		}
	}
	t.Logf("operations checked: %v", slices.Sorted(maps.Keys(c.seen)))
}

// withJSON is hdr with the JSON Content-Type a write needs, for a POST
// without a body.
func withJSON(hdr map[string]string) map[string]string {
	out := maps.Clone(hdr)
	out["Content-Type"] = "application/json"
	return out
}

// With every connection slot taken, a new connection is answered 503
// with the JSON error before it sends anything: what the document says
// every operation may answer.
func TestOpenAPIConnectionCap(t *testing.T) {
	d := startDaemon(t, `
[api]
max_conns = 2
`)
	c := newAPIChecker(t, d.http)
	addr := strings.TrimPrefix(d.http, "http://")
	openIdle(t, "127.0.0.1", addr, 3) // with the harness's, at least two are held
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := apiReq{method: "GET", path: "/api/0/hosts", status: 503}
	req, err := c.newRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("no answer on a connection over max_conns: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	c.validate(r, apiResp{status: resp.StatusCode, header: resp.Header, body: body, err: err})
}
