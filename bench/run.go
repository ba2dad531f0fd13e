package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultSettle is how long a runner waits after the last datagram before
// it reads the daemon's counters, so that what is still queued in the
// daemon's socket and actors is counted.
const DefaultSettle = time.Second

// Common is what every runner that loads a daemon needs.
type Common struct {
	Scenario string    // name for the report ("" for an ad-hoc run)
	Gen      GenConfig // the simulated fleet
	// HTTPBase is the daemon's HTTP base URL, for /metrics. Without it
	// only the harness's own figures are reported.
	HTTPBase string
	Settle   time.Duration // 0 means DefaultSettle
	Progress io.Writer     // a line per second; nil for none
	// ShutdownRate, when positive, sends every host's shutdown message at
	// this many datagrams/s after the measurement, so the daemon marks the
	// simulated hosts STOPPED instead of alerting on all of them.
	ShutdownRate float64
}

func (c *Common) settle() time.Duration {
	if c.Settle > 0 {
		return c.Settle
	}
	return DefaultSettle
}

// nominalPerS is the datagram rate the paced schedule asks for.
func nominalPerS(g *GenConfig) float64 {
	per := 0.0
	if g.HeartbeatInterval > 0 {
		per += 1 / g.HeartbeatInterval.Seconds()
	}
	if g.SampleInterval > 0 {
		per += float64(len(g.Plugins)) / g.SampleInterval.Seconds()
	}
	return per * float64(g.Hosts) * float64(g.copies())
}

// monitor follows a run: it keeps the starting counters, prints the
// progress line and fills in the common part of the report.
type monitor struct {
	c       *Common
	scraper *Scraper
	g       *Generator
	e2e     *Histogram // nil without WebSocket clients

	start time.Time
	cpu0  time.Duration
	m0    Metrics
	sent0 uint64
	// st0 is the generator's counters at the start, for a generator that
	// ran before this monitor (RunFull's): the report counts differences.
	st0 GenStats

	lastT    time.Time
	lastSent uint64
	lastAcc  float64
	rssPeak  float64
	status   string // extra text for the progress line, e.g. the ramp step
}

// begin starts a run of mode: its report, its generator of c.Gen and the
// monitor that follows it; release frees the generator and the monitor.
func begin(ctx context.Context, c *Common, mode string) (rep *Report, g *Generator, mo *monitor, release func(), err error) {
	return beginWith(ctx, c, mode, nil)
}

// beginWith is begin with the generator shared when not nil: release then
// frees the monitor alone.
func beginWith(ctx context.Context, c *Common, mode string, shared *Generator) (rep *Report, g *Generator, mo *monitor, release func(), err error) {
	rep = newReport(c.Scenario, mode, time.Now())
	if shared != nil {
		shared.NewPhase()
		if mo, err = newMonitor(ctx, c, shared); err != nil {
			return nil, nil, nil, nil, err
		}
		return rep, shared, mo, mo.close, nil
	}
	if g, err = NewGenerator(c.Gen); err != nil {
		return nil, nil, nil, nil, err
	}
	if mo, err = newMonitor(ctx, c, g); err != nil {
		g.Close()
		return nil, nil, nil, nil, err
	}
	return rep, g, mo, func() { mo.close(); g.Close() }, nil
}

// newMonitor records the starting point. With an HTTP base it scrapes the
// daemon once and fails if it cannot: a run whose counters cannot be read
// measures nothing about the daemon.
func newMonitor(ctx context.Context, c *Common, g *Generator) (*monitor, error) {
	mo := &monitor{c: c, g: g, start: time.Now(), cpu0: processCPU()}
	if g != nil {
		// Before the scrape: a generator already sending (RunFull's) then
		// counts what it sends during the scrape as offered, never what
		// the daemon counted before it as accepted but not offered.
		mo.st0 = g.Stats()
		mo.sent0 = mo.st0.Sent
	}
	if c.HTTPBase != "" {
		s, err := NewScraper(c.HTTPBase)
		if err != nil {
			return nil, err
		}
		mo.scraper = s
		m, err := s.Scrape(ctx)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cannot read the daemon's counters before the run: %w", err)
		}
		if !m.Has[metricAccepted] {
			s.Close()
			return nil, fmt.Errorf("%s/metrics has no %s: is this an hbd daemon?", c.HTTPBase, metricAccepted)
		}
		mo.m0 = m
		mo.lastAcc = m.Accepted
		mo.rssPeak = m.RSSBytes
	}
	mo.lastT, mo.lastSent = mo.start, mo.sent0
	return mo, nil
}

// close releases the scraper's connection.
func (mo *monitor) close() {
	if mo.scraper != nil {
		mo.scraper.Close()
	}
}

// tick scrapes the daemon (if it can) and prints one progress line. It
// returns the scrape, or the zero Metrics and false.
func (mo *monitor) tick(ctx context.Context) (Metrics, bool) {
	now := time.Now()
	dt := now.Sub(mo.lastT).Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs", now.Sub(mo.start).Seconds())
	if mo.status != "" {
		fmt.Fprintf(&b, "  %s", mo.status)
	}
	if mo.g != nil {
		sent := mo.g.Stats().Sent
		fmt.Fprintf(&b, "  offered %8.0f/s", float64(sent-mo.lastSent)/dt)
		mo.lastSent = sent
	}
	var m Metrics
	ok := false
	if mo.scraper != nil {
		var err error
		m, err = mo.scraper.Scrape(ctx)
		if err != nil {
			fmt.Fprintf(&b, "  (metrics: %v)", err)
		} else {
			ok = true
			fmt.Fprintf(&b, "  accepted %8.0f/s", (m.Accepted-mo.lastAcc)/dt)
			fmt.Fprintf(&b, "  loss %.3f%%", LossPct(float64(mo.lastSent-mo.sent0), m.Accepted-mo.m0.Accepted))
			mo.lastAcc = m.Accepted
			mo.rssPeak = max(mo.rssPeak, m.RSSBytes)
		}
	}
	if mo.e2e != nil && mo.e2e.Count() > 0 {
		fmt.Fprintf(&b, "  e2e p99 %.1f ms", float64(mo.e2e.Quantile(0.99))/1e6)
	}
	if el := now.Sub(mo.start); el > 0 {
		fmt.Fprintf(&b, "  harness cpu %.0f%%", float64(processCPU()-mo.cpu0)/float64(el)*100)
	}
	mo.lastT = now
	if mo.c.Progress != nil {
		fmt.Fprintln(mo.c.Progress, b.String())
	}
	return m, ok
}

// runFor prints progress every second for d, or until done is closed or
// ctx is done. until, when not nil, is called with each successful scrape
// and ends the wait when it returns true.
func (mo *monitor) runFor(ctx context.Context, d time.Duration, done <-chan struct{}, until func(Metrics) bool) {
	end := time.Now().Add(d)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-done:
			timer.Stop()
			return
		case <-timer.C:
			return
		case <-t.C:
			timer.Stop()
			m, ok := mo.tick(ctx)
			if ok && until != nil && until(m) {
				return
			}
		}
	}
}

// finish waits for the daemon to settle, scrapes it a last time and fills
// in the report's common fields for a measured window of the given length
// (the time the generator ran).
func (mo *monitor) finish(ctx context.Context, rep *Report, window time.Duration) (Metrics, error) {
	// An interrupted run still reports what it measured: settle and scrape
	// regardless of ctx, within a bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mo.c.settle()+10*time.Second)
	defer cancel()
	waitCtx(ctx, mo.c.settle())
	g := &mo.c.Gen
	rep.Hosts = g.Hosts
	for _, t := range g.Targets {
		rep.Targets = append(rep.Targets, t.String())
	}
	rep.DurationS = math.Round(window.Seconds()*10) / 10
	if el := time.Since(mo.start); el > 0 {
		rep.HarnessCPUPct = ptr(math.Round(float64(processCPU()-mo.cpu0)/float64(el)*1000) / 10)
	}
	var st GenStats
	if mo.g != nil {
		st = mo.g.Stats()
		offered := st.Sent - mo.sent0
		rep.OfferedPerS = ptr(float64(offered) / window.Seconds())
		rep.HarnessSendPerS = ptr(float64(offered) / window.Seconds())
		rep.HarnessMaxLagMs = ptr(float64(st.MaxLag) / 1e6)
		st.SendErrors -= mo.st0.SendErrors
		st.Failovers -= mo.st0.Failovers
		rep.Datagrams = &Counts{Offered: offered, SendErrs: st.SendErrors}
		rep.AckRTTMs = mo.g.AckRTT().Summary()
		if g.Cluster {
			rep.Cluster, rep.Failovers = true, ptr(st.Failovers)
		}
		if st.SendErrors > 0 {
			rep.warn("%d datagrams could not be sent; last error: %v", st.SendErrors, st.LastError)
		}
		if lag := st.MaxLag; lag > time.Second {
			rep.warn("the harness fell %v behind its schedule at worst: it may have been a bottleneck", lag.Round(time.Millisecond))
		}
		if st.Slipped > 0 {
			rep.HarnessSlippedMs = ptr(float64(st.Slipped) / 1e6)
			rep.warn("a sender's schedule moved on by %v rather than catch up in a burst: its hosts were silent that long", st.Slipped.Round(time.Millisecond))
		}
	}
	if mo.scraper == nil {
		return Metrics{}, nil
	}
	m, err := mo.scraper.Scrape(ctx)
	if err != nil {
		return Metrics{}, fmt.Errorf("cannot read the daemon's counters after the run: %w", err)
	}
	acc := m.Accepted - mo.m0.Accepted
	rep.AcceptedPerS = ptr(acc / window.Seconds())
	rep.RSSBytes = ptr(m.RSSBytes)
	rep.SamplesHeld = ptr(m.SamplesHeld)
	if m.Has[metricHeap] {
		rep.HeapBytes = ptr(m.HeapBytes)
	}
	rep.DaemonCPUSPerMillion = cpuPerMillion(m.CPUSeconds-mo.m0.CPUSeconds, acc)
	for route, b := range m.HTTPLatency {
		if sum := b.Since(mo.m0.HTTPLatency[route]).Summary(); sum != nil {
			if rep.DaemonAPIMs == nil {
				rep.DaemonAPIMs = map[string]Quantiles{}
			}
			rep.DaemonAPIMs[route] = *sum
		}
	}
	if m.Has[metricWSCutOff] {
		rep.WSCutOff = ptr(m.WSCutOff - mo.m0.WSCutOff)
	}
	if m.Has[metricWSPending] {
		rep.WSPending = ptr(m.WSPending)
	}
	if m.Has[metricWSConfl] {
		rep.WSConflated = ptr(m.WSConflated - mo.m0.WSConflated)
	}
	if m.Has[metricWSDropped] {
		rep.WSDropped = ptr(m.WSDropped - mo.m0.WSDropped)
	}
	if m.Has[metricKernDrops] {
		rep.KernelDrops = ptr(m.KernelDrops - mo.m0.KernelDrops)
	}
	if m.Has[metricPaused] {
		rep.PausedS = ptr(m.PausedSecs - mo.m0.PausedSecs)
	}
	if m.Has[metricCkptFiles] {
		rep.Checkpoints = ptr(m.Checkpoints - mo.m0.Checkpoints)
		rep.CheckpointS = ptr(m.CheckpointSecs - mo.m0.CheckpointSecs)
		rep.CheckpointWorkS = ptr(m.CheckpointWork - mo.m0.CheckpointWork)
		rep.CheckpointBytes = ptr(m.CheckpointBytes - mo.m0.CheckpointBytes)
	}
	rep.DroppedByReason = map[string]float64{}
	for r, v := range m.DroppedByReason {
		if d := v - mo.m0.DroppedByReason[r]; d > 0 {
			rep.DroppedByReason[r] = d
		}
	}
	if rep.Datagrams != nil {
		rep.Datagrams.Accepted = acc
		rep.Datagrams.Dropped = m.Dropped - mo.m0.Dropped
		rep.LossPct = ptr(LossPct(float64(rep.Datagrams.Offered), acc))
		if acc > float64(rep.Datagrams.Offered)*1.001+10 {
			rep.warn("the daemon accepted %.0f datagrams but the harness offered %d: other senders were active, so loss is understated", acc, rep.Datagrams.Offered)
		}
	}
	warnDrops(rep)
	return m, nil
}

// warnDrops explains drop reasons that point at a setup mistake rather
// than at overload.
func warnDrops(rep *Report) {
	hints := map[string]string{
		"bad_mac":      "the -key does not match the daemon's key",
		"unknown_host": "the daemon does not register new hosts (set accept_dynamic = true)",
		"clock_skew":   "this machine's clock differs from the daemon's by more than max_clock_skew",
		"replay":       "another harness uses the same host names (see -first-host), this machine's clock was stepped back, or datagrams were reordered beyond the replay window",
		"seq_jump":     "a sender's sequence number leapt more than 2^32 ahead of its previous one (a bug in a sender)",
	}
	reasons := make([]string, 0, len(rep.DroppedByReason))
	for r := range rep.DroppedByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		if h, ok := hints[r]; ok {
			rep.warn("%.0f datagrams dropped as %s: %s", rep.DroppedByReason[r], r, h)
		}
	}
}

// LoadConfig configures RunLoad.
type LoadConfig struct {
	Common
	Duration  time.Duration // how long the fleet sends
	WSURL     string        // WebSocket URL for the clients
	WSClients int
	HTTPRPS   float64 // HTTP API requests per second; 0 = none
}

// steadyAfter is when a load run's fleet is past its start: every host
// has sent its first heartbeat and a sample of every plugin.
func steadyAfter(g *GenConfig) time.Duration {
	return max(g.HeartbeatInterval, g.SampleInterval)
}

// RunLoad runs a simulated fleet for cfg.Duration with optional WebSocket
// and HTTP load and reports throughput, loss, daemon CPU and memory, and
// latencies.
func RunLoad(ctx context.Context, cfg LoadConfig) (*Report, error) {
	return runLoad(ctx, cfg, nil, nil)
}

// runLoad is RunLoad; with a shared generator (RunFull's, already running)
// it measures cfg.Duration of it and then calls stop, which ends the
// generator's Run, before the final scrape.
func runLoad(ctx context.Context, cfg LoadConfig, shared *Generator, stop func()) (*Report, error) {
	if cfg.Duration <= 0 {
		return nil, errors.New("load: need a positive duration")
	}
	if cfg.WSClients > 0 && cfg.WSURL == "" {
		return nil, errors.New("load: WebSocket clients need a WebSocket URL")
	}
	if cfg.HTTPRPS > 0 && cfg.HTTPBase == "" {
		return nil, errors.New("load: HTTP load needs the daemon's HTTP base URL")
	}
	rep, g, mo, release, err := beginWith(ctx, &cfg.Common, "load", shared)
	if err != nil {
		return nil, err
	}
	defer release()
	var httpLoad *HTTPLoad
	if cfg.HTTPRPS > 0 {
		httpLoad, err = NewHTTPLoad(HTTPLoadConfig{Base: cfg.HTTPBase, RPS: cfg.HTTPRPS, Hosts: cfg.Gen.Hosts, FirstHost: cfg.Gen.FirstHost, Seed: cfg.Gen.Seed})
		if err != nil {
			return nil, err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var side sync.WaitGroup
	var e2e, steady Histogram
	var ws WSStats
	steadyAfter := steadyAfter(&cfg.Gen)
	if cfg.WSClients > 0 {
		mo.e2e = &e2e
		from := time.Now().Add(steadyAfter)
		side.Go(func() {
			RunWS(runCtx, WSConfig{URL: cfg.WSURL, Clients: cfg.WSClients, HostPrefix: "bench-", Steady: &steady, SteadyFrom: from}, &e2e, &ws)
		})
	}
	if httpLoad != nil {
		side.Go(func() { httpLoad.Run(runCtx) })
	}
	start := time.Now()
	if shared == nil {
		genDone, stopGen := runGenerator(runCtx, g, cfg.Duration)
		mo.runFor(ctx, cfg.Duration+time.Minute, genDone, nil)
		stopGen()
	} else {
		mo.runFor(ctx, cfg.Duration, nil, nil)
		stop()
	}
	window := time.Since(start)
	cancel()
	side.Wait()

	rep.NominalPerS = ptr(nominalPerS(&cfg.Gen))
	if _, err := mo.finish(ctx, rep, window); err != nil {
		return rep, err
	}
	if cfg.WSClients > 0 {
		rep.E2EMs = e2e.Summary()
		if steadyAfter < cfg.Duration {
			rep.E2ESteadyMs, rep.E2ESteadyAfterS = steady.Summary(), ptr(steadyAfter.Seconds())
		}
		rep.WSFrames = ptr(ws.Frames.Load())
		rep.WSDisconnects = ptr(ws.Disconnects.Load())
		if ws.Connects.Load() == 0 {
			rep.warn("no WebSocket client could connect to %s", cfg.WSURL)
		} else if ws.Measured.Load() == 0 {
			rep.warn("the WebSocket clients received no plugin messages of bench hosts")
		}
	}
	if httpLoad != nil {
		rep.APIMs = httpLoad.Latencies()
		rep.APICodes = httpLoad.Codes()
		rep.APISkipped = ptr(httpLoad.Skipped())
	}
	if cfg.ShutdownRate > 0 {
		g.Shutdown(ctx, cfg.ShutdownRate)
	}
	return rep, ctx.Err()
}
