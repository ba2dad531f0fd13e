package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// APIRoute is one of the HTTP routes the load spreads over. Key is the
// route pattern, the same label the daemon's hbd_http_requests_total uses.
type APIRoute struct {
	Key  string
	path func(host string) string
}

// APIRoutes returns the routes of the HTTP load, in the order requests
// cycle through them: one host's cpu_monitor history, one host's plugins,
// the first 100 hosts, and the fleet's alerts.
func APIRoutes() []APIRoute {
	return []APIRoute{
		{"/api/0/hosts/{hostname}/plugins/{plugin_name}", func(h string) string { return "/api/0/hosts/" + h + "/plugins/cpu_monitor?limit=10" }},
		{"/api/0/hosts/{hostname}/plugins", func(h string) string { return "/api/0/hosts/" + h + "/plugins" }},
		{"/api/0/hosts", func(string) string { return "/api/0/hosts?limit=100" }},
		{"/api/0/alerts", func(string) string { return "/api/0/alerts" }},
	}
}

// HTTPLoadConfig configures an HTTPLoad.
type HTTPLoadConfig struct {
	// Base is the daemon's HTTP base URL; for a cluster, every member's,
	// separated by commas: requests go to each in turn.
	Base      string
	RPS       float64 // requests per second over all routes
	Hosts     int     // host names are picked from the bench hosts
	FirstHost int     // 0 means 1
	Workers   int     // concurrent requests at most; 0 means 64
	Requests  int     // stop after this many; 0 = until ctx is done
	Seed      uint64
}

// HTTPLoad is an open-loop HTTP load: request i is due at start + i/RPS
// whether or not earlier ones have been answered, and its latency is
// measured from that due time, so a slow server shows up as latency
// rather than as a lower request rate (no coordinated omission). A request
// that finds every worker busy and the queue full is skipped and counted.
type HTTPLoad struct {
	cfg     HTTPLoadConfig
	routes  []APIRoute
	client  *http.Client
	bases   []string // scheme://host:port of each member
	hists   []Histogram
	skipped atomic.Uint64

	mu    sync.Mutex
	codes []map[int]int // per route: status -> responses (0 = transport error)
}

// NewHTTPLoad checks cfg and prepares the client.
func NewHTTPLoad(cfg HTTPLoadConfig) (*HTTPLoad, error) {
	var bases []string
	for _, b := range SplitBases(cfg.Base) {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("invalid HTTP base URL %q: want http://host:port", b)
		}
		bases = append(bases, u.Scheme+"://"+u.Host)
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("invalid HTTP base URL %q: want http://host:port", cfg.Base)
	}
	if cfg.RPS <= 0 || cfg.Hosts < 1 {
		return nil, fmt.Errorf("HTTP load needs a positive rate and hosts (rate %g, hosts %d)", cfg.RPS, cfg.Hosts)
	}
	if cfg.FirstHost == 0 {
		cfg.FirstHost = 1
	}
	if cfg.Workers == 0 {
		cfg.Workers = 64
	}
	l := &HTTPLoad{
		cfg:    cfg,
		routes: APIRoutes(),
		bases:  bases,
		// net/http rather than fasthttp: fasthttp's client keeps
		// background goroutines that cannot be stopped.
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers},
		},
	}
	l.hists = make([]Histogram, len(l.routes))
	l.codes = make([]map[int]int, len(l.routes))
	for i := range l.codes {
		l.codes[i] = map[int]int{}
	}
	return l, nil
}

type httpJob struct {
	route int
	base  int // index into bases
	host  string
	due   time.Time
}

// Run issues requests until ctx is done or cfg.Requests are issued, then
// waits for the answers in flight.
func (l *HTTPLoad) Run(ctx context.Context) {
	jobs := make(chan httpJob, l.cfg.Workers*4)
	var wg sync.WaitGroup
	for range l.cfg.Workers {
		wg.Go(func() { l.worker(jobs) })
	}
	defer func() {
		close(jobs)
		wg.Wait()
		l.client.CloseIdleConnections()
	}()
	rng := rand.New(rand.NewPCG(l.cfg.Seed, 0x417))
	start := time.Now()
	interval := time.Duration(float64(time.Second) / l.cfg.RPS)
	// The timer is set to each request's own due time: waking on a coarser
	// tick would add up to a tick of the harness's own making to every
	// latency, since latency counts from the due time.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for issued := 0; l.cfg.Requests == 0 || issued < l.cfg.Requests; {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		for ; l.cfg.Requests == 0 || issued < l.cfg.Requests; issued++ {
			due := start.Add(time.Duration(issued) * interval)
			if due.After(now) {
				timer.Reset(due.Sub(now))
				break
			}
			j := httpJob{
				route: issued % len(l.routes),
				// Each member in turn gets a whole round of the routes.
				base: issued / len(l.routes) % len(l.bases),
				host: HostName(l.cfg.FirstHost + rng.IntN(l.cfg.Hosts)),
				due:  due,
			}
			select {
			case jobs <- j:
			default:
				l.skipped.Add(1)
			}
		}
	}
}

func (l *HTTPLoad) worker(jobs <-chan httpJob) {
	for j := range jobs {
		code := 0
		resp, err := l.client.Get(l.bases[j.base] + l.routes[j.route].path(j.host))
		if err == nil {
			// Read the whole body: the latency is that of the full answer,
			// and a drained body lets the connection be reused.
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil {
				code = resp.StatusCode
			}
		}
		l.hists[j.route].Record(time.Since(j.due))
		l.mu.Lock()
		l.codes[j.route][code]++
		l.mu.Unlock()
	}
}

// Latencies returns the quantiles per route key; routes without answers
// are left out.
func (l *HTTPLoad) Latencies() map[string]Quantiles {
	out := map[string]Quantiles{}
	for i, r := range l.routes {
		if q := l.hists[i].Summary(); q != nil {
			out[r.Key] = *q
		}
	}
	return out
}

// Codes returns, per route key, the number of responses per status code;
// "error" counts requests that got no response.
func (l *HTTPLoad) Codes() map[string]map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]int{}
	for i, r := range l.routes {
		m := map[string]int{}
		for c, n := range l.codes[i] {
			k := strconv.Itoa(c)
			if c == 0 {
				k = "error"
			}
			m[k] = n
		}
		out[r.Key] = m
	}
	return out
}

// Skipped returns the requests not issued because all workers were busy
// and the queue was full.
func (l *HTTPLoad) Skipped() uint64 { return l.skipped.Load() }
