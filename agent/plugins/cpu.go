package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
)

// firstCPUInterval is how long the first Collect of a CPU collector blocks
// to measure cpu_percent, since it has no previous sample to compare with.
// 200 ms spans about 20 scheduler ticks at the usual 100 Hz, enough for a
// meaningful busy fraction while delaying the first sample only slightly.
const firstCPUInterval = 200 * time.Millisecond

// cpuSample is the cpu_monitor data object; field order is the JSON order.
type cpuSample struct {
	CPUPercent float64 `json:"cpu_percent"`
	Load1      float64 `json:"load_1min"`
	Load5      float64 `json:"load_5min"`
	Load15     float64 `json:"load_15min"`
	// FrequencyMHz is absent when the platform does not report a clock.
	FrequencyMHz *float64 `json:"frequency,omitempty"`
	Cores        int      `json:"cores"`
}

// cpuCollector is cpu_monitor. Its state (prev) belongs to Collect: it is
// not safe for concurrent Collect calls.
type cpuCollector struct {
	// times returns the CPU times summed over all CPUs; a field so tests
	// can feed fixed counters.
	times func(ctx context.Context) (cpu.TimesStat, error)
	// wait blocks for the first measurement interval; a field so tests of
	// the first Collect do not sleep.
	wait          func(ctx context.Context, d time.Duration) error
	firstInterval time.Duration

	prev     cpu.TimesStat
	havePrev bool
}

// NewCPU returns the cpu_monitor collector: {"cpu_percent", "load_1min",
// "load_5min", "load_15min", "frequency" (MHz, average over CPUs, absent if
// unknown), "cores" (logical CPUs)}. cpu_percent is the busy share of all
// CPUs since the previous Collect (over 200 ms on the first call).
func NewCPU() Collector {
	return &cpuCollector{
		times:         totalCPUTimes,
		wait:          waitCtx,
		firstInterval: firstCPUInterval,
	}
}

func totalCPUTimes(ctx context.Context) (cpu.TimesStat, error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return cpu.TimesStat{}, err
	}
	if len(ts) == 0 {
		return cpu.TimesStat{}, fmt.Errorf("no CPU times reported")
	}
	return ts[0], nil
}

func (c *cpuCollector) Name() string { return "cpu_monitor" }

func (c *cpuCollector) Collect(ctx context.Context) ([]byte, error) {
	pct, err := c.percent(ctx)
	if err != nil {
		return nil, fmt.Errorf("cpu_monitor: cannot measure cpu_percent: %w", err)
	}
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("cpu_monitor: cannot read load average: %w", err)
	}
	cores, err := cpu.CountsWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("cpu_monitor: cannot count CPUs: %w", err)
	}
	s := cpuSample{
		CPUPercent:   pct,
		Load1:        round2(avg.Load1),
		Load5:        round2(avg.Load5),
		Load15:       round2(avg.Load15),
		FrequencyMHz: averageMHz(ctx),
		Cores:        cores,
	}
	return json.Marshal(&s)
}

// percent returns the busy percentage since the previous call. When there
// is no usable previous sample (first call, or no CPU time has passed since,
// or the counters went backwards) it measures over firstInterval instead of
// guessing.
func (c *cpuCollector) percent(ctx context.Context) (float64, error) {
	cur, err := c.times(ctx)
	if err != nil {
		return 0, err
	}
	if c.havePrev {
		if p, ok := busyPercent(c.prev, cur); ok {
			c.prev = cur
			return p, nil
		}
	}
	if err := c.wait(ctx, c.firstInterval); err != nil {
		return 0, err
	}
	next, err := c.times(ctx)
	if err != nil {
		return 0, err
	}
	c.prev, c.havePrev = next, true
	p, ok := busyPercent(cur, next)
	if !ok {
		return 0, fmt.Errorf("CPU time counters did not advance in %v", c.firstInterval)
	}
	return p, nil
}

// cpuTotals returns all time and busy time of t, in seconds.
func cpuTotals(t cpu.TimesStat) (all, busy float64) {
	// Guest time is already counted in User (and GuestNice in Nice) by the
	// Linux kernel; elsewhere the fields are zero. Counting them twice
	// would skew the ratio.
	all = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	// I/O wait is idle time: the CPU was free to run something else.
	busy = all - t.Idle - t.Iowait
	return all, busy
}

// busyPercent returns the share of CPU time spent busy between two samples
// of the cumulative counters, in percent rounded to 2 decimals. ok is false
// when no CPU time passed between them or the counters went backwards.
func busyPercent(prev, cur cpu.TimesStat) (pct float64, ok bool) {
	allPrev, busyPrev := cpuTotals(prev)
	allCur, busyCur := cpuTotals(cur)
	dAll := allCur - allPrev
	if dAll <= 0 {
		return 0, false
	}
	// Busy time can dip slightly when the kernel moves ticks between
	// counters; that is 0 % busy, not an error.
	dBusy := min(max(busyCur-busyPrev, 0), dAll)
	return round2(dBusy / dAll * 100), true
}

// averageMHz returns the mean clock of the CPUs that report one, or nil.
// On Linux with cpufreq, gopsutil reports each CPU's maximum clock
// (cpuinfo_max_freq); without cpufreq it reports /proc/cpuinfo's current
// "cpu MHz".
func averageMHz(ctx context.Context) *float64 {
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		return nil
	}
	var sum float64
	var n int
	for _, in := range infos {
		if in.Mhz > 0 {
			sum += in.Mhz
			n++
		}
	}
	if n == 0 {
		return nil
	}
	f := round2(sum / float64(n))
	return &f
}
