package plugins

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRatePerSecond(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		elapsed   time.Duration
		want      float64
		wantOK    bool
	}{
		{"steady", 1000, 3000, 2 * time.Second, 1000, true},
		{"idle counter is a real zero", 500, 500, 10 * time.Second, 0, true},
		{"fraction rounded to 2 decimals", 0, 10, 3 * time.Second, 3.33, true},
		{"sub-second interval", 0, 100, 250 * time.Millisecond, 400, true},
		{"large counters keep precision", 1 << 50, 1<<50 + 1<<20, time.Second, 1 << 20, true},
		{"counter reset", 5000, 10, time.Second, 0, false},
		{"no time passed", 0, 10, 0, 0, false},
		{"clock went backwards", 0, 10, -time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ratePerSecond(tt.prev, tt.cur, tt.elapsed)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ratePerSecond(%d, %d, %v) = %v, %v; want %v, %v", tt.prev, tt.cur, tt.elapsed, got, ok, tt.want, tt.wantOK)
			}
			if p := optRate(tt.prev, tt.cur, tt.elapsed); (p != nil) != tt.wantOK || (p != nil && *p != tt.want) {
				t.Errorf("optRate(%d, %d, %v) = %v; want present=%v value %v", tt.prev, tt.cur, tt.elapsed, p, tt.wantOK, tt.want)
			}
		})
	}
}

func TestUnitConversions(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"round2 down", round2(1.234), 1.23},
		{"round2 up", round2(1.235001), 1.24},
		{"1 MB is 2^20 bytes", toMB(1 << 20), 1},
		{"MB rounded", toMB(1<<20 + 1<<19 + 1<<14), 1.52},
		{"1 GB is 2^30 bytes", toGB(3 << 30), 3},
		{"GB rounded", toGB(1 << 30 / 3), 0.33},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// fakeClock returns the times it is given, one per call, so rate tests
// control elapsed time exactly.
type fakeClock struct {
	t     time.Time
	steps []time.Duration
}

func (c *fakeClock) now() time.Time {
	if len(c.steps) > 0 {
		c.t = c.t.Add(c.steps[0])
		c.steps = c.steps[1:]
	}
	return c.t
}

// decodeObject decodes a collector's output, checking it is one JSON
// object; numbers stay json.Number so tests can tell integers apart.
func decodeObject(t *testing.T, data []byte) map[string]any {
	t.Helper()
	if len(data) == 0 || data[0] != '{' {
		t.Fatalf("output does not start with '{': %q", data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("output is not a JSON object: %v: %s", err, data)
	}
	if dec.More() {
		t.Fatalf("trailing data after the object: %s", data)
	}
	return m
}

// sub returns m[key] as an object.
func sub(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("key %q is %T (%v), want an object; in %v", key, m[key], m[key], m)
	}
	return v
}

// num returns m[key] as a float64.
func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("key %q is %T (%v), want a number; in %v", key, m[key], m[key], m)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	return f
}

// counter returns m[key], which must be a non-negative integer.
func counter(t *testing.T, m map[string]any, key string) uint64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("key %q is %T (%v), want an integer; in %v", key, m[key], m[key], m)
	}
	var u uint64
	if err := json.Unmarshal([]byte(n), &u); err != nil {
		t.Fatalf("key %q = %s is not a non-negative integer: %v", key, n, err)
	}
	return u
}

// checkKeys fails unless m has exactly the keys want.
func checkKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

func checkPercent(t *testing.T, what string, p float64) {
	t.Helper()
	if p < 0 || p > 100 {
		t.Errorf("%s = %v, want within 0..100", what, p)
	}
}
