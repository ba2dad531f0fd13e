package phi

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

const interval = 2 * time.Second

// params are the daemon's defaults for a 2 s interval: 32 samples, 8 at
// least, a tenth of the interval as the least std, one interval of pause.
var params = Params{Window: 32, MinSamples: 8, MinStd: interval / 10, AcceptablePause: interval}

// series are inter-arrival times as a daemon sees them, from a seeded
// generator so that every run sees the same ones: the agent's timer
// fires every interval ±10 % (uniform); a jittery path adds normal delay
// to each arrival; a lossy one also loses heartbeats, whose neighbours
// then arrive two or more intervals apart.
func series(n int, seed uint64, jitter time.Duration, lossPct float64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []time.Duration
	sent, lastArrival := time.Duration(0), time.Duration(-1)
	for len(out) < n {
		sent += time.Duration(float64(interval) * (0.9 + 0.2*r.Float64()))
		if r.Float64()*100 < lossPct {
			continue
		}
		arrival := sent + time.Duration(math.Abs(r.NormFloat64())*float64(jitter))
		if lastArrival >= 0 && arrival > lastArrival {
			out = append(out, arrival-lastArrival)
		}
		lastArrival = max(arrival, lastArrival)
	}
	return out
}

func fill(s []time.Duration) *Window {
	w := new(Window)
	for _, d := range s {
		w.Add(d, interval, params.Window)
	}
	return w
}

// TestSeries: what the detector makes of each kind of host. A clean host
// is SUSPECT (φ 3) well within two intervals and DOWN (φ 8 with the
// pause) before the fixed rule's three; a lossy, jittery one is given
// more time, so its lost heartbeats do not make it SUSPECT; and a real
// death is seen: φ passes every threshold as the silence grows.
func TestSeries(t *testing.T) {
	for _, c := range []struct {
		name                   string
		s                      []time.Duration
		suspectMin, suspectMax float64 // SUSPECT crossing, in intervals
		downMin, downMax       float64 // DOWN crossing, in intervals
	}{
		{"clean", series(200, 1, 0, 0), 1.2, 1.5, 2.3, 2.7},
		{"jittery", series(200, 2, 300*time.Millisecond, 0), 1.3, 1.9, 2.3, 3.0},
		{"lossy", series(200, 3, 300*time.Millisecond, 10), 1.9, 3.5, 3.0, 5.5},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := fill(c.s)
			m, ok := w.Model(params, interval)
			if !ok {
				t.Fatal("no model after 200 samples")
			}
			sus := float64(m.Crossing(3)) / float64(interval)
			down := float64(m.Shift(params.AcceptablePause).Crossing(8)) / float64(interval)
			t.Logf("mean %s std %s: SUSPECT at %.2f intervals, DOWN at %.2f", m.Mean, m.Std, sus, down)
			if sus < c.suspectMin || sus > c.suspectMax {
				t.Errorf("SUSPECT after %.2f intervals, want %.1f..%.1f", sus, c.suspectMin, c.suspectMax)
			}
			if down < c.downMin || down > c.downMax {
				t.Errorf("DOWN after %.2f intervals, want %.1f..%.1f", down, c.downMin, c.downMax)
			}
			// False suspicion: how many of the series' own gaps would
			// have crossed each threshold (the window as it was then).
			var win Window
			suspected, downed := 0, 0
			for _, d := range c.s {
				if m, ok := win.Model(params, interval); ok {
					if m.Phi(d) >= 3 {
						suspected++
					}
					if m.Shift(params.AcceptablePause).Phi(d) >= 8 {
						downed++
					}
				}
				win.Add(d, interval, params.Window)
			}
			t.Logf("%d of %d gaps SUSPECT, %d DOWN", suspected, len(c.s), downed)
			if downed != 0 {
				t.Errorf("%d of the gaps of a live host crossed the DOWN threshold", downed)
			}
			if c.name == "clean" && suspected != 0 {
				t.Errorf("%d gaps of a clean host were SUSPECT", suspected)
			}
		})
	}

	t.Run("death", func(t *testing.T) {
		// A clean host stops: φ rises with the silence, through every
		// threshold, and does not stop rising.
		m, _ := fill(series(40, 4, 0, 0)).Model(params, interval)
		prev := -1.0
		for e := time.Duration(0); e <= 3*interval; e += 100 * time.Millisecond {
			p := m.Phi(e)
			if p < prev {
				t.Fatalf("phi fell from %.3f to %.3f at %s", prev, p, e)
			}
			prev = p
		}
		if prev < 100 {
			t.Fatalf("phi after 3 intervals of silence is %.2f, want > 100", prev)
		}
		if p := m.Phi(m.Mean); p < 0.29 || p > 0.31 {
			t.Fatalf("phi at the mean is %.3f, want log10(2)", p)
		}
	})
}

// TestCrossingInvertsPhi: Crossing(x) is where Phi reaches x, for every
// threshold a config allows and beyond.
func TestCrossingInvertsPhi(t *testing.T) {
	m := Model{Mean: 2 * time.Second, Std: 150 * time.Millisecond}
	for _, x := range []float64{0.5, 1, 2, 3, 5, 8, 12, 16, 50, 300} {
		c := m.Crossing(x)
		if p := m.Phi(c); math.Abs(p-x) > 1e-6*x {
			t.Errorf("Phi(Crossing(%v) = %s) = %v", x, c, p)
		}
		if p := m.Phi(c - time.Microsecond); p >= x {
			t.Errorf("Phi just before Crossing(%v) is already %v", x, p)
		}
	}
}

func TestWindowBoundsAndStats(t *testing.T) {
	var w Window
	if _, ok := w.Model(params, interval); ok {
		t.Fatal("an empty window has a model")
	}
	for i := range 7 {
		w.Add(time.Second, interval, 32)
		if _, ok := w.Model(params, interval); ok {
			t.Fatalf("a model after %d samples, min is 8", i+1)
		}
	}
	for range 100 {
		w.Add(time.Second, interval, 4)
		w.Add(3*time.Second, interval, 4)
	}
	if w.Len() != 4 {
		t.Fatalf("window holds %d, want 4", w.Len())
	}
	mean, std := w.Stats(interval)
	if mean != 2*time.Second || std != time.Second {
		t.Fatalf("mean %s std %s, want 2s and 1s", mean, std)
	}
	w.Add(-time.Second, interval, 4) // clamped, not wrapped
	w.Add(time.Duration(1<<62), interval, 4)
	if mean, _ := w.Stats(interval); mean <= 0 || mean > 65536*interval/PerInterval {
		t.Fatalf("mean %s after clamped samples", mean)
	}
	w.Reset()
	if w.Len() != 0 {
		t.Fatal("Reset left samples")
	}
	// The floor on std: a perfectly regular sender.
	for range 10 {
		w.Add(time.Second, interval, 32)
	}
	if m, _ := w.Model(Params{MinSamples: 1, MinStd: 100 * time.Millisecond}, interval); m.Std != 100*time.Millisecond {
		t.Fatalf("std %s, want the 100ms floor", m.Std)
	}
	// The resolution: a thousandth of the interval.
	w.Reset()
	w.Add(2*time.Second+900*time.Microsecond, interval, 32)
	if mean, _ := w.Stats(interval); mean != 2*time.Second {
		t.Fatalf("2.0009s at a 2s interval is stored as %s, want 2s (2 ms steps)", mean)
	}
	w.Add(time.Hour, 10*time.Second, 32) // 360 intervals: kept as 65.5
	if n := unsafe.Sizeof(Window{}); n > 80 {
		t.Fatalf("Window is %d bytes, over its 80-byte size class", n)
	}
}

// FuzzPhiMonotonic: for any window and any two silences, the longer one
// is at least as suspicious, and a threshold's crossing is past the point
// where φ is below it.
func FuzzPhiMonotonic(f *testing.F) {
	f.Add(uint64(1), int64(2000), int64(2100), uint16(8), 3.0)
	f.Add(uint64(7), int64(0), int64(1), uint16(32), 8.0)
	f.Add(uint64(9), int64(50000), int64(1<<40), uint16(1), 0.5)
	f.Fuzz(func(t *testing.T, seed uint64, a, b int64, n uint16, thr float64) {
		r := rand.New(rand.NewPCG(seed, 2))
		var w Window
		for range int(n%100) + 1 {
			w.Add(time.Duration(r.Int64N(int64(time.Hour))), time.Minute, int(n%40))
		}
		m, ok := w.Model(Params{MinSamples: 1, MinStd: time.Duration(r.Int64N(int64(time.Second)))}, time.Minute)
		if !ok {
			t.Fatal("no model with MinSamples 1")
		}
		a, b = min(a, b), max(a, b)
		pa, pb := m.Phi(time.Duration(a)), m.Phi(time.Duration(b))
		if math.IsNaN(pa) || math.IsNaN(pb) || pa > pb {
			t.Fatalf("phi(%d) = %v > phi(%d) = %v (mean %s std %s)", a, pa, b, pb, m.Mean, m.Std)
		}
		if thr > 0.01 && thr < 1000 {
			c := m.Crossing(thr)
			if before := m.Phi(c - time.Millisecond); before >= thr*(1+1e-9) {
				t.Fatalf("phi %v before Crossing(%v) = %s", before, thr, c)
			}
			if at := m.Phi(c); at < thr*(1-1e-6) {
				t.Fatalf("phi %v at Crossing(%v) = %s", at, thr, c)
			}
		}
	})
}
