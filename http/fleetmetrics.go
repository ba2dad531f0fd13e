package http

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/promfleet"
)

// FleetOptions bound the fleet exposition, GET /metrics/fleet: the
// [limits] fleet_* keys. Zero values take the defaults.
type FleetOptions struct {
	// LabelValues is how many series one host may have in one plugin
	// family: the partitions, interfaces... of one metric name, in the
	// sample's order; the rest are dropped and counted.
	LabelValues int
	// Families is how many plugin metric names one scrape may hold, over
	// the whole fleet; series of further names are dropped and counted.
	Families int
}

// Defaults of FleetOptions.
const (
	DefaultFleetLabelValues = 128
	DefaultFleetFamilies    = 1000
)

// maxFleetGlobs bounds the ?host= globs of one scrape, as the WebSocket
// stream bounds a subscription's: each host is matched against each.
const maxFleetGlobs = 64

// flushAt is how much of a scrape is buffered before it is written.
const flushAt = 32 << 10

// Reasons a series of the fleet exposition is dropped.
const (
	dropLabelValues = iota // past [limits] fleet_label_values in its host's family
	dropFamilies           // a new name past [limits] fleet_families
	dropCollision          // its name is another plugin's, a built-in family's, or has other labels
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"label_values", "families", "collision"}

// fleetExposition serves GET /metrics/fleet: every host's liveness,
// connections, alert levels and newest plugin values as Prometheus
// series, labelled host="name". It reads the fleet index's snapshot and
// what each HostActor exposes (actors.HostSummary.NewestSample): no
// message to any actor. The body is streamed: written family by family,
// host by host, through a 32 KiB buffer, so a scrape of 100,000 hosts
// holds a few buffers, never the answer.
//
// Both formats want each family's lines together, and the plugin
// families are known only from the samples, so a scrape makes one pass
// over the fleet per family: the liveness families read the summaries;
// a first pass over every host's newest samples finds the plugin
// families (and writes hbd_plugin_sample_timestamp_seconds); then one
// pass per plugin family reads that plugin's newest sample of each host
// again. See docs/METRICS.md for names, labels and bounds.
type fleetExposition struct {
	sys *actors.System
	opt FleetOptions
	log *slog.Logger

	dropped   [numDropReasons]atomic.Uint64
	scrapes   atomic.Uint64
	lastNanos atomic.Int64 // how long the last scrape took to write, in ns
	lastLines atomic.Int64 // sample lines the last scrape wrote
}

func newFleetExposition(sys *actors.System, opt FleetOptions, log *slog.Logger) *fleetExposition {
	if opt.LabelValues <= 0 {
		opt.LabelValues = DefaultFleetLabelValues
	}
	if opt.Families <= 0 {
		opt.Families = DefaultFleetFamilies
	}
	return &fleetExposition{sys: sys, opt: opt, log: log}
}

// handler serves GET /metrics/fleet[?host=glob...].
func (f *fleetExposition) handler(ctx *fasthttp.RequestCtx) {
	var globs []string
	for _, v := range ctx.QueryArgs().PeekMulti("host") {
		globs = append(globs, string(v))
	}
	if len(globs) > maxFleetGlobs {
		writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("too many host patterns: %d (at most %d)", len(globs), maxFleetGlobs))
		return
	}
	var filter *broadcast.Filter
	if len(globs) > 0 {
		var err error
		if filter, err = broadcast.NewFilter(globs, nil); err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, err.Error())
			return
		}
	}
	format := promfleet.Text
	accept := http.Header{"Accept": {string(ctx.Request.Header.Peek("Accept"))}}
	if expfmt.NegotiateAccept(accept, expfmt.NewFormat(expfmt.TypeOpenMetrics), expfmt.NewFormat(expfmt.TypeTextPlain)).FormatType() == expfmt.TypeOpenMetrics {
		format = promfleet.OpenMetrics
	}
	ctx.SetContentType(format.ContentType())
	snap := f.sys.Fleet.Snapshot()
	setPartial(ctx, snap)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if err := f.write(w, snap, filter, format); err != nil {
			f.log.Debug("fleet exposition cut short", "err", err)
		}
	})
}

// write writes the exposition of snap's hosts that filter wants (nil:
// all) to w and counts the scrape; an error is the client's going away.
func (f *fleetExposition) write(w *bufio.Writer, snap *actors.FleetSnapshot, filter *broadcast.Filter, format promfleet.Format) error {
	start := time.Now()
	s := &fleetScrape{f: f, w: w, snap: snap, filter: filter, namer: promfleet.NewNamer(promfleet.BuiltinRules),
		b: make([]byte, 0, flushAt+4096)}
	s.run(format)
	f.scrapes.Add(1)
	f.lastNanos.Store(int64(time.Since(start)))
	f.lastLines.Store(s.lines)
	return s.err
}

// fleetScrape is one scrape's state and scratch buffers.
type fleetScrape struct {
	f      *fleetExposition
	w      *bufio.Writer
	snap   *actors.FleetSnapshot
	filter *broadcast.Filter
	namer  *promfleet.Namer
	b      []byte // what is not written yet
	err    error  // the first write error: the client left
	lines  int64

	samples []actors.PluginSample
	buf     []byte
	sig     []byte
	seen    []byte // label values of the current host's sample already written, \xff-separated
	seenAt  []int
	lbl     [1]promfleet.Label
	counts  []famCount
	famN    int // series of the family written for the current host
}

// plugFamily is one plugin metric name the scrape found.
type plugFamily struct {
	name, plugin, help string
	sig                string // label names, comma-separated
	path               *promfleet.Path
}

// famCount is how many series of a family the current sample made.
type famCount struct {
	fam *plugFamily
	n   int
}

// rttQuantiles label contract.Conn.RTTQuantiles.
var rttQuantiles = [len(contract.Conn{}.RTTQuantiles)]string{"0.5", "0.95", "0.99"}

// hostFamily is a family written from the summaries alone.
type hostFamily struct {
	name, help string
	write      func(s *fleetScrape, h *actors.HostSummary)
}

// hostFamilies are the families of every host, in the order written.
var hostFamilies = []hostFamily{
	{"hbd_host_info", "Information about the host: its agent's version and whether it registered itself (dynamic) or is declared in watchhosts; always 1.",
		func(s *fleetScrape, h *actors.HostSummary) {
			dyn := "false"
			if h.Dyn() {
				dyn = "true"
			}
			s.sample("hbd_host_info", h.Name, 1, promfleet.Label{Name: "agent_version", Value: h.AgentVersion()},
				promfleet.Label{Name: "dynamic", Value: dyn})
		}},
	{"hbd_host_up", "Whether the host is reachable: 1 when its state is UP, DEGRADED or SUSPECT (at least one address family answers in time), 0 when DOWN, UNREACHABLE, STOPPED or UNKNOWN.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.sample("hbd_host_up", h.Name, b2f(h.State == actors.StateUp || h.State == actors.StateDegraded || h.State == actors.StateSuspect))
		}},
	{"hbd_host_state", "The host's liveness state, one series per state: 1 for the current one, 0 for the others.",
		func(s *fleetScrape, h *actors.HostSummary) {
			for _, st := range actors.AllStates() {
				s.sample("hbd_host_state", h.Name, b2f(h.State == st), promfleet.Label{Name: "state", Value: st.String()})
			}
		}},
	{"hbd_host_last_seen_timestamp_seconds", "When the daemon last received a valid datagram from the host, as a unix time in seconds; absent for a host never heard from. Its age is time() - this.",
		func(s *fleetScrape, h *actors.HostSummary) {
			if !h.LastSeen.IsZero() {
				s.sample("hbd_host_last_seen_timestamp_seconds", h.Name, unixSeconds(h.LastSeen))
			}
		}},
	{"hbd_host_heartbeat_interval_seconds", "The heartbeat interval the host's agent announced, in seconds.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.sample("hbd_host_heartbeat_interval_seconds", h.Name, h.Interval().Seconds())
		}},
	{"hbd_host_connection_up", "Whether the host's path over an address family (ipv4, ipv6) is up: 1 or 0.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_connection_up", func(c *contract.Conn) (float64, bool) { return b2f(c.Up), true })
		}},
	{"hbd_host_connection_last_seen_timestamp_seconds", "When the daemon last heard from the host over an address family, as a unix time in seconds.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_connection_last_seen_timestamp_seconds", func(c *contract.Conn) (float64, bool) {
				return unixSeconds(c.LastSeen), !c.LastSeen.IsZero()
			})
		}},
	{"hbd_host_rtt_last_seconds", "The last heartbeat round trip the host's agent measured to this daemon over an address family, in seconds; absent before the first.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_rtt_last_seconds", func(c *contract.Conn) (float64, bool) { return c.RTT.Seconds(), c.HasRTT })
		}},
	{"hbd_host_rtt_seconds", "Quantiles (0.5, 0.95, 0.99) of the host's heartbeat round trips over an address family, in seconds, over the window of its recent heartbeats that GET /api/0/hosts/{host}/rtt shows; absent while the window holds no round trip. A summary without _sum and _count: the window slides, so it has no cumulative count.",
		func(s *fleetScrape, h *actors.HostSummary) {
			for i := range h.Conns {
				c := &h.Conns[i]
				for q, name := range rttQuantiles {
					if us := c.RTTQuantiles[q]; us != 0 {
						s.sample("hbd_host_rtt_seconds", h.Name, float64(us)/1e6, promfleet.Label{Name: "family", Value: c.Family},
							promfleet.Label{Name: "quantile", Value: name})
					}
				}
			}
		}},
	{"hbd_host_rtt_smoothed_seconds", "The moving average of the host's heartbeat round trips over an address family, in seconds; absent before the first.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_rtt_smoothed_seconds", func(c *contract.Conn) (float64, bool) { return c.SmoothedRTT.Seconds(), c.HasRTT })
		}},
	{"hbd_host_loss_ratio", "The share of the host's heartbeats missing over an address family, in the daemon's loss window, from 0 to 1.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_loss_ratio", func(c *contract.Conn) (float64, bool) { return c.LossPct / 100, true })
		}},
	{"hbd_host_connection_suspicion", "The adaptive failure detector's suspicion (phi) of the host's path over an address family, as of the host's last heartbeat or change of state; absent on the fixed rule, with too little history, or while the path is down.",
		func(s *fleetScrape, h *actors.HostSummary) {
			s.conns(h, "hbd_host_connection_suspicion", func(c *contract.Conn) (float64, bool) { return c.Suspicion.Phi() })
		}},
	{"hbd_alert_level", "The level of each metric path the host's alerts track: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
		func(s *fleetScrape, h *actors.HostSummary) {
			for _, l := range h.AlertLevels() {
				s.sample("hbd_alert_level", h.Name, float64(l.Level), promfleet.Label{Name: "metric_path", Value: l.Path})
			}
		}},
}

// sampleTimestampFamily is written by the pass that finds the plugin families.
const sampleTimestampFamily = "hbd_plugin_sample_timestamp_seconds"

// reservedFamily reports whether name is a family the exposition writes
// itself, which no plugin value may take.
func reservedFamily(name []byte) bool {
	if string(name) == sampleTimestampFamily {
		return true
	}
	for i := range hostFamilies {
		if string(name) == hostFamilies[i].name {
			return true
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// run writes the whole exposition.
func (s *fleetScrape) run(format promfleet.Format) {
	for i := range hostFamilies {
		hf := &hostFamilies[i]
		typ := "gauge"
		if hf.name == "hbd_host_rtt_seconds" {
			typ = "summary" // quantiles
		}
		s.b = promfleet.AppendHeaderType(s.b, hf.name, hf.help, typ)
		for _, h := range s.snap.Hosts {
			if s.wants(h) {
				hf.write(s, h)
				s.flush(false)
			}
		}
		if s.err != nil {
			return
		}
	}
	fams := s.discover()
	for _, fam := range fams {
		s.b = promfleet.AppendHeader(s.b, fam.name, fam.help)
		for _, h := range s.snap.Hosts {
			if s.wants(h) {
				s.pluginFamily(h, fam)
				s.flush(false)
			}
		}
		if s.err != nil {
			return
		}
	}
	s.b = format.AppendEnd(s.b)
	s.flush(true)
}

func (s *fleetScrape) wants(h *actors.HostSummary) bool {
	return s.filter == nil || s.filter.Wants(contract.FrameHost, h.Name)
}

// flush writes what is buffered once it is large enough (or when last).
func (s *fleetScrape) flush(last bool) {
	if s.err != nil {
		s.b = s.b[:0]
		return
	}
	if len(s.b) >= flushAt || last {
		_, s.err = s.w.Write(s.b)
		s.b = s.b[:0]
		if last && s.err == nil {
			s.err = s.w.Flush()
		}
	}
}

func (s *fleetScrape) sample(name, host string, v float64, labels ...promfleet.Label) {
	s.b = promfleet.AppendSample(s.b, name, host, labels, v)
	s.lines++
}

// conns writes one series per connection of h for which value has one.
func (s *fleetScrape) conns(h *actors.HostSummary, name string, value func(c *contract.Conn) (float64, bool)) {
	for i := range h.Conns {
		c := &h.Conns[i]
		if v, ok := value(c); ok {
			s.sample(name, h.Name, v, promfleet.Label{Name: "family", Value: c.Family})
		}
	}
}

// discover reads every wanted host's newest samples, writes when each was
// sent, and returns the plugin families they hold, sorted by name, within
// [limits] fleet_families. It counts the series it drops.
func (s *fleetScrape) discover() []*plugFamily {
	f := s.f
	byName := make(map[string]*plugFamily)
	var dropped [numDropReasons]uint64
	s.b = promfleet.AppendHeader(s.b, sampleTimestampFamily, "When the host's agent sent the newest sample of a plugin, as a unix time in seconds: the time of the values in the hbd_<plugin>_* series.")
	for _, h := range s.snap.Hosts {
		if !s.wants(h) {
			continue
		}
		s.samples, s.buf = h.NewestSamples(s.samples[:0], s.buf[:0])
		for i := range s.samples {
			p := &s.samples[i]
			s.lbl[0] = promfleet.Label{Name: "plugin", Value: p.Plugin}
			s.b = promfleet.AppendSample(s.b, sampleTimestampFamily, h.Name, s.lbl[:], float64(p.UnixNano)/1e9)
			s.lines++
			s.counts = s.counts[:0]
			s.namer.Walk(p.Plugin, p.JSON, func(se promfleet.Series) bool {
				s.sig = labelSig(s.sig[:0], se.Labels)
				fam := byName[string(se.Name)]
				switch {
				case fam == nil && reservedFamily(se.Name):
					dropped[dropCollision]++
					return true
				case fam == nil && len(byName) >= f.opt.Families:
					dropped[dropFamilies]++
					return true
				case fam == nil:
					fam = &plugFamily{name: string(se.Name), plugin: p.Plugin, sig: string(s.sig), path: s.namer.CurrentPath(p.Plugin)}
					fam.help = fmt.Sprintf("Plugin value %s, as the host's agent last sent it.", s.namer.Pattern(p.Plugin))
					byName[fam.name] = fam
				case fam.plugin != p.Plugin || fam.sig != string(s.sig):
					dropped[dropCollision]++
					return true
				}
				if s.count(fam) > f.opt.LabelValues {
					dropped[dropLabelValues]++
				}
				return true
			})
		}
		s.flush(false)
		if s.err != nil {
			break
		}
	}
	for r, n := range dropped {
		f.dropped[r].Add(n)
	}
	fams := make([]*plugFamily, 0, len(byName))
	for _, fam := range byName {
		fams = append(fams, fam)
	}
	slices.SortFunc(fams, func(x, y *plugFamily) int { return strings.Compare(x.name, y.name) })
	return fams
}

// count counts one more series of fam in the current sample and returns
// how many it made so far.
func (s *fleetScrape) count(fam *plugFamily) int {
	for i := range s.counts {
		if s.counts[i].fam == fam {
			s.counts[i].n++
			return s.counts[i].n
		}
	}
	s.counts = append(s.counts, famCount{fam, 1})
	return 1
}

// pluginFamily writes h's series of fam from its plugin's newest sample.
// A series whose name and labels an earlier value of the same sample
// took (two keys that sanitize alike) is left out.
func (s *fleetScrape) pluginFamily(h *actors.HostSummary, fam *plugFamily) {
	var ok bool
	if _, s.buf, ok = h.NewestSample(fam.plugin, s.buf[:0]); !ok {
		return
	}
	s.seen, s.seenAt = s.seen[:0], s.seenAt[:0]
	s.famN = 0 // a field: a local captured by the callback would escape
	s.namer.WalkPath(fam.plugin, s.buf, fam.path, func(se promfleet.Series) bool {
		if len(se.Labels) == 0 {
			s.b = promfleet.AppendSample(s.b, fam.name, h.Name, nil, se.Value)
			s.lines++
			return false // one series without labels
		}
		if s.seenBefore(se.Labels) {
			return true
		}
		s.b = promfleet.AppendSample(s.b, fam.name, h.Name, se.Labels, se.Value)
		s.lines++
		s.famN++
		return s.famN < s.f.opt.LabelValues
	})
}

// seenBefore reports whether labels' values were written for the current
// host's sample, and notes them if not.
func (s *fleetScrape) seenBefore(labels []promfleet.Label) bool {
	start := len(s.seen)
	for _, l := range labels {
		s.seen = append(append(s.seen, l.Value...), 0xff)
	}
	key := s.seen[start:]
	prev := 0
	for _, end := range s.seenAt {
		if string(s.seen[prev:end]) == string(key) {
			s.seen = s.seen[:start]
			return true
		}
		prev = end
	}
	s.seenAt = append(s.seenAt, len(s.seen))
	return false
}

// labelSig appends the label names of labels, comma-separated.
func labelSig(b []byte, labels []promfleet.Label) []byte {
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
	}
	return b
}

// fleetCollector exposes the fleet exposition's own counters on /metrics.
type fleetCollector struct{ f *fleetExposition }

var (
	descFleetDropped = prometheus.NewDesc("hbd_fleet_series_dropped_total", "Plugin series the fleet exposition (/metrics/fleet) left out, counted once per scrape, by reason: label_values and families are [limits] fleet_label_values and fleet_families; collision is a name another plugin or a built-in family took.", []string{"reason"}, nil)
	descFleetScrapes = prometheus.NewDesc("hbd_fleet_scrapes_total", "Scrapes of /metrics/fleet served.", nil, nil)
	descFleetSeconds = prometheus.NewDesc("hbd_fleet_scrape_duration_seconds", "How long the last scrape of /metrics/fleet took to write, in seconds (a slow reader makes it longer).", nil, nil)
	descFleetSeries  = prometheus.NewDesc("hbd_fleet_scrape_series", "Series the last scrape of /metrics/fleet wrote.", nil, nil)
)

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFleetDropped
	ch <- descFleetScrapes
	ch <- descFleetSeconds
	ch <- descFleetSeries
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for r := range numDropReasons {
		ch <- prometheus.MustNewConstMetric(descFleetDropped, prometheus.CounterValue, float64(c.f.dropped[r].Load()), dropReasonNames[r])
	}
	ch <- prometheus.MustNewConstMetric(descFleetScrapes, prometheus.CounterValue, float64(c.f.scrapes.Load()))
	ch <- prometheus.MustNewConstMetric(descFleetSeconds, prometheus.GaugeValue, time.Duration(c.f.lastNanos.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(descFleetSeries, prometheus.GaugeValue, float64(c.f.lastLines.Load()))
}
