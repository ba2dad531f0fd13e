package bench

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestHTTPLoad(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	notFound := 0
	hostRE := regexp.MustCompile(`^/api/0/hosts/(bench-0000(0[5-9]|1[0-4]))/plugins(/cpu_monitor\?limit=10)?$`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.RequestURI()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case p == "/api/0/hosts?limit=100", p == "/api/0/alerts":
			paths[p]++
		case hostRE.MatchString(p):
			if strings.Contains(p, "cpu_monitor") {
				paths["plugin"]++
			} else {
				paths["plugins"]++
			}
			if strings.HasSuffix(p, "bench-000005/plugins") {
				// Some answers are errors; they are counted per code.
				notFound++
				http.NotFound(w, r)
				return
			}
		default:
			t.Errorf("unexpected request %s", p)
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()

	// Hosts 5..14; 40 requests at 4000/s take 10 ms. On a busy machine the
	// harness may wake late and find all 40 due at once: 10 workers queue
	// 4 × 10, so none is skipped whatever the timing.
	l, err := NewHTTPLoad(HTTPLoadConfig{Base: srv.URL, RPS: 4000, Hosts: 10, FirstHost: 5, Workers: 10, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	l.Run(t.Context())

	want := map[string]int{"plugin": 10, "plugins": 10, "/api/0/hosts?limit=100": 10, "/api/0/alerts": 10}
	for k, n := range want {
		if paths[k] != n {
			t.Errorf("%s: %d requests, want %d (all: %v)", k, paths[k], n, paths)
		}
	}
	lat := l.Latencies()
	codes := l.Codes()
	for _, r := range APIRoutes() {
		if q, ok := lat[r.Key]; !ok || q.N != 10 {
			t.Errorf("%s: latencies %+v, want 10 values", r.Key, q)
		}
		total := 0
		for _, n := range codes[r.Key] {
			total += n
		}
		if total != 10 || codes[r.Key]["error"] != 0 {
			t.Errorf("%s: codes %v, want 10 answers", r.Key, codes[r.Key])
		}
	}
	if c := codes["/api/0/hosts/{hostname}/plugins"]; c["404"] != notFound || c["200"] != 10-notFound {
		t.Errorf("plugins route codes %v, want %d × 404 and the rest 200", c, notFound)
	}
	if l.Skipped() != 0 {
		t.Errorf("%d requests skipped with idle workers", l.Skipped())
	}
}

func TestHTTPLoadConfigErrors(t *testing.T) {
	for _, c := range []HTTPLoadConfig{
		{Base: "127.0.0.1:50004", RPS: 1, Hosts: 1},
		{Base: "http://127.0.0.1:50004", RPS: 0, Hosts: 1},
		{Base: "http://127.0.0.1:50004", RPS: 1, Hosts: 0},
	} {
		if _, err := NewHTTPLoad(c); err == nil {
			t.Errorf("NewHTTPLoad(%+v) accepted", c)
		}
	}
}

// Given every member of a cluster, the load sends each member a whole
// round of the routes in turn, so each member answers every route.
func TestHTTPLoadSpreadsOverMembers(t *testing.T) {
	var mu sync.Mutex
	got := map[int]map[string]int{} // member -> route path prefix -> requests
	var srvs []string
	for i := range 2 {
		got[i] = map[string]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[i][r.URL.Path]++
			mu.Unlock()
			_, _ = w.Write([]byte(`{}`))
		}))
		defer srv.Close()
		srvs = append(srvs, srv.URL)
	}
	n := 4 * len(APIRoutes())
	l, err := NewHTTPLoad(HTTPLoadConfig{Base: strings.Join(srvs, ","), RPS: 4000, Hosts: 1, Workers: 4, Requests: n})
	if err != nil {
		t.Fatal(err)
	}
	l.Run(t.Context())
	for i := range 2 {
		total := 0
		for _, c := range got[i] {
			total += c
		}
		if total != n/2 || got[i]["/api/0/alerts"] != 2 || got[i]["/api/0/hosts"] != 2 {
			t.Errorf("member %d answered %v (%d requests), want %d: two of each route", i, got[i], total, n/2)
		}
	}
}
