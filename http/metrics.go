package http

import (
	"strconv"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/transport/wire"
)

// metrics is the daemon's Prometheus registry. Ingest counters live as
// atomics in actors.Stats and are read at scrape time by statsCollector,
// so the hot path pays nothing for them.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(sys *actors.System, extra ...prometheus.Collector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hbd_http_requests_total",
			Help: "HTTP requests by route (the matched pattern) and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hbd_http_request_duration_seconds",
			Help:    "HTTP request latency by route, in seconds.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency,
		&statsCollector{sys: sys},
		&hardeningCollector{sys: sys},
	)
	for _, c := range extra {
		m.reg.MustRegister(c)
	}
	return m
}

// pprof serves Go's profiles under /debug/pprof/, as Prometheus and most Go
// daemons do, so a slow daemon can be examined where it runs.
func pprof() fasthttp.RequestHandler { return pprofhandler.PprofHandler }

// handler serves /metrics.
func (m *metrics) handler() fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// instrument wraps the router's handler with request counting and timing.
// The route label is the matched pattern ("/api/0/hosts/{hostname}"), so
// host names never become label values.
func (m *metrics) instrument(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		next(ctx)
		route, _ := ctx.UserValue(router.MatchedRoutePathParam).(string)
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(ctx.Response.StatusCode())).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}

var (
	descReceived = prometheus.NewDesc("hbd_datagrams_received_total", "UDP datagrams read from the sockets.", nil, nil)
	descAccepted = prometheus.NewDesc("hbd_datagrams_accepted_total", "Datagrams that passed every check and were applied, by kind.", []string{"kind"}, nil)
	descDropped  = prometheus.NewDesc("hbd_datagrams_dropped_total", "Datagrams rejected, by reason. A rejected datagram changes nothing.", []string{"reason"}, nil)
	descHosts    = prometheus.NewDesc("hbd_hosts", "Hosts by state, as of the fleet index's latest snapshot.", []string{"state"}, nil)
	descHeld     = prometheus.NewDesc("hbd_samples_held", "Plugin samples currently held in all hosts' ring buffers.", nil, nil)
	descSamples  = prometheus.NewDesc("hbd_samples_received_total", "Plugin samples stored.", nil, nil)
	descDup      = prometheus.NewDesc("hbd_samples_duplicate_total", "Sample copies not stored: the same sample via another daemon address, or late.", nil, nil)
	descRegs     = prometheus.NewDesc("hbd_hosts_registered_total", "HostActors spawned (declared and dynamic hosts).", nil, nil)
	descAcks     = prometheus.NewDesc("hbd_acks_sent_total", "ACKs sent to agents.", nil, nil)
	descAckDrop  = prometheus.NewDesc("hbd_acks_dropped_total", "ACKs not sent because the writer's queue was full or the send failed.", nil, nil)
	descKernDrop = prometheus.NewDesc("hbd_udp_kernel_drops_total", "Datagrams the kernel dropped on the daemon's UDP sockets because their receive buffers were full (Linux: /proc/net/udp drops): load the daemon did not read in time.", nil, nil)
	descPauses   = prometheus.NewDesc("hbd_ingest_pauses_total", "Times a UDP reader stopped reading because the hosts' actors had [limits] ingest_backlog datagrams waiting.", nil, nil)
	descPaused   = prometheus.NewDesc("hbd_ingest_paused_seconds_total", "Time the UDP readers spent stopped at [limits] ingest_backlog, summed over the readers.", nil, nil)
	descBacklog  = prometheus.NewDesc("hbd_ingest_backlog", "Datagrams read and handed to the hosts' actors that they have not applied yet; at [limits] ingest_backlog the readers stop reading until it falls.", nil, nil)
	descBehind   = prometheus.NewDesc("hbd_ingest_behind", "1 while the daemon is behind on ingest (more than 16,384 datagrams waiting in the actors' mailboxes, or one that waited over 200 ms in a socket), until it has kept up for 2 s; the adaptive detector stands aside and the stream yields meanwhile.", nil, nil)
	descWait     = prometheus.NewDesc("hbd_ingest_socket_wait_seconds", "The longest a datagram waited in a UDP socket's buffer before a reader took it, within the last quarter of a second (kernel receive timestamps; absent where the platform has none).", nil, nil)
	descBehindS  = prometheus.NewDesc("hbd_ingest_behind_seconds_total", "Time the daemon has been behind on ingest (see hbd_ingest_behind).", nil, nil)
	descEvDrop   = prometheus.NewDesc("hbd_journal_events_dropped_total", "Events the journal could not keep.", nil, nil)
	descMsgs     = prometheus.NewDesc("hbd_actor_messages_total", "Messages processed, by actor kind.", []string{"actor"}, nil)
	descUnexp    = prometheus.NewDesc("hbd_actor_unexpected_messages_total", "Messages an actor had no case for and dropped: a bug, logged once per type.", nil, nil)
	descFleetAge = prometheus.NewDesc("hbd_fleet_snapshot_age_seconds", "Age of the fleet index's latest snapshot, in seconds.", nil, nil)
	descEvicted  = prometheus.NewDesc("hbd_replay_instances_evicted_total", "Sender instances (agent processes) whose replay window a host forgot to make room for another: more agent processes of one host at once than it keeps windows for.", nil, nil)

	// descChecksBad counts check results ([[exec]] format = "nagios") whose status was invalid.
	descChecksBad = prometheus.NewDesc("hbd_check_results_invalid_total", "Check results (samples of [[exec]] format = \"nagios\") whose status was not 0..3 matching its status_text: forged or broken; each raised its <plugin>.status alert as UNKNOWN.", nil, nil)
	// descDepLoops counts dependencies left out of the graph to break a loop.
	descDepLoops = prometheus.NewDesc("hbd_dependency_loops_total", "Dependencies (host -> parent) left out of the dependency graph because they closed a loop, each counted once.", nil, nil)

	descCkptFiles    = prometheus.NewDesc("hbd_state_checkpoints_total", "State checkpoint files written, by kind (snapshot: every host whole; delta: what changed).", []string{"kind"}, nil)
	descCkptFailures = prometheus.NewDesc("hbd_state_checkpoint_failures_total", "State checkpoints that could not be written.", nil, nil)
	descCkptLast     = prometheus.NewDesc("hbd_state_checkpoint_duration_seconds", "How long the last state checkpoint took, in seconds.", nil, nil)
	descCkptSeconds  = prometheus.NewDesc("hbd_state_checkpoint_seconds_total", "Wall time of state checkpoints, in seconds, including waits for busy HostActors and the pacing rests between batches.", nil, nil)
	descCkptWork     = prometheus.NewDesc("hbd_state_checkpoint_work_seconds_total", "Time state checkpoints spent encoding, compressing and writing, in seconds: close to the checkpointer's CPU time.", nil, nil)
	descCkptBytes    = prometheus.NewDesc("hbd_state_checkpoint_size_bytes", "Size of the last state checkpoint file, in bytes (0: nothing had changed).", nil, nil)
	descCkptWritten  = prometheus.NewDesc("hbd_state_written_bytes_total", "Bytes of state checkpoint files written.", nil, nil)
	descCkptSuccess  = prometheus.NewDesc("hbd_state_checkpoint_last_success_timestamp_seconds", "When the last state checkpoint succeeded, as a unix time in seconds: a crash loses what happened since.", nil, nil)
	descStateDisk    = prometheus.NewDesc("hbd_state_disk_bytes", "Size of the state files a restart would read, in bytes.", nil, nil)
	descRestoreTime  = prometheus.NewDesc("hbd_state_restore_duration_seconds", "How long reading the saved state back took at start, in seconds.", nil, nil)
	descRestored     = prometheus.NewDesc("hbd_state_restored_hosts", "Hosts restored from the saved state at start.", nil, nil)
	descRingsLost    = prometheus.NewDesc("hbd_state_rings_lost_total", "Plugins whose saved samples could not be applied at start (a corrupt ring, or a delta whose predecessor was lost); each kept the samples restored before.", nil, nil)

	// Only the busiest rejected sources become series, so a flood from
	// spoofed addresses cannot blow up the cardinality: at most
	// topRejected series, which come and go as the busiest change.
	descRejSource  = prometheus.NewDesc("hbd_rejected_source_datagrams", "Datagrams rejected from one source IP address for one reason, for the 10 busiest sources the daemon remembers (the rest are in hbd_datagrams_dropped_total).", []string{"source", "reason"}, nil)
	descRejSources = prometheus.NewDesc("hbd_rejected_sources", "Rejected sources the daemon remembers (at most 1,024 per table: one table per UDP socket, one for replays).", nil, nil)
	descRejEvicted = prometheus.NewDesc("hbd_rejected_sources_evicted_total", "Rejected sources forgotten because the table was full: many sources, possibly spoofed.", nil, nil)
)

// descSamplesBytes over hbd_samples_held is what a stored sample costs.
var descSamplesBytes = prometheus.NewDesc("hbd_samples_bytes", "Memory held by all hosts' ring buffers of coded samples, in bytes.", nil, nil)

// statsCollector exposes actors.Stats.
type statsCollector struct{ sys *actors.System }

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descAccepted, descDropped, descHosts, descHeld, descSamples, descDup, descRegs, descAcks, descAckDrop, descBacklog, descBehind, descBehindS, descWait, descPauses, descPaused, descKernDrop, descEvDrop, descMsgs, descUnexp, descFleetAge, descEvicted,
		descCkptFiles, descCkptFailures, descCkptLast, descCkptSeconds, descCkptWork, descCkptBytes, descCkptWritten, descCkptSuccess, descStateDisk, descRestoreTime, descRestored, descRingsLost,
		descRejSource, descRejSources, descRejEvicted} {
		ch <- d
	}
	ch <- descSamplesBytes
	ch <- descChecksBad
	ch <- descDepLoops
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sys.Stats
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descReceived, st.Received.Load())
	for _, k := range []wire.Kind{wire.KindHeartbeat, wire.KindSample, wire.KindBoot, wire.KindShutdown, wire.KindSilence, wire.KindParents} {
		counter(descAccepted, st.AcceptedKind(k), k.String())
	}
	for _, r := range wire.AllReasons() {
		counter(descDropped, st.Dropped(r), r.String())
	}
	snap := c.sys.Fleet.Snapshot()
	for _, s := range actors.AllStates() {
		ch <- prometheus.MustNewConstMetric(descHosts, prometheus.GaugeValue, float64(snap.CountByState(s)), s.String())
	}
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(st.SamplesHeld.Load()))
	ch <- prometheus.MustNewConstMetric(descSamplesBytes, prometheus.GaugeValue, float64(st.SamplesBytes.Load()))
	counter(descSamples, st.SamplesReceived.Load())
	counter(descDup, st.SamplesDuplicate.Load())
	counter(descRegs, st.HostsRegistered.Load())
	counter(descAcks, st.AcksSent.Load())
	counter(descAckDrop, st.AcksDropped.Load())
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(max(st.Backlog.Load(), 0)))
	counter(descPauses, st.Pauses.Load())
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.CounterValue, float64(st.PausedNanos.Load())/1e9)
	behind := 0.0
	if st.IngestBehind.Load() {
		behind = 1
	}
	ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, behind)
	ch <- prometheus.MustNewConstMetric(descBehindS, prometheus.CounterValue, float64(st.IngestBehindNanos.Load())/1e9)
	if st.WaitKnown.Load() {
		ch <- prometheus.MustNewConstMetric(descWait, prometheus.GaugeValue, float64(st.IngestWait.Load())/1e9)
	}
	if n, ok := c.sys.KernelDrops(); ok {
		counter(descKernDrop, n)
	}
	counter(descEvDrop, st.EventsDropped.Load())
	counter(descEvicted, st.ReplayEvictions.Load())
	counter(descChecksBad, st.ChecksInvalid.Load())
	counter(descDepLoops, st.DependencyLoops.Load())
	for name, v := range st.ActorMessages() {
		counter(descMsgs, v, name)
	}
	counter(descUnexp, actors.UnexpectedMessages())
	for _, src := range c.sys.Rejected.Top(topRejected) {
		ch <- prometheus.MustNewConstMetric(descRejSource, prometheus.GaugeValue, float64(src.Count), src.Addr.Addr().String(), src.Reason.String())
	}
	ch <- prometheus.MustNewConstMetric(descRejSources, prometheus.GaugeValue, float64(c.sys.Rejected.Len()))
	counter(descRejEvicted, c.sys.Rejected.Evicted())
	if !snap.Built.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFleetAge, prometheus.GaugeValue, time.Since(snap.Built).Seconds())
	}
	if !c.sys.Durable() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	ss := c.sys.State
	counter(descCkptFiles, ss.Snapshots.Load(), "snapshot")
	counter(descCkptFiles, ss.Deltas.Load(), "delta")
	counter(descCkptFailures, ss.Failures.Load())
	gauge(descCkptLast, time.Duration(ss.LastNanos.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(descCkptSeconds, prometheus.CounterValue, time.Duration(ss.WriteNanos.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(descCkptWork, prometheus.CounterValue, time.Duration(ss.WorkNanos.Load()).Seconds())
	gauge(descCkptBytes, float64(ss.LastBytes.Load()))
	counter(descCkptWritten, ss.BytesWritten.Load())
	if t := ss.LastSuccess.Load(); t > 0 {
		gauge(descCkptSuccess, float64(t)/1e9)
	}
	gauge(descStateDisk, float64(ss.DiskBytes.Load()))
	gauge(descRestoreTime, time.Duration(ss.RestoreNanos.Load()).Seconds())
	gauge(descRestored, float64(ss.RestoredHosts.Load()))
	counter(descRingsLost, st.StateRingsLost.Load())
}
