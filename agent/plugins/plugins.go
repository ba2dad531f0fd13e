package plugins

import (
	"context"
	"math"
	"time"
)

// Collector gathers one sample. Collect is called from one goroutine at a
// time per collector (the agent runs each plugin on its own ticker), but
// different collectors run concurrently.
type Collector interface {
	// Name is the plugin name the samples are stored under (cpu_monitor ...).
	Name() string
	// Collect returns the sample's data as a JSON object (encoded bytes,
	// starting with '{'). It honours ctx's deadline and cancellation.
	Collect(ctx context.Context) ([]byte, error)
}

// Binary size units used for every *_mb and *_gb field.
const (
	bytesPerMB = 1 << 20
	bytesPerGB = 1 << 30
)

// round2 rounds to 2 decimals: the web pages display these numbers as they
// come, and more digits are noise that also inflates every datagram.
func round2(x float64) float64 {
	return math.Round(x*100) / 100
}

// toMB converts bytes to MB (2^20 bytes) rounded to 2 decimals.
func toMB(b uint64) float64 { return round2(float64(b) / bytesPerMB) }

// toGB converts bytes to GB (2^30 bytes) rounded to 2 decimals.
func toGB(b uint64) float64 { return round2(float64(b) / bytesPerGB) }

// ratePerSecond returns how fast a monotonically increasing counter grew
// from prev to cur over elapsed, per second, rounded to 2 decimals.
// ok is false when no honest rate exists: no time passed (or the clock went
// backwards), or the counter went backwards, which means it was reset (a
// re-created interface, a driver reload) or wrapped. The caller then omits
// the rate instead of reporting a made-up number.
func ratePerSecond(prev, cur uint64, elapsed time.Duration) (rate float64, ok bool) {
	if elapsed <= 0 || cur < prev {
		return 0, false
	}
	return round2(float64(cur-prev) / elapsed.Seconds()), true
}

// optRate is ratePerSecond as a pointer, nil when there is no rate, so that
// a struct field tagged omitempty drops it from the JSON.
func optRate(prev, cur uint64, elapsed time.Duration) *float64 {
	r, ok := ratePerSecond(prev, cur, elapsed)
	if !ok {
		return nil
	}
	return &r
}

// waitCtx blocks for d or until ctx is done, whichever comes first.
func waitCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
