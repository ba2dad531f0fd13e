package bench

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestSampleShapesAndWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWalk(r)
	for _, p := range []Plugin{PluginCPU, PluginMemory, PluginDisk, PluginNetwork} {
		t.Run(p.Name(), func(t *testing.T) {
			distinct := map[string]bool{}
			var prevSent float64
			for i := range 20 {
				b := w.appendSample(nil, p, r, 30)
				checkShape(t, p.Name(), b)
				distinct[string(b)] = true
				if p == PluginNetwork {
					var m struct {
						Interfaces map[string]struct {
							BytesSent float64 `json:"bytes_sent"`
						} `json:"interfaces"`
					}
					if err := json.Unmarshal(b, &m); err != nil {
						t.Fatal(err)
					}
					// Counters are cumulative, as the agent's are.
					if s := m.Interfaces["eth0"].BytesSent; i > 0 && s < prevSent {
						t.Fatalf("bytes_sent went back from %v to %v", prevSent, s)
					} else {
						prevSent = s
					}
				}
			}
			if len(distinct) < 19 {
				t.Errorf("only %d distinct samples in 20: the values do not move", len(distinct))
			}
		})
	}
}

func TestSampleCPU4(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWalk(r)
	var m map[string]float64
	if err := json.Unmarshal(w.appendSample(nil, PluginCPU4, r, 30), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 4 || m["cpu_percent"] <= 0 || m["cpu_percent"] >= 100 {
		t.Fatalf("four-value sample %v", m)
	}
}

func TestStandardPlugins(t *testing.T) {
	ps, err := StandardPlugins(4)
	if err != nil || len(ps) != 4 || ps[0].Name() != "cpu_monitor" || ps[3].Name() != "network_monitor" {
		t.Fatalf("StandardPlugins(4) = %v, %v", ps, err)
	}
	if ps, err := StandardPlugins(0); err != nil || len(ps) != 0 {
		t.Fatalf("StandardPlugins(0) = %v, %v", ps, err)
	}
	if _, err := StandardPlugins(5); err == nil {
		t.Fatal("StandardPlugins(5) accepted")
	}
}

func TestSampleNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWalk(r)
	b := make([]byte, 0, 4096)
	for _, p := range []Plugin{PluginCPU, PluginMemory, PluginDisk, PluginNetwork, PluginCPU4} {
		if n := testing.AllocsPerRun(100, func() { b = w.appendSample(b[:0], p, r, 30) }); n != 0 {
			t.Errorf("%s: %v allocations per sample", p.Name(), n)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	for _, p := range []Plugin{PluginCPU4, PluginNetwork} {
		b.Run(p.Name(), func(b *testing.B) {
			b.ReportAllocs()
			r := rand.New(rand.NewPCG(1, 2))
			w := newWalk(r)
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				buf = w.appendSample(buf[:0], p, r, 30)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
