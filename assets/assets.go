// Package assets holds hbd's web pages (/live, /plugins, /alerts) and the
// CSS and JavaScript they load, embedded in the binary with go:embed, and
// mounts them on the daemon's router.
//
// The pages are plain HTML, CSS and JavaScript with no build step: they
// fetch the JSON API and the /hbd WebSocket of the same origin. The one
// piece of third-party code, uPlot (the charts of /plugins), is a copy of
// the npm package pinned in web/package-lock.json, put under
// static/vendor/ by `make js-vendor` and checked byte for byte by
// TestVendoredFiles and `make js-vendor-check`; nothing runs npm at build
// or run time. Everything is read once, at Register, into immutable
// in-memory responses, so the handlers allocate nothing per request beyond
// what fasthttp does and are safe for concurrent use.
//
// Caching: every response carries a strong ETag (a hash of its bytes) and
// "Cache-Control: no-cache", so browsers revalidate on each load and get a
// 304 until the binary is upgraded. The URLs carry no version, so a longer
// max-age would serve stale scripts after an upgrade.
//
// Pages are sent with a Content-Security-Policy that allows only this
// origin's scripts and styles and no inline script: the pages insert every
// host name and message with textContent, and the policy is the second
// line of defence should one of them ever be treated as markup.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// files holds the pages under pages/ and the files they load under static/,
// third-party ones under static/vendor/{package}/.
//
//go:embed pages/*.html static/*
var files embed.FS

// pageRoutes maps each page's URL path to its file under pages/.
var pageRoutes = map[string]string{
	"/live":    "live.html",
	"/plugins": "plugins.html",
	"/alerts":  "alerts.html",
}

// contentTypes is a fixed table rather than mime.TypeByExtension, whose
// answer depends on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	"":      "text/plain; charset=utf-8", // a vendored package's LICENSE
}

// csp lets pages load only this origin's files. connect-src names ws: and
// wss: as well as 'self' because older browsers do not count a WebSocket to
// the same host as 'self'.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one finished response.
type asset struct {
	body  []byte
	ctype string
	etag  string // quoted, as sent in the ETag header
	page  bool   // an HTML page: gets the security headers
}

// Register mounts the pages and their static files on r:
//
//	GET /               302 to /live
//	GET /live, /plugins, /alerts
//	GET /static/{file}  CSS, JavaScript and images; 404 {"error": ...} for an unknown file
//	GET /static/vendor/{package}/{file}  third-party code, the same way
//
// HEAD is answered on the same paths. Register panics if the embedded files
// are unreadable, which can only be a build defect, or if a route is
// already taken.
func Register(r *router.Router) {
	// static is keyed by the path below static/: "hbd.css",
	// "vendor/uplot/uPlot.min.css".
	static := make(map[string]*asset)
	err := fs.WalkDir(files, "static", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		static[strings.TrimPrefix(name, "static/")] = mustLoad(name, false)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("assets: cannot list embedded static files: %v", err))
	}

	// A relative Location: ctx.Redirect would make it absolute from the
	// request's scheme and Host, which is wrong behind a TLS proxy.
	redirect := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "/live")
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.SetStatusCode(fasthttp.StatusFound)
	}
	r.GET("/", redirect)
	r.HEAD("/", redirect)

	for route, file := range pageRoutes {
		a := mustLoad("pages/"+file, true)
		h := func(ctx *fasthttp.RequestCtx) { serve(ctx, a) }
		r.GET(route, h)
		r.HEAD(route, h)
	}

	staticHandler := func(ctx *fasthttp.RequestCtx) {
		name, _ := ctx.UserValue("file").(string)
		a, ok := static[name]
		if !ok {
			notFound(ctx, name)
			return
		}
		serve(ctx, a)
	}
	r.GET("/static/{file}", staticHandler)
	r.HEAD("/static/{file}", staticHandler)

	// Only this one nesting is routed, so a file name never holds a slash.
	vendorHandler := func(ctx *fasthttp.RequestCtx) {
		pkg, _ := ctx.UserValue("pkg").(string)
		name, _ := ctx.UserValue("file").(string)
		a, ok := static["vendor/"+pkg+"/"+name]
		if !ok {
			notFound(ctx, "vendor/"+pkg+"/"+name)
			return
		}
		serve(ctx, a)
	}
	r.GET("/static/vendor/{pkg}/{file}", vendorHandler)
	r.HEAD("/static/vendor/{pkg}/{file}", vendorHandler)
}

// IsPublic reports whether path is one of the pages or their static files
// (or /, which redirects to a page). They hold no data, so they are served
// without credentials: a page must load to ask for a token.
func IsPublic(path string) bool {
	if _, ok := pageRoutes[path]; ok {
		return true
	}
	return path == "/" || strings.HasPrefix(path, "/static/")
}

func mustLoad(name string, page bool) *asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("assets: cannot read embedded %s: %v", name, err))
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	sum := sha256.Sum256(b)
	return &asset{
		body:  b,
		ctype: ct,
		etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
		page:  page,
	}
}

func serve(ctx *fasthttp.RequestCtx, a *asset) {
	h := &ctx.Response.Header
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.page {
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
	}
	if etagMatches(string(ctx.Request.Header.Peek("If-None-Match")), a.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	h.SetContentType(a.ctype)
	// The body is shared by every request and never written to:
	// SetBodyRaw sends it without a copy.
	ctx.Response.SetBodyRaw(a.body)
}

// etagMatches reports whether an If-None-Match header names etag. It
// accepts a list, "*" and weak validators, which If-None-Match compares
// weakly (RFC 9110, section 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func notFound(ctx *fasthttp.RequestCtx, name string) {
	body, err := json.Marshal(map[string]string{"error": fmt.Sprintf("no such static file: %s", name)})
	if err != nil {
		// A map of strings always marshals; keep a valid answer anyway.
		body = []byte(`{"error":"no such static file"}`)
	}
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(body)
}
