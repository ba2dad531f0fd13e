package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Names of the daemon metrics the harness reads.
const (
	metricReceived   = "hbd_datagrams_received_total"
	metricAccepted   = "hbd_datagrams_accepted_total"
	metricDropped    = "hbd_datagrams_dropped_total"
	metricHosts      = "hbd_hosts"
	metricHeld       = "hbd_samples_held"
	metricSamples    = "hbd_samples_received_total"
	metricWSClients  = "hbd_ws_clients"
	metricWSFrames   = "hbd_ws_frames_sent_total"
	metricWSCutOff   = "hbd_ws_cut_off_total"
	metricWSPending  = "hbd_ws_hub_pending_frames"
	metricWSConfl    = "hbd_ws_frames_conflated_total"
	metricWSDropped  = "hbd_ws_frames_dropped_total"
	metricKernDrops  = "hbd_udp_kernel_drops_total"
	metricPaused     = "hbd_ingest_paused_seconds_total"
	metricHTTP       = "hbd_http_requests_total"
	metricCPU        = "process_cpu_seconds_total"
	metricRSS        = "process_resident_memory_bytes"
	metricGoroutines = "go_goroutines"
	metricHeap       = "go_memstats_heap_alloc_bytes"
	metricStateDisk  = "hbd_state_disk_bytes"
	metricCkptSecs   = "hbd_state_checkpoint_seconds_total"
	metricCkptWork   = "hbd_state_checkpoint_work_seconds_total"
	metricCkptBytes  = "hbd_state_written_bytes_total"
	metricCkptFiles  = "hbd_state_checkpoints_total"
	metricHTTPTime   = "hbd_http_request_duration_seconds"
)

// Metrics is one scrape of the daemon's /metrics, reduced to what the
// harness computes with. Labelled families are summed (Accepted is the sum
// over kinds) and also kept per label value.
type Metrics struct {
	Received        float64
	Accepted        float64            // sum over kinds
	AcceptedByKind  map[string]float64 // kind -> datagrams
	Dropped         float64            // sum over reasons
	DroppedByReason map[string]float64
	Hosts           float64            // sum over states
	HostsByState    map[string]float64 // state -> hosts
	SamplesHeld     float64
	SamplesReceived float64
	WSClients       float64
	WSFramesSent    float64
	WSCutOff        float64
	// The stream's hub: frames waiting for their turn (a gauge), frames
	// replaced by newer ones of their host and plugin while waiting, and
	// frames dropped at the hub's bounds.
	WSPending   float64
	WSConflated float64
	WSDropped   float64
	// Ingest under overload: datagrams the kernel dropped on the daemon's
	// full sockets, and the time its readers paused at the backlog bound.
	KernelDrops  float64
	PausedSecs   float64
	HTTPRequests map[string]float64 // route -> requests, all codes
	CPUSeconds   float64            // process user+system CPU, seconds
	RSSBytes     float64
	HeapBytes    float64 // Go heap allocated: live objects plus garbage not yet collected
	Goroutines   float64
	// Durable state: the files a restart reads, and what checkpoints
	// have cost so far.
	StateDiskBytes   float64
	CheckpointSecs   float64
	CheckpointWork   float64
	CheckpointBytes  float64
	Checkpoints      float64
	CheckpointByKind map[string]float64

	// HTTPLatency is the daemon's own request-latency histogram per
	// route: what the API took inside the daemon, to set beside what the
	// harness measured (which includes the harness's own scheduling on a
	// shared machine).
	HTTPLatency map[string]Buckets

	// Has records which of the families above were present, so a report
	// can say "not measured" (null) rather than 0 for a counter the daemon
	// does not export.
	Has map[string]bool
}

// ParseMetrics reads a Prometheus text exposition.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Metrics{}, fmt.Errorf("cannot parse metrics: %w", err)
	}
	m := Metrics{Has: map[string]bool{}}
	// sum adds every series of family name into *total and, when byLabel
	// is set, into (*by)[value of label byLabel].
	sum := func(name string, total *float64, byLabel string, by *map[string]float64) {
		f := fams[name]
		if f == nil {
			return
		}
		m.Has[name] = true
		if byLabel != "" {
			*by = map[string]float64{}
		}
		for _, s := range f.GetMetric() {
			v := value(s)
			*total += v
			if byLabel != "" {
				(*by)[label(s, byLabel)] += v
			}
		}
	}
	var httpTotal float64
	sum(metricReceived, &m.Received, "", nil)
	sum(metricAccepted, &m.Accepted, "kind", &m.AcceptedByKind)
	sum(metricDropped, &m.Dropped, "reason", &m.DroppedByReason)
	sum(metricHosts, &m.Hosts, "state", &m.HostsByState)
	sum(metricHeld, &m.SamplesHeld, "", nil)
	sum(metricSamples, &m.SamplesReceived, "", nil)
	sum(metricWSClients, &m.WSClients, "", nil)
	sum(metricWSFrames, &m.WSFramesSent, "", nil)
	sum(metricWSCutOff, &m.WSCutOff, "", nil)
	sum(metricWSPending, &m.WSPending, "", nil)
	sum(metricWSConfl, &m.WSConflated, "", nil)
	sum(metricWSDropped, &m.WSDropped, "", nil)
	sum(metricKernDrops, &m.KernelDrops, "", nil)
	sum(metricPaused, &m.PausedSecs, "", nil)
	sum(metricHTTP, &httpTotal, "route", &m.HTTPRequests)
	sum(metricCPU, &m.CPUSeconds, "", nil)
	sum(metricRSS, &m.RSSBytes, "", nil)
	sum(metricGoroutines, &m.Goroutines, "", nil)
	sum(metricHeap, &m.HeapBytes, "", nil)
	sum(metricStateDisk, &m.StateDiskBytes, "", nil)
	sum(metricCkptSecs, &m.CheckpointSecs, "", nil)
	sum(metricCkptWork, &m.CheckpointWork, "", nil)
	sum(metricCkptBytes, &m.CheckpointBytes, "", nil)
	sum(metricCkptFiles, &m.Checkpoints, "kind", &m.CheckpointByKind)
	if f := fams[metricHTTPTime]; f != nil {
		m.Has[metricHTTPTime] = true
		m.HTTPLatency = map[string]Buckets{}
		for _, s := range f.GetMetric() {
			h := s.GetHistogram()
			if h == nil {
				continue
			}
			var b Buckets
			for _, bk := range h.GetBucket() {
				if math.IsInf(bk.GetUpperBound(), 1) {
					continue // the total is Count
				}
				b.Upper = append(b.Upper, bk.GetUpperBound())
				b.Cum = append(b.Cum, float64(bk.GetCumulativeCount()))
			}
			b.Count = float64(h.GetSampleCount())
			m.HTTPLatency[label(s, "route")] = b
		}
	}
	return m, nil
}

// Buckets is one series of a Prometheus histogram: cumulative counts at
// each upper bound (seconds), without the +Inf bucket, and the total.
type Buckets struct {
	Upper []float64
	Cum   []float64
	Count float64
}

// Since returns the observations made between old and b (same layout).
func (b Buckets) Since(old Buckets) Buckets {
	d := Buckets{Upper: b.Upper, Cum: make([]float64, len(b.Cum)), Count: b.Count - old.Count}
	for i := range b.Cum {
		d.Cum[i] = b.Cum[i]
		if i < len(old.Cum) {
			d.Cum[i] -= old.Cum[i]
		}
	}
	return d
}

// Quantile estimates the q-quantile in seconds as Prometheus'
// histogram_quantile does: linear within the bucket that holds it (from 0
// for the first); a quantile beyond the last bound is that bound, so read
// it as "at least". NaN when there are no observations.
func (b Buckets) Quantile(q float64) float64 {
	if b.Count <= 0 || len(b.Upper) == 0 {
		return math.NaN()
	}
	rank := q * b.Count
	lo, below := 0.0, 0.0
	for i, up := range b.Upper {
		if b.Cum[i] >= rank {
			n := b.Cum[i] - below
			if n <= 0 {
				return up
			}
			return lo + (up-lo)*(rank-below)/n
		}
		lo, below = up, b.Cum[i]
	}
	return b.Upper[len(b.Upper)-1]
}

// Summary is the bucket's p50, p99 and p99.9 in milliseconds, or nil
// without observations.
func (b Buckets) Summary() *Quantiles {
	if b.Count <= 0 || len(b.Upper) == 0 {
		return nil
	}
	return &Quantiles{P50: b.Quantile(0.5) * 1e3, P99: b.Quantile(0.99) * 1e3, P999: b.Quantile(0.999) * 1e3, N: uint64(b.Count)}
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Untyped != nil:
		return s.Untyped.GetValue()
	}
	return 0
}

func label(s *dto.Metric, name string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Merge adds o, a scrape of another member of the same cluster, into m:
// the members' counters, gauges and histograms add up to the cluster's
// (each datagram is counted as accepted once, by the member that applied
// it; CPU and RSS are each member's own), except the hosts by state,
// which every member reports for the whole cluster (its merged fleet
// index): those take the larger of the two views, the one that has seen
// the most hosts.
func (m *Metrics) Merge(o Metrics) {
	hosts, byState := m.Hosts, m.HostsByState
	if o.Hosts > hosts {
		hosts, byState = o.Hosts, o.HostsByState
	}
	for _, f := range []struct{ dst, src *float64 }{
		{&m.Received, &o.Received}, {&m.Accepted, &o.Accepted}, {&m.Dropped, &o.Dropped},
		{&m.SamplesHeld, &o.SamplesHeld}, {&m.SamplesReceived, &o.SamplesReceived},
		{&m.WSClients, &o.WSClients}, {&m.WSFramesSent, &o.WSFramesSent}, {&m.WSCutOff, &o.WSCutOff},
		{&m.WSPending, &o.WSPending}, {&m.WSConflated, &o.WSConflated}, {&m.WSDropped, &o.WSDropped},
		{&m.KernelDrops, &o.KernelDrops}, {&m.PausedSecs, &o.PausedSecs},
		{&m.CPUSeconds, &o.CPUSeconds}, {&m.RSSBytes, &o.RSSBytes}, {&m.HeapBytes, &o.HeapBytes},
		{&m.Goroutines, &o.Goroutines}, {&m.StateDiskBytes, &o.StateDiskBytes},
		{&m.CheckpointSecs, &o.CheckpointSecs}, {&m.CheckpointWork, &o.CheckpointWork},
		{&m.CheckpointBytes, &o.CheckpointBytes}, {&m.Checkpoints, &o.Checkpoints},
	} {
		*f.dst += *f.src
	}
	m.Hosts, m.HostsByState = hosts, byState
	m.AcceptedByKind = addMaps(m.AcceptedByKind, o.AcceptedByKind)
	m.DroppedByReason = addMaps(m.DroppedByReason, o.DroppedByReason)
	m.HTTPRequests = addMaps(m.HTTPRequests, o.HTTPRequests)
	m.CheckpointByKind = addMaps(m.CheckpointByKind, o.CheckpointByKind)
	for route, b := range o.HTTPLatency {
		if m.HTTPLatency == nil {
			m.HTTPLatency = map[string]Buckets{}
		}
		m.HTTPLatency[route] = m.HTTPLatency[route].add(b)
	}
	for k, v := range o.Has {
		if m.Has == nil {
			m.Has = map[string]bool{}
		}
		m.Has[k] = m.Has[k] || v
	}
}

// addMaps returns a + b by key, in a new map (nil when both are).
func addMaps(a, b map[string]float64) map[string]float64 {
	if a == nil && b == nil {
		return nil
	}
	out := make(map[string]float64, max(len(a), len(b)))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// add returns the observations of b and o together; members export the
// same bounds, and a series with other bounds (a different version) is
// not added but replaces an empty one.
func (b Buckets) add(o Buckets) Buckets {
	if len(b.Upper) == 0 {
		return Buckets{Upper: o.Upper, Cum: slices.Clone(o.Cum), Count: o.Count}
	}
	if !slices.Equal(b.Upper, o.Upper) {
		return b
	}
	sum := Buckets{Upper: b.Upper, Cum: slices.Clone(b.Cum), Count: b.Count + o.Count}
	for i := range sum.Cum {
		sum.Cum[i] += o.Cum[i]
	}
	return sum
}

// Scraper fetches and parses the daemon's /metrics, or every member's of a
// cluster and merges them (Metrics.Merge). It is safe for concurrent use. It uses net/http rather than fasthttp because fasthttp's
// client keeps background goroutines that cannot be stopped, and a harness
// that is itself tested for goroutine leaks must be able to shut down.
type Scraper struct {
	urls   []string
	client *http.Client
}

// NewScraper returns a scraper for the daemon whose HTTP base URL is base
// (e.g. http://127.0.0.1:50004), or for the members of a cluster when base
// lists each member's, separated by commas.
func NewScraper(base string) (*Scraper, error) {
	var urls []string
	for _, b := range SplitBases(base) {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("invalid HTTP base URL %q: want http://host:port", b)
		}
		urls = append(urls, strings.TrimSuffix(b, "/")+"/metrics")
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("invalid HTTP base URL %q: want http://host:port", base)
	}
	return &Scraper{
		urls: urls,
		// One connection per scrape: at one scrape a second that costs
		// nothing, and no idle keep-alive connection (with its reader
		// goroutine parked in a socket read) outlives a scrape.
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}, nil
}

// SplitBases splits a comma-separated list of HTTP base URLs (one per
// member of a cluster), dropping empty entries.
func SplitBases(list string) []string {
	var out []string
	for b := range strings.SplitSeq(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Scrape fetches and parses /metrics once, of every member when there are
// several, and merges them. A member that cannot be scraped fails the
// scrape: a sum without it would under-count.
func (s *Scraper) Scrape(ctx context.Context) (Metrics, error) {
	var all Metrics
	for i, u := range s.urls {
		m, err := s.scrape(ctx, u)
		if err != nil {
			return Metrics{}, err
		}
		if i == 0 {
			all = m
		} else {
			all.Merge(m)
		}
	}
	return all, nil
}

func (s *Scraper) scrape(ctx context.Context, target string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return Metrics{}, fmt.Errorf("cannot scrape %s: %w", target, err)
	}
	// Plain text: the parser reads the classic text format, and the
	// daemon would otherwise be free to pick a protobuf or OpenMetrics
	// flavour.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return Metrics{}, fmt.Errorf("cannot scrape %s: %w", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return Metrics{}, fmt.Errorf("cannot scrape %s: status %d", target, resp.StatusCode)
	}
	m, err := ParseMetrics(resp.Body)
	if err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", target, err)
	}
	return m, nil
}

// Close releases the scraper's idle connection.
func (s *Scraper) Close() { s.client.CloseIdleConnections() }
