package plugins

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

func TestBusyPercent(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur cpu.TimesStat
		want      float64
		wantOK    bool
	}{
		{"idle", cpu.TimesStat{Idle: 100}, cpu.TimesStat{Idle: 200}, 0, true},
		{"fully busy", cpu.TimesStat{User: 10}, cpu.TimesStat{User: 60, System: 50}, 100, true},
		{"quarter busy", cpu.TimesStat{User: 100, Idle: 300}, cpu.TimesStat{User: 125, Idle: 375}, 25, true},
		{"iowait counts as idle", cpu.TimesStat{}, cpu.TimesStat{User: 10, Iowait: 30, Idle: 60}, 10, true},
		{"irq, softirq, steal and nice are busy", cpu.TimesStat{}, cpu.TimesStat{Nice: 1, Irq: 1, Softirq: 1, Steal: 1, Idle: 6}, 40, true},
		// Linux already counts guest time inside user and nice.
		{"guest not counted twice", cpu.TimesStat{User: 100, Guest: 50, Idle: 100}, cpu.TimesStat{User: 200, Guest: 100, Idle: 200}, 50, true},
		{"rounded to 2 decimals", cpu.TimesStat{}, cpu.TimesStat{User: 1, Idle: 2}, 33.33, true},
		{"busy dipped: clamp to 0", cpu.TimesStat{User: 50, Idle: 50}, cpu.TimesStat{User: 49, Idle: 151}, 0, true},
		{"no time passed", cpu.TimesStat{User: 5, Idle: 5}, cpu.TimesStat{User: 5, Idle: 5}, 0, false},
		{"counters went backwards", cpu.TimesStat{User: 5, Idle: 5}, cpu.TimesStat{User: 1, Idle: 1}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := busyPercent(tt.prev, tt.cur)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("busyPercent = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// scriptedCPU is a cpuCollector whose CPU times come from a list and whose
// first-interval wait is recorded instead of slept.
func scriptedCPU(t *testing.T, times ...cpu.TimesStat) (*cpuCollector, *[]time.Duration) {
	t.Helper()
	var waits []time.Duration
	c := NewCPU().(*cpuCollector)
	c.times = func(context.Context) (cpu.TimesStat, error) {
		if len(times) == 0 {
			t.Fatal("collector read CPU times more often than expected")
		}
		ts := times[0]
		times = times[1:]
		return ts, nil
	}
	c.wait = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	return c, &waits
}

func TestCPUPercentAcrossCollects(t *testing.T) {
	c, waits := scriptedCPU(t,
		cpu.TimesStat{User: 100, Idle: 900},  // first Collect, start of its interval
		cpu.TimesStat{User: 110, Idle: 990},  // end of the interval: 10 % busy
		cpu.TimesStat{User: 160, Idle: 1040}, // second Collect: 50 % since the first
		cpu.TimesStat{User: 160, Idle: 1040}, // third: no CPU time passed...
		cpu.TimesStat{User: 175, Idle: 1045}, // ...so it measures afresh: 75 %
	)
	ctx := context.Background()
	for i, want := range []float64{10, 50, 75} {
		data, err := c.Collect(ctx)
		if err != nil {
			t.Fatalf("Collect %d: %v", i+1, err)
		}
		if got := num(t, decodeObject(t, data), "cpu_percent"); got != want {
			t.Errorf("Collect %d: cpu_percent = %v, want %v", i+1, got, want)
		}
	}
	// Only the first and the third Collect had to measure over an interval.
	if len(*waits) != 2 || (*waits)[0] != firstCPUInterval || (*waits)[1] != firstCPUInterval {
		t.Errorf("waits = %v, want two of %v", *waits, firstCPUInterval)
	}
}

func TestCPUFirstCollectHonoursContext(t *testing.T) {
	c, _ := scriptedCPU(t, cpu.TimesStat{User: 1, Idle: 1})
	c.wait = waitCtx // the real wait, on an already cancelled context
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Collect(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Collect on a cancelled context: err = %v, want context.Canceled", err)
	}
	if c.havePrev {
		t.Error("a failed first measurement must not leave a previous sample behind")
	}
}

func TestCPUTimesError(t *testing.T) {
	c := NewCPU().(*cpuCollector)
	boom := errors.New("boom")
	c.times = func(context.Context) (cpu.TimesStat, error) { return cpu.TimesStat{}, boom }
	if _, err := c.Collect(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
}
