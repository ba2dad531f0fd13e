package alert

import (
	"testing"
	"time"
)

// cpuSample is a cpu_monitor data object as the agent sends it.
var cpuSample = []byte(`{"cpu_percent":42.5,"load_1min":0.52,"load_5min":0.61,"load_15min":0.58}`)

func BenchmarkEvaluate(b *testing.B) {
	hr := mustCompile(b,
		Rule{Metric: "cpu_monitor.cpu_percent", Warning: fp64(80), Critical: fp64(90), Op: OpGT, Hysteresis: 5},
		Rule{Metric: "cpu_monitor.load_1min", Warning: fp64(4), Critical: fp64(8), Op: OpGT},
	).ForHost("web1", true)
	calls := 0
	fn := func(string, *Rule, Value) { calls++ }
	b.SetBytes(int64(len(cpuSample)))
	b.ReportAllocs()
	for b.Loop() {
		if err := hr.Evaluate("cpu_monitor", cpuSample, fn); err != nil {
			b.Fatal(err)
		}
	}
	if calls != 2*b.N {
		b.Fatalf("%d calls for %d runs", calls, b.N)
	}
}

func BenchmarkEvaluateWildcard(b *testing.B) {
	// Wildcard matches build one path string per match.
	data := []byte(`{"/":{"total_gb":50,"used_gb":20,"percent":40},"/home":{"total_gb":500,"used_gb":455,"percent":91},` +
		`"/var":{"total_gb":100,"used_gb":10,"percent":10},"io":{"read_count":5,"write_count":7,"read_bytes_per_s":1.5}}`)
	hr := mustCompile(b,
		Rule{Metric: "disk_monitor.*.percent", Warning: fp64(80), Critical: fp64(90), Op: OpGT},
	).ForHost("db1", true)
	calls := 0
	fn := func(string, *Rule, Value) { calls++ }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := hr.Evaluate("disk_monitor", data, fn); err != nil {
			b.Fatal(err)
		}
	}
	if calls != 3*b.N {
		b.Fatalf("%d calls for %d runs", calls, b.N)
	}
}

func BenchmarkObserve(b *testing.B) {
	rule := Rule{Metric: "cpu_monitor.cpu_percent", Warning: fp64(80), Critical: fp64(90), Op: OpGT, Hysteresis: 5, For: time.Minute}
	b.Run("steady", func(b *testing.B) {
		tr := NewTracker(rule.Metric, t0)
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(10 * time.Second)
			tr.Observe(now, Number(42.5), &rule, FlapPolicy{})
		}
	})
	b.Run("changing", func(b *testing.B) {
		// A level change on every call, flapping most of the time.
		fast := rule
		fast.For = 0
		tr := NewTracker(rule.Metric, t0)
		now := t0
		vals := [2]Value{Number(95), Number(50)}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now = now.Add(10 * time.Second)
			tr.Observe(now, vals[i&1], &fast, FlapPolicy{})
			i++
		}
	})
}
