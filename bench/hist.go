package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values (nanoseconds) below 2*histSub are counted
// exactly; above that every power of two is split into histSub buckets, so a
// bucket is at most 1/histSub = 0.8 % wide relative to its value. 128 buckets
// per octave over the non-negative int64 range is 7,296 counters (57 KiB), small
// enough to keep one per route and per measurement.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

// Histogram counts durations in log-linear buckets. Record is lock-free and
// safe for concurrent use; quantiles read while Record runs are a consistent
// enough snapshot for a progress line and exact once recording has stopped.
// The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64 // nanoseconds
}

// histIndex returns the bucket of v >= 0 (nanoseconds).
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	// e is the shift that brings v into [histSub, 2*histSub).
	e := bits.Len64(v) - (histSubBits + 1)
	return (e+1)*histSub + int(v>>uint(e)) - histSub
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	e := uint(i/histSub - 1)
	m := uint64(i%histSub + histSub)
	return m << e, (m+1)<<e - 1
}

// Record adds one duration. Negative durations count as 0: they can only
// come from rounding in a timestamp, never from a real wait.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest recorded value (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 < q <= 1) of the recorded values: the
// smallest recorded value v such that at least ceil(q*n) values are <= v,
// reported as the middle of v's bucket (exact below 256 ns, within 0.4 %
// above). It is never more than Max. It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	return h.quantiles([]float64{q})[0]
}

// quantiles computes several quantiles in one pass over the buckets; qs must
// be ascending.
func (h *Histogram) quantiles(qs []float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	// Sum the buckets rather than trusting n: Record bumps the bucket
	// before n, and a concurrent reader must not chase a rank it cannot
	// reach.
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return out
	}
	mx := h.max.Load()
	var cum uint64
	j := 0
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		cum += c
		for j < len(qs) && cum >= rank(qs[j], total) {
			lo, hi := histBounds(i)
			mid := int64(lo + (hi-lo)/2)
			out[j] = time.Duration(min(mid, max(mx, int64(lo))))
			j++
		}
		if j == len(qs) {
			break
		}
	}
	return out
}

// rank is the 1-based rank of the q-quantile among n values: ceil(q*n),
// clamped to 1..n.
func rank(q float64, n uint64) uint64 {
	r := uint64(math.Ceil(q * float64(n)))
	return min(max(r, 1), n)
}

// Quantiles are the latency percentiles a report carries, in milliseconds.
type Quantiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	// N is how many values they summarise; p999 means little below 1,000.
	N uint64 `json:"n"`
}

// Summary returns p50, p99 and p99.9 in milliseconds, or nil when nothing
// was recorded (a report then says null: not measured, rather than 0).
func (h *Histogram) Summary() *Quantiles {
	qs := h.quantiles([]float64{0.5, 0.99, 0.999})
	n := h.Count()
	if n == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return &Quantiles{P50: ms(qs[0]), P99: ms(qs[1]), P999: ms(qs[2]), N: n}
}
