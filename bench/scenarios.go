package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RampConfig configures RunRamp.
type RampConfig struct {
	Common
	Start        float64       // first step's offered rate, datagrams/s
	Step         float64       // increase per step, datagrams/s
	StepDuration time.Duration // length of each step
	// Warmup runs the paced heartbeats alone first, so every host is
	// registered and has booted before the first step is measured; 0
	// means one heartbeat interval plus a second.
	Warmup     time.Duration
	MaxLossPct float64       // 0 means DefaultMaxLossPct
	Duration   time.Duration // cap on the whole ramp
}

// RunRamp raises the offered rate step by step until a step loses more
// than MaxLossPct of its datagrams, and reports the highest lossless step.
// The offered rate of a step is its target: rate-mode samples make up the
// difference between the target and the paced heartbeats. After each step
// the samples stop for the settle time before the counters are read (the
// heartbeats go on and are counted on both sides).
func RunRamp(ctx context.Context, cfg RampConfig) (*Report, error) {
	if cfg.HTTPBase == "" {
		return nil, errors.New("ramp: needs the daemon's HTTP base URL (-http) to read its counters")
	}
	if cfg.Start <= 0 || cfg.Step < 0 || cfg.StepDuration <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("ramp: need a positive start rate, step duration and duration (start %g, step %g, step duration %s, duration %s)",
			cfg.Start, cfg.Step, cfg.StepDuration, cfg.Duration)
	}
	maxLoss := cfg.MaxLossPct
	if maxLoss <= 0 {
		maxLoss = DefaultMaxLossPct
	}
	warmup := cfg.Warmup
	if warmup == 0 && cfg.Gen.HeartbeatInterval > 0 {
		warmup = cfg.Gen.HeartbeatInterval + time.Second
	}
	rep, g, mo, release, err := begin(ctx, &cfg.Common, "ramp")
	if err != nil {
		return nil, err
	}
	defer release()
	runCtx, cancel := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		g.Run(runCtx, cfg.Duration+warmup)
	}()
	defer func() {
		cancel()
		<-genDone
	}()
	deadline := time.Now().Add(cfg.Duration + warmup)

	mo.status = "warm-up"
	mo.runFor(ctx, warmup, genDone, nil)
	waitCtx(ctx, cfg.settle())
	prev, err := mo.scraper.Scrape(ctx)
	if err != nil {
		return nil, err
	}
	prevSent := g.Stats().Sent
	hbPerS := nominalPerS(&GenConfig{HeartbeatInterval: cfg.Gen.HeartbeatInterval, Hosts: cfg.Gen.Hosts, Targets: cfg.Gen.Targets})
	best := -1 // index into rep.Steps of the highest lossless step
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		target := cfg.Start + float64(i)*cfg.Step
		if time.Now().Add(cfg.StepDuration + cfg.settle()).After(deadline) {
			rep.StopReason = fmt.Sprintf("the ramp reached its time limit before %.0f datagrams/s", target)
			break
		}
		mo.status = fmt.Sprintf("step %.0f/s", target)
		stepSent0, t0 := g.Stats().Sent, time.Now()
		g.SetRate(max(target-hbPerS, 0))
		mo.runFor(ctx, cfg.StepDuration, genDone, nil)
		g.SetRate(0)
		stepEl := time.Since(t0).Seconds()
		stepSent := g.Stats().Sent - stepSent0
		mo.status = "settling"
		waitCtx(ctx, cfg.settle())
		if ctx.Err() != nil {
			// Interrupted: the step is incomplete; report the ones before.
			break
		}
		m, err := mo.scraper.Scrape(ctx)
		if err != nil {
			return rep, err
		}
		sent := g.Stats().Sent
		acc := m.Accepted - prev.Accepted
		s := StepResult{
			TargetPerS:  target,
			OfferedPerS: float64(stepSent) / stepEl,
			Offered:     sent - prevSent,
			Accepted:    acc,
		}
		s.LossPct = LossPct(float64(s.Offered), s.Accepted)
		s.AcceptedPerS = s.OfferedPerS * (1 - s.LossPct/100)
		if c := cpuPerMillion(m.CPUSeconds-prev.CPUSeconds, acc); c != nil {
			s.CPUSPerMillion = *c
		}
		rep.Steps = append(rep.Steps, s)
		lossless, stop, reason := RampVerdict(s, maxLoss)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "step %.0f/s: offered %.0f/s, accepted %.0f/s, loss %.3f%%, daemon %.2f CPU-s per million\n",
				target, s.OfferedPerS, s.AcceptedPerS, s.LossPct, s.CPUSPerMillion)
		}
		if lossless {
			best = len(rep.Steps) - 1
		}
		if stop {
			rep.StopReason = reason
			break
		}
		prev, prevSent = m, sent
	}
	window := time.Since(start)
	cancel()
	<-genDone
	if _, err := mo.finish(ctx, rep, window); err != nil {
		return rep, err
	}
	// The headline figures are the best lossless step's, not the average
	// over a ramp that ended in overload.
	rep.OfferedPerS, rep.AcceptedPerS, rep.LossPct, rep.DaemonCPUSPerMillion, rep.MaxLosslessPerS = nil, nil, nil, nil, nil
	for _, s := range rep.Steps {
		// What the harness showed it can send, to compare with the
		// daemon's limit.
		rep.HarnessSendPerS = ptr(max(s.OfferedPerS, deref0(rep.HarnessSendPerS)))
	}
	if best >= 0 {
		best := rep.Steps[best]
		rep.OfferedPerS = ptr(best.OfferedPerS)
		rep.AcceptedPerS = ptr(best.AcceptedPerS)
		rep.LossPct = ptr(best.LossPct)
		rep.DaemonCPUSPerMillion = ptr(best.CPUSPerMillion)
		rep.MaxLosslessPerS = ptr(best.OfferedPerS)
	} else {
		rep.warn("no step was lossless: lower -start")
	}
	if cfg.ShutdownRate > 0 {
		g.Shutdown(ctx, cfg.ShutdownRate)
	}
	return rep, ctx.Err()
}

// MemoryConfig configures RunMemory.
type MemoryConfig struct {
	Common
	History  int           // the daemon's history (samples kept per plugin per host)
	FillRate float64       // datagrams/s while filling the rings
	Timeout  time.Duration // cap on the whole run
}

// RunMemory measures the daemon's memory per host and per stored sample.
// It reads RSS on the fresh daemon, registers the hosts with heartbeats
// only and reads RSS "with hosts and empty rings", then sends History
// samples of each plugin per host (the paced heartbeats go on) and reads
// RSS again. bytes per host = ΔRSS(hosts) / hosts; bytes per sample =
// ΔRSS(fill) / Δhbd_samples_held, so samples lost in transit do not
// distort the figure.
func RunMemory(ctx context.Context, cfg MemoryConfig) (*Report, error) {
	return runMemory(ctx, cfg, nil, nil)
}

// runMemory is RunMemory; with a shared generator (RunFull's) it calls
// startShared once it has read the daemon's counters, where it would
// start a generator of its own, and never stops it: its caller runs it
// through this run and the next, so the fleet never falls silent between
// them.
func runMemory(ctx context.Context, cfg MemoryConfig, shared *Generator, startShared func()) (*Report, error) {
	if cfg.HTTPBase == "" {
		return nil, errors.New("memory: needs the daemon's HTTP base URL (-http) to read its RSS")
	}
	if cfg.History < 1 || cfg.FillRate <= 0 || cfg.Timeout <= 0 {
		return nil, fmt.Errorf("memory: need a positive history, fill rate and timeout (history %d, rate %g, timeout %s)", cfg.History, cfg.FillRate, cfg.Timeout)
	}
	if cfg.Gen.HeartbeatInterval <= 0 {
		return nil, errors.New("memory: need heartbeats to register the hosts")
	}
	cfg.Gen.SampleInterval = 0
	if len(cfg.Gen.RatePlugins) == 0 {
		cfg.Gen.RatePlugins = cfg.Gen.Plugins
	}
	if len(cfg.Gen.RatePlugins) == 0 {
		return nil, errors.New("memory: need plugins to fill the rings with")
	}
	rep, g, mo, release, err := beginWith(ctx, &cfg.Common, "memory", shared)
	if err != nil {
		return nil, err
	}
	defer release()
	m0 := mo.m0
	if m0.Hosts > 0 || m0.SamplesHeld > 0 {
		rep.warn("the daemon already held %.0f hosts and %.0f samples: start a fresh daemon for this scenario", m0.Hosts, m0.SamplesHeld)
	}
	start := time.Now()
	var genDone <-chan struct{} // nil, never done, for a shared generator
	stop := func() {}
	if shared == nil {
		genDone, stop = runGenerator(ctx, g, cfg.Timeout)
		defer stop()
	} else {
		startShared()
	}

	// Phase 1: hosts with empty rings.
	n := float64(cfg.Gen.Hosts)
	mo.status = "registering hosts"
	registered := func(m Metrics) bool { return m.Hosts >= m0.Hosts+n }
	mo.runFor(ctx, 2*cfg.Gen.HeartbeatInterval+10*time.Second, genDone, registered)
	// RSS lags allocation (the GC returns and the kernel maps pages in
	// their own time): let the daemon settle for a few seconds.
	waitCtx(ctx, 3*cfg.settle())
	m1, err := mo.scraper.Scrape(ctx)
	if err != nil {
		return rep, err
	}
	if !registered(m1) {
		rep.warn("only %.0f of %.0f hosts were registered", m1.Hosts-m0.Hosts, n)
	}
	rep.BytesPerHost = ptr((m1.RSSBytes - m0.RSSBytes) / max(m1.Hosts-m0.Hosts, 1))

	// Phase 2: fill every ring.
	want := n * float64(len(cfg.Gen.RatePlugins)) * float64(cfg.History)
	mo.status = fmt.Sprintf("filling %.0f samples", want)
	done := g.StartRounds(cfg.History, cfg.FillRate)
	mo.runFor(ctx, cfg.Timeout, done, nil)
	select {
	case <-done:
	default:
		return rep, fmt.Errorf("memory: the rings were not filled within %s", cfg.Timeout)
	}
	// Wait until the daemon has stored what is queued (samples held stops
	// moving). Samples lost on the way leave holes in some rings: send up
	// to topUpRounds more rounds, one at a time, to fill them.
	const topUpRounds = 3
	for round := 0; ; round++ {
		mo.status = "settling"
		last := -1.0
		stable := func(m Metrics) bool {
			s := m.SamplesHeld == last
			last = m.SamplesHeld
			return s
		}
		mo.runFor(ctx, 30*time.Second, nil, stable)
		if round == topUpRounds || ctx.Err() != nil {
			break
		}
		m, err := mo.scraper.Scrape(ctx)
		if err != nil {
			return rep, err
		}
		if m.SamplesHeld-m1.SamplesHeld >= want*0.999 {
			break
		}
		mo.status = fmt.Sprintf("top-up round %d: %.0f of %.0f held", round+1, m.SamplesHeld-m1.SamplesHeld, want)
		mo.runFor(ctx, cfg.Timeout, g.StartRounds(1, cfg.FillRate), nil)
	}
	waitCtx(ctx, 3*cfg.settle())
	window := time.Since(start)
	stop()
	m2, err := mo.finish(ctx, rep, window)
	if err != nil {
		return rep, err
	}
	held := m2.SamplesHeld - m1.SamplesHeld
	if held < want*0.99 {
		rep.warn("only %.0f of %.0f samples are held (loss while filling, or -history above the daemon's): bytes per sample is computed over those held", held, want)
	}
	if held > 0 {
		rep.BytesPerSample = ptr((m2.RSSBytes - m1.RSSBytes) / held)
	}
	if cfg.ShutdownRate > 0 && shared == nil {
		g.Shutdown(ctx, cfg.ShutdownRate)
	}
	return rep, ctx.Err()
}

// runGenerator runs g for d in the background: done is closed when its
// Run returns, and stop ends it and waits for that (safe to call twice).
func runGenerator(ctx context.Context, g *Generator, d time.Duration) (done <-chan struct{}, stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		g.Run(runCtx, d)
	}()
	return ch, sync.OnceFunc(func() {
		cancel()
		<-ch
	})
}

// FullConfig configures RunFull: a memory fill, then a load run against
// the daemon the fill left with full rings.
type FullConfig struct {
	Fill MemoryConfig
	Load LoadConfig
}

// RunFull is the fleet at its steady state: it fills every host's rings
// (RunMemory), then runs the load (RunLoad) on that daemon, and reports
// the load's figures with the fill's bytes per host and per sample. One
// generator, made from the fill's GenConfig, runs through both: the hosts
// keep their heartbeats, sender instances and sequence numbers from the
// fill into the load, which adds paced samples of the load's Plugins at
// its SampleInterval (PaceSamples) and its WebSocket and API readers. A
// fleet in its steady state neither reboots nor falls silent because its
// monitoring host's rings filled up, and a harness that restarted every
// agent between the phases measured its own gap (hosts SUSPECT, DOWN and
// paged) and the boot of 100,000 agents, not the steady state.
func RunFull(ctx context.Context, cfg FullConfig) (*Report, error) {
	if cfg.Load.Gen.SampleInterval <= 0 || len(cfg.Load.Gen.Plugins) == 0 {
		return nil, errors.New("full: the load needs paced samples (a sample interval and plugins)")
	}
	gen := cfg.Fill.Gen
	gen.SampleInterval = 0 // the load's samples come with PaceSamples
	if len(gen.RatePlugins) == 0 {
		gen.RatePlugins = gen.Plugins
	}
	gen.Plugins = nil
	g, err := NewGenerator(gen)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	// The fill starts it once it has read the fresh daemon's counters; it
	// runs until stop, however long the fill's top-ups take.
	stop := func() {}
	start := func() { _, stop = runGenerator(ctx, g, 365*24*time.Hour) }
	defer func() { stop() }()

	fill, err := runMemory(ctx, cfg.Fill, g, start)
	if err != nil {
		return fill, fmt.Errorf("fill: %w", err)
	}
	if err := g.PaceSamples(cfg.Load.Gen.SampleInterval, cfg.Load.Gen.Plugins); err != nil {
		return fill, err
	}
	rep, err := runLoad(ctx, cfg.Load, g, func() { stop() })
	if rep == nil {
		return fill, err
	}
	rep.Mode = "full"
	rep.BytesPerHost, rep.BytesPerSample = fill.BytesPerHost, fill.BytesPerSample
	rep.FillS, rep.FillLossPct = ptr(fill.DurationS), fill.LossPct
	for _, w := range fill.Warnings {
		rep.warn("fill: %s", w)
	}
	return rep, err
}

// MaxConfig configures RunMax: a sink measurement, then a ramp.
type MaxConfig struct {
	Ramp RampConfig
	Sink SinkConfig
}

// RunMax measures this machine's bare UDP receive rate with the sink
// (while the daemon idles), then ramps the daemon, and reports both and
// their ratio: how close the daemon gets to the physical limit.
func RunMax(ctx context.Context, cfg MaxConfig) (*Report, error) {
	cfg.Sink.Self = true
	if cfg.Ramp.Progress != nil {
		fmt.Fprintf(cfg.Ramp.Progress, "sink on %s for %s\n", cfg.Sink.Listen, cfg.Sink.Duration)
	}
	sink, err := RunSink(ctx, cfg.Sink)
	if err != nil {
		return nil, err
	}
	rep, err := RunRamp(ctx, cfg.Ramp)
	if rep != nil {
		rep.Mode = "max"
		rep.SinkPerS = ptr(sink.PerS)
		rep.SinkLossPct = ptr(sink.LossPct)
		rep.SinkTrials = sink.Trials
		if rep.MaxLosslessPerS != nil && sink.PerS > 0 {
			rep.MaxVsSink = ptr(*rep.MaxLosslessPerS / sink.PerS)
		}
	}
	return rep, err
}

// SinkReport turns a sink result into a report.
func SinkReport(scenario string, started time.Time, r SinkResult) *Report {
	rep := newReport(scenario, "sink", started)
	rep.DurationS = r.Seconds
	rep.SinkPerS = ptr(r.PerS)
	if r.Sent > 0 {
		rep.SinkLossPct = ptr(r.LossPct)
		rep.HarnessSendPerS = ptr(float64(r.Sent) / r.Seconds)
		rep.SinkTrials = r.Trials
	}
	if r.RecvBuffer < SinkRecvBuffer {
		rep.warn("the sink's receive buffer is %d bytes, not the %d asked for (net.core.rmem_max; run as root for SO_RCVBUFFORCE)", r.RecvBuffer, SinkRecvBuffer)
	}
	return rep
}

func deref0(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
