package bench

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	f, err := os.Open("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseMetrics(f)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"received", m.Received, 28051},
		{"accepted (sum over kinds)", m.Accepted, 1000 + 9992 + 16031 + 1000},
		{"dropped (sum over reasons)", m.Dropped, 28},
		{"hosts (sum over states)", m.Hosts, 1000},
		{"samples held", m.SamplesHeld, 16031},
		{"samples received", m.SamplesReceived, 16031},
		{"ws clients", m.WSClients, 20},
		{"ws frames", m.WSFramesSent, 320620},
		{"ws cut off", m.WSCutOff, 2},
		{"ws hub pending", m.WSPending, 4321},
		{"ws frames conflated", m.WSConflated, 99},
		{"ws frames dropped", m.WSDropped, 7},
		{"kernel drops", m.KernelDrops, 1234},
		{"ingest paused", m.PausedSecs, 2.5},
		{"cpu", m.CPUSeconds, 4.34},
		{"rss", m.RSSBytes, 57966592},
		{"goroutines", m.Goroutines, 41},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if want := map[string]float64{"boot": 1000, "heartbeat": 9992, "sample": 16031, "shutdown": 1000}; !maps.Equal(m.AcceptedByKind, want) {
		t.Errorf("accepted by kind = %v", m.AcceptedByKind)
	}
	if m.DroppedByReason["bad_mac"] != 3 || m.DroppedByReason["replay"] != 25 || len(m.DroppedByReason) != 11 {
		t.Errorf("dropped by reason = %v", m.DroppedByReason)
	}
	if m.HostsByState["UP"] != 992 || m.HostsByState["DOWN"] != 5 {
		t.Errorf("hosts by state = %v", m.HostsByState)
	}
	// Requests are summed over status codes per route.
	if want := map[string]float64{"/api/0/alerts": 2000, "/api/0/hosts": 2000, "/api/0/hosts/{hostname}/plugins": 2000, "/metrics": 47}; !maps.Equal(m.HTTPRequests, want) {
		t.Errorf("http requests = %v", m.HTTPRequests)
	}
	for _, name := range []string{metricAccepted, metricWSCutOff, metricRSS, metricHTTP} {
		if !m.Has[name] {
			t.Errorf("Has[%s] is false", name)
		}
	}
}

func TestParseMetricsMissingFamilies(t *testing.T) {
	// A daemon without the WebSocket broadcaster: its families are
	// absent, which must read as "not measured", not as 0.
	m, err := ParseMetrics(strings.NewReader("# TYPE hbd_datagrams_accepted_total counter\nhbd_datagrams_accepted_total{kind=\"heartbeat\"} 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Accepted != 5 || !m.Has[metricAccepted] || m.Has[metricWSCutOff] || m.Has[metricRSS] {
		t.Fatalf("got %+v", m)
	}
}

func TestParseMetricsInvalid(t *testing.T) {
	for _, text := range []string{
		"hbd_datagrams_received_total{kind=\"x\" 5\n", // unclosed label set
		"hbd_datagrams_received_total five\n",         // not a number
		"# TYPE x counter\n# TYPE x gauge\nx 1\n",     // conflicting types
	} {
		if _, err := ParseMetrics(strings.NewReader(text)); err == nil {
			t.Errorf("no error for %q", text)
		}
	}
}

func TestScraper(t *testing.T) {
	body, err := os.ReadFile("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	s, err := NewScraper(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m.Accepted != 28023 || m.RSSBytes != 57966592 {
		t.Fatalf("scraped %+v", m)
	}
	if !strings.HasPrefix(accept, "text/plain") {
		t.Errorf("Accept %q: the daemon could answer in a format the parser does not read", accept)
	}
	bad, _ := NewScraper(srv.URL + "/nothing-here")
	defer bad.Close()
	if _, err := bad.Scrape(t.Context()); err == nil {
		t.Error("a 404 scrape did not fail")
	}
	for _, u := range []string{"", "127.0.0.1:50004", "ftp://x/"} {
		if _, err := NewScraper(u); err == nil {
			t.Errorf("NewScraper(%q) accepted", u)
		}
	}
}

// The daemon's latency histogram is read per route, the difference of two
// scrapes is what happened between them, and its quantiles are
// interpolated within a bucket as Prometheus' histogram_quantile does.
func TestDaemonLatencyHistogram(t *testing.T) {
	scrape := func(le1, le5, le10, inf int) Metrics {
		t.Helper()
		text := fmt.Sprintf(`# TYPE hbd_http_request_duration_seconds histogram
hbd_http_request_duration_seconds_bucket{route="/api/0/hosts",le="0.001"} %d
hbd_http_request_duration_seconds_bucket{route="/api/0/hosts",le="0.005"} %d
hbd_http_request_duration_seconds_bucket{route="/api/0/hosts",le="0.01"} %d
hbd_http_request_duration_seconds_bucket{route="/api/0/hosts",le="+Inf"} %d
hbd_http_request_duration_seconds_sum{route="/api/0/hosts"} 1
hbd_http_request_duration_seconds_count{route="/api/0/hosts"} %d
`, le1, le5, le10, inf, inf)
		m, err := ParseMetrics(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m0 := scrape(10, 10, 10, 10) // before the run: 10 fast requests
	m1 := scrape(10+50, 10+90, 10+100, 10+100)
	d := m1.HTTPLatency["/api/0/hosts"].Since(m0.HTTPLatency["/api/0/hosts"])
	if d.Count != 100 {
		t.Fatalf("count since the first scrape = %v, want 100", d.Count)
	}
	// p50 is the 50th of 100: the last of the first bucket (1 ms); p99 is
	// in (5 ms, 10 ms], 9 of its 10: 9.5 ms.
	s := d.Summary()
	if s == nil || s.N != 100 || math.Abs(s.P50-1) > 1e-9 || math.Abs(s.P99-9.5) > 1e-9 {
		t.Errorf("summary %+v, want p50 1 ms, p99 9.5 ms, n 100", s)
	}
	// Requests slower than the last bound (+Inf bucket) read as that
	// bound: "at least", and never an infinity the report cannot encode.
	slow := scrape(10+50, 10+90, 10+95, 10+100).HTTPLatency["/api/0/hosts"].Since(m0.HTTPLatency["/api/0/hosts"])
	if s := slow.Summary(); s == nil || s.P999 != 10 || math.IsInf(s.P99, 0) {
		t.Errorf("summary with slow requests %+v, want p99.9 at the last bound, 10 ms", s)
	}
	if (Buckets{}).Summary() != nil {
		t.Error("a histogram without observations has a summary")
	}
}

// A scraper given every member of a cluster sums their counters, gauges
// and latency histograms, keeps the largest view of the hosts by state
// (each member reports the whole cluster's), and fails when one member
// cannot be scraped, rather than under-counting.
func TestScraperMergesMembers(t *testing.T) {
	body, err := os.ReadFile("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	one, err := ParseMetrics(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var hits [3]atomic.Int32
	var srvs []*httptest.Server
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		srvs = append(srvs, srv)
	}
	s, err := NewScraper(srvs[0].URL + ", " + srvs[1].URL + "/," + srvs[2].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range hits {
		if hits[i].Load() != 1 {
			t.Errorf("member %d scraped %d times", i, hits[i].Load())
		}
	}
	if m.Accepted != 3*one.Accepted || m.RSSBytes != 3*one.RSSBytes || m.AcceptedByKind["heartbeat"] != 3*one.AcceptedByKind["heartbeat"] {
		t.Errorf("accepted %g (by kind %v), RSS %g: want three members' sums of %g, %g", m.Accepted, m.AcceptedByKind, m.RSSBytes, one.Accepted, one.RSSBytes)
	}
	if m.Hosts != one.Hosts || m.HostsByState["UP"] != one.HostsByState["UP"] {
		t.Errorf("hosts %g (%v), want one member's view %g", m.Hosts, m.HostsByState, one.Hosts)
	}
	for route, b := range one.HTTPLatency {
		got := m.HTTPLatency[route]
		if got.Count != 3*b.Count || got.Cum[len(got.Cum)-1] != 3*b.Cum[len(b.Cum)-1] {
			t.Errorf("%s: latency count %g, want %g", route, got.Count, 3*b.Count)
		}
		if q, want := got.Quantile(0.5), b.Quantile(0.5); q != want {
			t.Errorf("%s: p50 of three equal members %g, want %g", route, q, want)
		}
	}
	srvs[1].Close()
	if _, err := s.Scrape(t.Context()); err == nil || !strings.Contains(err.Error(), srvs[1].URL) {
		t.Errorf("a member down: scrape error %v, want one naming it", err)
	}
	if _, err := NewScraper(srvs[0].URL + ",ftp://x/"); err == nil {
		t.Error("a bad member URL was accepted")
	}
}
