package bench

import (
	"sync"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", []time.Duration{42}, 0.5, 42},
		{"one value p999", []time.Duration{42}, 0.999, 42},
		// ceil(0.5 * 4) = 2nd smallest.
		{"median of four", []time.Duration{10, 20, 30, 40}, 0.5, 20},
		{"p99 of four", []time.Duration{10, 20, 30, 40}, 0.99, 40},
		// ceil(0.5 * 5) = 3rd.
		{"median of five, unsorted", []time.Duration{50, 10, 40, 20, 30}, 0.5, 30},
		{"p1 is the minimum", []time.Duration{50, 10, 40, 20, 30}, 0.01, 10},
		{"p100 is the maximum", []time.Duration{50, 10, 40, 20, 30}, 1, 50},
		{"duplicates", []time.Duration{7, 7, 7, 9}, 0.75, 7},
		{"negative counts as 0", []time.Duration{-5, 3}, 0.5, 0},
		// 100 values 1..100: p99 = 99th, p99.9 = ceil(99.9) = 100th.
		{"p99 of 1..100", seq(1, 100), 0.99, 99},
		{"p999 of 1..100", seq(1, 100), 0.999, 100},
		{"p50 of 1..100", seq(1, 100), 0.5, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%g) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func seq(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i))
	}
	return out
}

// Above 256 ns values share buckets; a quantile must stay within the
// bucket's relative width (1/128) of the true value and never exceed the
// maximum.
func TestHistogramRelativeError(t *testing.T) {
	for _, v := range []time.Duration{300, 1234, 99999, 3 * time.Millisecond, 1234567890, 59 * time.Minute} {
		var h Histogram
		h.Record(v)
		got := h.Quantile(0.5)
		if got > v {
			t.Errorf("%v: quantile %v above the only value", v, got)
		}
		if rel := float64(v-got) / float64(v); rel > 1.0/histSub {
			t.Errorf("%v: quantile %v off by %.4f, more than 1/%d", v, got, rel, histSub)
		}
	}
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -1.0/histSub || d > 1.0/histSub {
			t.Errorf("Quantile(%g) = %v, want %v within 1/%d", c.q, got, c.want, histSub)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value lies within its bucket's bounds, buckets are contiguous
	// and no bucket is wider than 1/128 of its lower bound.
	prevHi := uint64(0)
	for i := 0; i < histBuckets; i++ {
		lo, hi := histBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo || (lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12) {
			t.Fatalf("bucket %d = [%d, %d] too wide", i, lo, hi)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but index(lo)=%d index(hi)=%d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
		prevHi = hi
	}
	// Record takes non-negative int64 nanoseconds.
	if prevHi != 1<<63-1 {
		t.Fatalf("buckets end at %d, not at the largest int64", prevHi)
	}
}

func TestHistogramSummary(t *testing.T) {
	var h Histogram
	if h.Summary() != nil {
		t.Fatal("an empty histogram must summarise to nil (not measured)")
	}
	for range 1000 {
		h.Record(2 * time.Millisecond)
	}
	h.Record(40 * time.Millisecond)
	s := h.Summary()
	if s.N != 1001 || s.P50 < 1.99 || s.P50 > 2.01 || s.P999 < 1.99 || s.P999 > 2.01 {
		t.Fatalf("summary %+v", s)
	}
	if h.Max() != 40*time.Millisecond {
		t.Fatalf("max %v", h.Max())
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 8000 {
		t.Fatalf("count %d, want 8000", h.Count())
	}
	if q := h.Quantile(1); q > h.Max() || h.Max() != 7999 {
		t.Fatalf("max %v, p100 %v", h.Max(), q)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
}
