package http

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Reasons a connection or a request is refused, the values of the reason
// label of hbd_http_refused_total.
const (
	ReasonConnLimit   = "conn_limit"   // every listener together is at [api] max_conns
	ReasonPerIPLimit  = "per_ip_limit" // the client address is at max_conns_per_ip
	ReasonAuth        = "auth"         // no credentials, or wrong ones
	ReasonScope       = "scope"        // valid credentials without the scope the request needs
	ReasonCSRF        = "csrf"         // a write from another site's page, or a rebinding Host
	ReasonRate        = "rate"         // over the client's [api] rate
	ReasonContentType = "content_type" // a write whose body is not application/json
	ReasonPprofBusy   = "pprof_busy"   // another profile is running
)

var refusalReasons = []string{ReasonConnLimit, ReasonPerIPLimit, ReasonAuth, ReasonScope, ReasonCSRF, ReasonRate, ReasonContentType, ReasonPprofBusy}

// logEvery is how often one source's refusals are logged at most.
const logEvery = time.Minute

// maxLogSources bounds the sources whose last log time is remembered;
// beyond it, refusals from new sources share one "other sources" line a
// minute.
const maxLogSources = 4096

// refusals counts refusals by reason and logs them, at most once a minute
// per source, with the number refused since that source's last line: an
// attack shows in the log without the log becoming the attack.
type refusals struct {
	counts map[string]*atomic.Uint64 // fixed at construction, read without a lock
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	sources  map[string]*logState
	lastSwep time.Time
}

type logState struct {
	last       time.Time // when a line was last logged
	suppressed uint64    // refusals since, not logged
}

// otherSources is the shared log key once maxLogSources is reached.
const otherSources = "(other sources)"

func newRefusals(log *slog.Logger, now func() time.Time) *refusals {
	r := &refusals{counts: make(map[string]*atomic.Uint64, len(refusalReasons)), log: log, now: now, sources: map[string]*logState{}}
	for _, reason := range refusalReasons {
		r.counts[reason] = new(atomic.Uint64)
	}
	return r
}

// count returns the refusals so far for reason.
func (r *refusals) count(reason string) uint64 { return r.counts[reason].Load() }

// refuse counts one refusal and logs it unless source was logged within
// the last minute. source is the client address; detail says why.
func (r *refusals) refuse(reason, source, detail string) {
	r.counts[reason].Add(1)
	now := r.now()
	r.mu.Lock()
	st, ok := r.sources[source]
	if !ok {
		if len(r.sources) >= maxLogSources {
			r.sweep(now)
		}
		if len(r.sources) >= maxLogSources {
			source = otherSources
			st = r.sources[source]
		}
		if st == nil {
			st = &logState{}
			r.sources[source] = st
		}
	}
	if !st.last.IsZero() && now.Sub(st.last) < logEvery {
		st.suppressed++
		r.mu.Unlock()
		return
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	r.mu.Unlock()
	r.log.Warn("HTTP connection or request refused", "reason", reason, "source", source, "detail", detail,
		"refused_since_last_line", n, "next_line_in", logEvery.String())
}

// sweep forgets sources not logged for a minute; called with mu held, at
// most once a second so a flood of new sources does not make every
// refusal walk the map.
func (r *refusals) sweep(now time.Time) {
	if now.Sub(r.lastSwep) < time.Second {
		return
	}
	r.lastSwep = now
	for k, st := range r.sources {
		if now.Sub(st.last) >= logEvery {
			delete(r.sources, k)
		}
	}
}

var descRefused = prometheus.NewDesc("hbd_http_refused_total",
	"HTTP connections and requests refused, by reason: conn_limit, per_ip_limit (connection caps), auth (missing or wrong credentials), scope (a read token writing), csrf (a write from another site), rate (over the per-client rate), content_type (a write that is not JSON), pprof_busy (a profile already running).",
	[]string{"reason"}, nil)

func (r *refusals) describe(ch chan<- *prometheus.Desc) { ch <- descRefused }

func (r *refusals) collect(ch chan<- prometheus.Metric) {
	for _, reason := range refusalReasons {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(r.count(reason)), reason)
	}
}

// clientKey is the unit the per-client limits count in: an IPv4 address,
// or an IPv6 /64, the block one subscriber usually gets, so one host
// cannot escape a limit by using more of its own addresses.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// addrOf returns the IP of a net.Addr from a TCP connection.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// remoteAddr is the request's client IP.
func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr { return addrOf(ctx.RemoteAddr()) }
