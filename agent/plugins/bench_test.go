package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

// benchmarkCollect measures steady-state Collect calls: the first call,
// which for cpu_monitor blocks for its measuring interval, runs before the
// timed loop.
func benchmarkCollect(b *testing.B, c Collector) {
	ctx := context.Background()
	if _, err := c.Collect(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		data, err := c.Collect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "sample-bytes")
}

// BenchmarkCPUCollect reads the real CPU times, but adds one second of
// idle time per call: back-to-back calls come faster than the kernel's
// counters tick (10 ms), and Collect would then honestly block for 200 ms
// to measure, which is not the steady state of an agent calling it every
// few seconds.
func BenchmarkCPUCollect(b *testing.B) {
	c := NewCPU().(*cpuCollector)
	var extraIdle float64
	c.times = func(ctx context.Context) (cpu.TimesStat, error) {
		t, err := totalCPUTimes(ctx)
		extraIdle++
		t.Idle += extraIdle
		return t, err
	}
	benchmarkCollect(b, c)
}

func BenchmarkMemoryCollect(b *testing.B)  { benchmarkCollect(b, NewMemory()) }
func BenchmarkDiskCollect(b *testing.B)    { benchmarkCollect(b, NewDisk()) }
func BenchmarkNetworkCollect(b *testing.B) { benchmarkCollect(b, NewNetwork()) }

// BenchmarkExecCollect is dominated by fork and exec of /bin/sh.
func BenchmarkExecCollect(b *testing.B) {
	benchmarkCollect(b, NewExec("bench", []string{"/bin/sh", "-c", `echo '{"a":1,"b":[1,2,3]}'`}, 10*time.Second))
}
