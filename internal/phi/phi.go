// Package phi is the phi accrual failure detector of Hayashibara et al.
// ("The φ accrual failure detector", 2004), as Akka's
// PhiAccrualFailureDetector computes it: the inter-arrival times of a
// connection's recent heartbeats are taken as normally distributed, and
// the suspicion φ after a silence of t is -log10 of the probability that
// a live sender's next heartbeat comes later than t. φ = 1 means a live
// sender is this late one time in 10, φ = 3 one time in 1,000, φ = 8 one
// time in 10⁸.
//
// φ only grows while nothing arrives, so the caller needs no polling: it
// asks once per heartbeat when φ will cross a threshold (Window.Crossing)
// and arms a timer for that moment.
//
// The normal CDF is Akka's logistic approximation, with which φ has a
// closed-form inverse: φ(y) = log10(1 + e^g(y)) for y = (t - mean) / std
// and g(y) = y·(1.5976 + 0.070566·y²), a cubic that Cardano's formula
// inverts.
//
// A Window is one flat value without pointers; not safe for concurrent
// use: a window is owned by its host's actor.
package phi

import (
	"math"
	"time"
)

// Size is the most inter-arrival times a window holds. A window is one
// allocation of 80 bytes (a Go size class: 32 × 2 bytes of samples, the
// 8-byte sum of squares, the 4-byte sum and two 1-byte indexes), kept per
// connection of every host, so the bound is fixed rather than configured:
// a configured window (Params.Window) only uses fewer of the slots, to
// adapt faster.
const Size = 32

// PerInterval is the resolution of a stored sample: thousandths of the
// heartbeat interval (2 ms at 2 s, 10 ms at 10 s), so a sample fits 16
// bits. A window describes one interval; the caller empties it (Reset)
// when the interval changes.
const PerInterval = 1000

// MaxSample is the longest inter-arrival time a window stores, in
// thousandths of the interval (65.5 intervals): a longer gap is kept as
// that long, which is past any threshold.
const MaxSample = math.MaxUint16

// Window is the inter-arrival times of a connection's last heartbeats, in
// thousandths of the interval, with their running sum and sum of squares,
// so the mean and standard deviation are read in constant time. The zero
// value is empty.
type Window struct {
	v     [Size]uint16 // ring of inter-arrival times
	sumSq uint64       // Σ v² over the window: at most 32 × 65535²
	sum   uint32       // Σ v over the window: at most 32 × 65535
	head  uint8        // index of the oldest sample
	n     uint8        // samples in the window
}

// Add records one inter-arrival time d of a sender heartbeating every
// interval (> 0), keeping at most window samples (clamped to 1..Size):
// the oldest make room.
func (w *Window) Add(d, interval time.Duration, window int) {
	window = min(max(window, 1), Size)
	u := min(max(math.Round(float64(d)/float64(interval)*PerInterval), 0), MaxSample)
	for int(w.n) >= window {
		old := w.v[w.head]
		w.sum -= uint32(old)
		w.sumSq -= uint64(old) * uint64(old)
		w.head = (w.head + 1) % Size
		w.n--
	}
	v := uint16(u)
	w.v[(int(w.head)+int(w.n))%Size] = v
	w.n++
	w.sum += uint32(v)
	w.sumSq += uint64(v) * uint64(v)
}

// Len is how many samples the window holds.
func (w *Window) Len() int { return int(w.n) }

// Reset empties the window: the intervals it held no longer describe
// the sender (it changed its interval).
func (w *Window) Reset() { *w = Window{} }

// Stats are the mean and standard deviation of the window's samples, for
// a sender heartbeating every interval; both zero when it is empty.
func (w *Window) Stats(interval time.Duration) (mean, std time.Duration) {
	if w.n == 0 {
		return 0, 0
	}
	n := float64(w.n)
	m := float64(w.sum) / n
	v := float64(w.sumSq)/n - m*m
	if v < 0 {
		v = 0 // rounding
	}
	unit := float64(interval) / PerInterval
	return time.Duration(m * unit), time.Duration(math.Sqrt(v) * unit)
}

// Params are a detector's settings for one connection, in time rather
// than in heartbeat intervals: the caller scales them by the interval.
type Params struct {
	Window          int           // samples used, 1..Size
	MinSamples      int           // fewer samples than this: no reading (the caller's fixed rule applies)
	MinStd          time.Duration // floor of the standard deviation, so a very regular sender is not suspected at the first late millisecond
	AcceptablePause time.Duration // added to the mean for the DOWN threshold only (see Down)
}

// Model is the distribution a window's samples describe, as Params shape it.
type Model struct {
	Mean, Std time.Duration
}

// Model returns the window's distribution under p for a sender
// heartbeating every interval, and false when the window holds fewer
// than p.MinSamples samples.
func (w *Window) Model(p Params, interval time.Duration) (Model, bool) {
	if w.n == 0 || int(w.n) < p.MinSamples {
		return Model{}, false
	}
	mean, std := w.Stats(interval)
	return Model{Mean: mean, Std: max(std, p.MinStd, time.Millisecond)}, true
}

// Phi is the suspicion after elapsed without a heartbeat: -log10 of the
// probability that a live sender's next heartbeat is later than elapsed.
// Non-decreasing in elapsed.
func (m Model) Phi(elapsed time.Duration) float64 {
	y := float64(elapsed-m.Mean) / float64(m.Std)
	return softplus(g(y)) / math.Ln10
}

// Crossing is the elapsed time at which Phi reaches threshold (> 0): the
// moment a caller's timer must fire. Past it Phi(elapsed) >= threshold
// (up to float rounding, which the caller absorbs by checking Phi at the
// timer, not before).
func (m Model) Crossing(threshold float64) time.Duration {
	y := gInverse(softplusInverse(threshold * math.Ln10))
	t := float64(m.Mean) + y*float64(m.Std)
	if t >= float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(t))
}

// Shift is the model moved later by pause: the DOWN rule's, which grants
// a sender an acceptable pause (a lost heartbeat, a GC stop) on top of its
// usual interval before φ counts against it (Akka adds it to the mean).
func (m Model) Shift(pause time.Duration) Model {
	m.Mean += pause
	return m
}

// The logistic approximation's coefficients (Akka's).
const (
	ga = 1.5976
	gb = 0.070566
)

func g(y float64) float64 { return y * (ga + gb*y*y) }

// gInverse solves gb·y³ + ga·y - z = 0, whose only real root Cardano's
// formula gives (ga, gb > 0: g is strictly increasing).
func gInverse(z float64) float64 {
	p := ga / gb
	q := -z / gb
	d := math.Sqrt(q*q/4 + p*p*p/27)
	return math.Cbrt(-q/2+d) + math.Cbrt(-q/2-d)
}

// softplus is log(1 + e^x) without overflow for large x.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// softplusInverse is log(e^z - 1), for z > 0.
func softplusInverse(z float64) float64 {
	if z > 30 {
		return z + math.Log1p(-math.Exp(-z))
	}
	return math.Log(math.Expm1(z))
}
