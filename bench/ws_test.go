package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// base is the sample timestamp used in the frames below: 2023-11-14 22:13:20 UTC.
const baseMS = 1700000000000

func TestPluginLatency(t *testing.T) {
	now := time.UnixMilli(baseMS + 5)
	tests := []struct {
		name string
		msg  string
		want time.Duration
		ok   bool
	}{
		{"compact", `{"type":"plugin","data":{"host":"bench-000001","plugin":"cpu_monitor","data":{"cpu_percent":1.5},"timestamp":1700000000.000}}`, 5 * time.Millisecond, true},
		{"spaced", `{"type": "plugin", "data": {"host": "bench-000002", "plugin": "x", "data": {}, "timestamp": 1700000000.002}}`, 3 * time.Millisecond, true},
		{"timestamp first", `{"type":"plugin","data":{"timestamp":1700000000.001,"host":"bench-000003","plugin":"x","data":{}}}`, 4 * time.Millisecond, true},
		{"exponent", `{"type":"plugin","data":{"host":"bench-000001","timestamp":1.700000000004e9}}`, time.Millisecond, true},
		{"key name as a value first", `{"type":"plugin","data":{"plugin":"host","host":"bench-000001","timestamp":1700000000.000}}`, 5 * time.Millisecond, true},
		{"another host", `{"type":"plugin","data":{"host":"web-01","plugin":"x","data":{},"timestamp":1700000000.000}}`, 0, false},
		{"host frame", `{"type":"host","data":{"name":"bench-000001","state":"UP"}}`, 0, false},
		{"no timestamp", `{"type":"plugin","data":{"host":"bench-000001","plugin":"x","data":{}}}`, 0, false},
		{"bad timestamp", `{"type":"plugin","data":{"host":"bench-000001","timestamp":"soon"}}`, 0, false},
		{"empty", ``, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pluginLatency([]byte(tt.msg), "bench-", now)
			if ok != tt.ok || got != tt.want {
				t.Errorf("pluginLatency = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMeasureFrame(t *testing.T) {
	msg := func(host string, ms int) string {
		return `{"type":"plugin","data":{"host":"` + host + `","plugin":"cpu_monitor","data":{},"timestamp":1700000000.` + strings.Repeat("0", 3-len(itoa(ms))) + itoa(ms) + `}}`
	}
	now := time.UnixMilli(baseMS + 10)
	tests := []struct {
		name  string
		frame string
		n     int
	}{
		{"one", msg("bench-1", 0), 1},
		{"ndjson", msg("bench-1", 0) + "\n" + msg("other", 0) + "\n" + msg("bench-2", 4) + "\n", 2},
		{"array", "[" + msg("bench-1", 0) + "," + msg("bench-2", 1) + "]", 2},
		{"broken array", "[" + msg("bench-1", 0), 0},
		{"blank", "  \n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			if n := measureFrame([]byte(tt.frame), "bench-", now, &h, nil); n != tt.n || h.Count() != uint64(tt.n) {
				t.Errorf("measured %d (histogram %d), want %d", n, h.Count(), tt.n)
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestRunWS runs the clients against a real WebSocket server that sends
// plugin frames, drops the first connection and keeps the second.
func TestRunWS(t *testing.T) {
	var conns atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hbd" {
			http.NotFound(w, r)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		first := conns.Add(1) == 1
		frames := []string{
			`{"type":"host","data":{"name":"bench-000001","state":"UP"}}`,
			`{"type":"plugin","data":{"host":"bench-000001","plugin":"cpu_monitor","data":{"cpu_percent":3},"timestamp":1700000000.000}}`,
			`{"type":"plugin","data":{"host":"db-1","plugin":"cpu_monitor","data":{},"timestamp":1700000000.000}}`,
			`{"type":"plugin","data":{"host":"bench-000002","plugin":"disk_monitor","data":{},"timestamp":1700000000.000}}` + "\n" +
				`{"type":"plugin","data":{"host":"bench-000003","plugin":"disk_monitor","data":{},"timestamp":1700000000.000}}`,
		}
		if !first {
			frames = frames[1:2]
		}
		for _, f := range frames {
			if err := c.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
				return
			}
		}
		if first {
			return // the daemon cutting a client off
		}
		// Keep the second connection until the client closes it.
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(t.Context())
	var h, steady Histogram
	var st WSStats
	done := make(chan struct{})
	// The first connection's four frames arrive 7 ms after their samples,
	// before the steady state; the second's one 9 ms after, in it.
	var reads atomic.Int32
	now := func() time.Time {
		if reads.Add(1) <= 4 {
			return time.UnixMilli(baseMS + 7)
		}
		return time.UnixMilli(baseMS + 9)
	}
	go func() {
		defer close(done)
		RunWS(ctx, WSConfig{
			URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/hbd", Clients: 1, HostPrefix: "bench-",
			Now: now, Retry: 10 * time.Millisecond, Steady: &steady, SteadyFrom: time.UnixMilli(baseMS + 8),
		}, &h, &st)
	}()
	// Three bench messages on the first connection, one on the second.
	eventually(t, func() bool { return st.Measured.Load() >= 4 })
	cancel()
	<-done
	if got := st.Measured.Load(); got != 4 {
		t.Fatalf("measured %d messages, want 4", got)
	}
	if st.Frames.Load() != 5 || st.Connects.Load() != 2 || st.Disconnects.Load() != 1 {
		t.Fatalf("frames %d, connects %d, disconnects %d; want 5, 2, 1", st.Frames.Load(), st.Connects.Load(), st.Disconnects.Load())
	}
	// The histograms report latencies within their bucket width (1/128).
	near := func(got, want time.Duration) bool { return got >= want*127/128 && got <= want }
	if got := h.Quantile(0.01); !near(got, 7*time.Millisecond) {
		t.Fatalf("Quantile(0.01) = %v, want 7 ms", got)
	}
	if got := h.Quantile(1); !near(got, 9*time.Millisecond) {
		t.Fatalf("Quantile(1) = %v, want 9 ms", got)
	}
	if got := steady.Count(); got != 1 {
		t.Fatalf("steady state: %d latencies, want the second connection's 1", got)
	}
	if got := steady.Quantile(0.01); !near(got, 9*time.Millisecond) {
		t.Fatalf("steady state: Quantile(0.01) = %v, want 9 ms", got)
	}
}

// eventually polls cond until it holds or 10 s pass. It waits for I/O
// between processes to complete, not for time to pass: cond becomes true
// as soon as the bytes have been handled.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		<-tick.C
	}
}
