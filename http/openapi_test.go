package http_test

import (
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/http/ws"
)

// pendingRoutes are routes docs/openapi.yaml describes before the daemon
// serves them (none now).
var pendingRoutes = map[string]bool{}

// Every route the server registers, with pprof and the WebSocket stream
// on, is in docs/openapi.yaml, and everything the document describes is
// registered (but pendingRoutes): a route added without its documentation,
// or documentation of a route that went away, fails here.
func TestEveryRouteIsDocumented(t *testing.T) {
	d := startDaemon(t)
	s := hbdhttp.New(d.sys, hbdhttp.Options{
		Logger:    quiet(),
		Guard:     hbdhttp.NewGuard(hbdhttp.GuardOptions{Pprof: true, Logger: quiet()}),
		WebSocket: ws.New(d.sys.Broadcaster, ws.Options{Logger: quiet()}),
	})
	served := map[string]bool{}
	for method, paths := range s.Router().List() {
		for _, p := range paths {
			for _, op := range routeOps(method, p) {
				served[op] = true
			}
		}
	}
	if len(served) < 10 {
		t.Fatalf("the router lists only %v", served)
	}

	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for p, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+normalize(p)] = true
		}
	}
	for _, op := range slices.Sorted(maps.Keys(served)) {
		if !documented[op] {
			t.Errorf("%s is served but not in docs/openapi.yaml", op)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(documented)) {
		switch {
		case served[op]:
		case pendingRoutes[op]:
			t.Logf("%s is documented and not served yet (pendingRoutes)", op)
		default:
			t.Errorf("%s is in docs/openapi.yaml but not served", op)
		}
	}
}

// loadOpenAPI loads and validates docs/openapi.yaml.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// normalize writes every path parameter as {}: the router's names and the
// document's need not agree for the route to be the same.
func normalize(p string) string { return pathParam.ReplaceAllString(p, "{}") }

// routeOps turns a route of the router into the operations the document
// lists for it: "GET /api/0/hosts/{}". A catch-all ("/debug/pprof/{profile:*}")
// also matches its prefix, which the document lists as a path of its own.
func routeOps(method, p string) []string {
	ops := []string{method + " " + normalize(p)}
	if i := strings.Index(p, ":*}"); i >= 0 {
		ops = append(ops, method+" "+p[:strings.LastIndex(p[:i], "{")])
	}
	return ops
}
