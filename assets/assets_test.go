package assets

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// do sends one request through a router with the assets registered and a
// NotFound that marks router misses, so a test can tell them from 404s
// answered by the assets handler itself.
func do(t *testing.T, r *router.Router, method, uri string, hdr map[string]string) *fasthttp.Response {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for k, v := range hdr {
		ctx.Request.Header.Set(k, v)
	}
	r.Handler(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func newRouter() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString("router miss")
	}
	Register(r)
	return r
}

func TestRoutes(t *testing.T) {
	r := newRouter()
	tests := []struct {
		name, method, uri string
		status            int
		ctype             string // prefix
		body              string // substring
	}{
		{"live page", "GET", "/live", 200, "text/html; charset=utf-8", `id="hosts-table"`},
		{"plugins page", "GET", "/plugins", 200, "text/html; charset=utf-8", `id="host-select"`},
		{"alerts page", "GET", "/alerts", 200, "text/html; charset=utf-8", `id="alerts-list"`},
		{"stylesheet", "GET", "/static/hbd.css", 200, "text/css; charset=utf-8", "--row-h"},
		{"shared script", "GET", "/static/common.js", 200, "text/javascript; charset=utf-8", "window.hbd"},
		{"live script", "GET", "/static/live.js", 200, "text/javascript; charset=utf-8", "requestAnimationFrame"},
		{"live worker", "GET", "/static/live-worker.js", 200, "text/javascript; charset=utf-8", "postMessage"},
		{"plugins script", "GET", "/static/plugins.js", 200, "text/javascript; charset=utf-8", "hashchange"},
		{"alerts script", "GET", "/static/alerts.js", 200, "text/javascript; charset=utf-8", "/api/0/silences"},
		{"icon", "GET", "/static/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"head of a page", "HEAD", "/live", 200, "text/html; charset=utf-8", ""},
		{"unknown static file", "GET", "/static/nope.js", 404, "application/json", `"error":"no such static file: nope.js"`},
		{"page is not a static file", "GET", "/static/live.html", 404, "application/json", `"error"`},
		{"escaped traversal", "GET", "/static/..%2fassets.go", 404, "application/json", `"error"`},
		{"nested static path", "GET", "/static/a/b.js", 404, "", "router miss"},
		{"vendored script", "GET", "/static/vendor/uplot/uPlot.iife.min.js", 200, "text/javascript; charset=utf-8", "uPlot"},
		{"vendored stylesheet", "GET", "/static/vendor/uplot/uPlot.min.css", 200, "text/css; charset=utf-8", ".uplot"},
		{"vendored licence", "GET", "/static/vendor/uplot/LICENSE", 200, "text/plain; charset=utf-8", "MIT License"},
		{"unknown vendored file", "GET", "/static/vendor/uplot/nope.js", 404, "application/json", `"error":"no such static file: vendor/uplot/nope.js"`},
		{"unknown vendored package", "GET", "/static/vendor/nope/uPlot.min.css", 404, "application/json", `"error"`},
		{"vendor folder is not a file", "GET", "/static/vendor", 404, "application/json", `"error"`},
		{"deeper vendored path", "GET", "/static/vendor/uplot/dist/uPlot.min.css", 404, "", "router miss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, r, tt.method, tt.uri, nil)
			if resp.StatusCode() != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode(), tt.status, resp.Body())
			}
			if ct := string(resp.Header.ContentType()); tt.ctype != "" && !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type = %q, want %q", ct, tt.ctype)
			}
			if !strings.Contains(string(resp.Body()), tt.body) {
				t.Errorf("body does not contain %q:\n%.300s", tt.body, resp.Body())
			}
			if tt.status == 404 && tt.ctype == "application/json" {
				var e map[string]string
				if err := json.Unmarshal(resp.Body(), &e); err != nil || e["error"] == "" {
					t.Errorf("404 body %q is not {\"error\": ...}: %v", resp.Body(), err)
				}
			}
		})
	}
}

func TestRootRedirectsToLive(t *testing.T) {
	r := newRouter()
	for _, m := range []string{"GET", "HEAD"} {
		resp := do(t, r, m, "/", nil)
		if resp.StatusCode() != fasthttp.StatusFound {
			t.Fatalf("%s /: status = %d, want 302", m, resp.StatusCode())
		}
		// Relative, so it stays right behind a proxy that changes scheme or host.
		if loc := string(resp.Header.Peek("Location")); loc != "/live" {
			t.Errorf("%s /: Location = %q, want /live", m, loc)
		}
	}
}

func TestConditionalGet(t *testing.T) {
	r := newRouter()
	for _, uri := range []string{"/live", "/static/live.js"} {
		first := do(t, r, "GET", uri, nil)
		etag := string(first.Header.Peek("ETag"))
		if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
			t.Fatalf("%s: ETag = %q, want a quoted hash", uri, etag)
		}
		if cc := string(first.Header.Peek("Cache-Control")); cc != "no-cache" {
			t.Errorf("%s: Cache-Control = %q, want no-cache", uri, cc)
		}
		tests := []struct {
			ifNoneMatch string
			status      int
		}{
			{etag, fasthttp.StatusNotModified},
			{"W/" + etag, fasthttp.StatusNotModified},
			{`"other", ` + etag, fasthttp.StatusNotModified},
			{"*", fasthttp.StatusNotModified},
			{`"other"`, fasthttp.StatusOK},
			{strings.TrimSuffix(etag, `"`) + `0"`, fasthttp.StatusOK},
		}
		for _, tt := range tests {
			resp := do(t, r, "GET", uri, map[string]string{"If-None-Match": tt.ifNoneMatch})
			if resp.StatusCode() != tt.status {
				t.Errorf("%s with If-None-Match %s: status = %d, want %d", uri, tt.ifNoneMatch, resp.StatusCode(), tt.status)
			}
			if tt.status == fasthttp.StatusNotModified && len(resp.Body()) != 0 {
				t.Errorf("%s: 304 with a body of %d bytes", uri, len(resp.Body()))
			}
			if got := string(resp.Header.Peek("ETag")); got != etag {
				t.Errorf("%s: ETag changed between requests: %q then %q", uri, etag, got)
			}
		}
	}
	if a, b := string(do(t, r, "GET", "/live", nil).Header.Peek("ETag")),
		string(do(t, r, "GET", "/alerts", nil).Header.Peek("ETag")); a == b {
		t.Errorf("/live and /alerts share the ETag %s", a)
	}
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	r := newRouter()
	for route := range pageRoutes {
		resp := do(t, r, "GET", route, nil)
		c := string(resp.Header.Peek("Content-Security-Policy"))
		for _, want := range []string{"script-src 'self'", "default-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(c, want) {
				t.Errorf("%s: CSP %q lacks %q", route, c, want)
			}
		}
		if got := string(resp.Header.Peek("X-Content-Type-Options")); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", route, got)
		}
	}
}

// The pages must work under their own CSP and offline: no inline script or
// handler, no inline style attribute, nothing loaded from another origin,
// and every /static/ file they name must exist.
func TestPagesAreSelfContained(t *testing.T) {
	inlineHandler := regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	inlineScript := regexp.MustCompile(`(?is)<script(?:\s[^>]*)?>\s*[^<\s]`)
	styleAttr := regexp.MustCompile(`(?i)\sstyle\s*=`)
	remote := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"(?:https?:)?//`)
	ref := regexp.MustCompile(`(?:src|href)="/static/([^"]+)"`)
	nav := regexp.MustCompile(`<a id="nav-(live|plugins|alerts)" href="/(live|plugins|alerts)"( aria-current="page")?>`)

	for route, file := range pageRoutes {
		b, err := fs.ReadFile(files, "pages/"+file)
		if err != nil {
			t.Fatal(err)
		}
		html := string(b)
		for name, re := range map[string]*regexp.Regexp{
			"inline event handler": inlineHandler,
			"inline script":        inlineScript,
			"style attribute":      styleAttr,
			"remote resource":      remote,
		} {
			if m := re.FindString(html); m != "" {
				t.Errorf("%s has an %s: %q", file, name, m)
			}
		}
		for _, m := range ref.FindAllStringSubmatch(html, -1) {
			if _, err := fs.Stat(files, "static/"+m[1]); err != nil {
				t.Errorf("%s references /static/%s, which is not embedded", file, m[1])
			}
		}
		links := nav.FindAllStringSubmatch(html, -1)
		if len(links) != 3 {
			t.Errorf("%s: %d header links, want Live, Plugins and Alerts", file, len(links))
		}
		for _, l := range links {
			if current := l[3] != ""; current != ("/"+l[1] == route) {
				t.Errorf("%s: link to /%s has aria-current=%v", file, l[1], current)
			}
		}
	}
}

// Host names, messages, comments and metric names come from the network:
// the scripts, the vendored ones too (uPlot gets the metric names as
// series labels), must never hand them to an HTML parser.
func TestScriptsDoNotParseMarkup(t *testing.T) {
	sink := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	n := 0
	err := fs.WalkDir(files, "static", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(name, ".js") {
			return err
		}
		n++
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		if m := sink.FindString(string(b)); m != "" {
			t.Errorf("%s uses %q", name, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("found %d scripts, want common, live, plugins, alerts and uPlot", n)
	}
}

func TestRegisterTwiceOnOneRouterPanics(t *testing.T) {
	r := router.New()
	Register(r)
	defer func() {
		if recover() == nil {
			t.Error("a second Register on the same router did not panic; routes would be silently shadowed")
		}
	}()
	Register(r)
}

func BenchmarkStatic(b *testing.B) {
	r := newRouter()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/static/live.js")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		r.Handler(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}
