package limits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// logLines captures a logger's output as decoded JSON lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// take returns the lines written since the last call.
func (l *logLines) take(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(b) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("log line %q: %v", b, err)
		}
		out = append(out, m)
	}
	l.buf.Reset()
	return out
}

// One source is logged on its first refusal and then at most once per
// LogEvery, with the refusals since its previous line; every refusal is
// counted.
func TestRefusalLoggedOncePerPeriod(t *testing.T) {
	var log logLines
	r := NewRefusals(Options{Logger: log.logger()})
	src := Source{Addr: netip.MustParseAddr("10.0.0.7"), Host: "web01"}
	r.Refuse(t0, PluginsPerHost, src, "refused", "max", 64)
	lines := log.take(t)
	if len(lines) != 1 {
		t.Fatalf("first refusal: %d lines, want 1", len(lines))
	}
	l := lines[0]
	if l["msg"] != "refused" || l["limit"] != "plugins_per_host" || l["source"] != "10.0.0.7" || l["host"] != "web01" ||
		l["max"] != float64(64) || l["refused"] != float64(1) || l["total"] != float64(1) || l["level"] != "WARN" {
		t.Errorf("line %v", l)
	}
	for i := 1; i < 100; i++ {
		r.Refuse(t0.Add(time.Duration(i)*500*time.Millisecond), PluginsPerHost, src, "refused")
	}
	if lines := log.take(t); len(lines) != 0 {
		t.Fatalf("%d lines within the minute, want none: %v", len(lines), lines)
	}
	if n := r.Count(PluginsPerHost); n != 100 {
		t.Errorf("Count = %d, want 100", n)
	}
	r.Refuse(t0.Add(time.Minute), PluginsPerHost, src, "refused")
	lines = log.take(t)
	if len(lines) != 1 || lines[0]["refused"] != float64(100) || lines[0]["total"] != float64(101) {
		t.Fatalf("after a minute: %v, want one line with refused=100 total=101", lines)
	}
	// Another limit of the same source has its own line.
	r.Refuse(t0.Add(time.Minute), KeysPerSample, src, "refused")
	if lines := log.take(t); len(lines) != 1 || lines[0]["limit"] != "keys_per_sample" {
		t.Fatalf("other limit: %v", lines)
	}
	if n := r.Count(KeysPerSample); n != 1 {
		t.Errorf("Count(keys_per_sample) = %d, want 1", n)
	}
}

// However many sources, at most LogBudget lines a period; the rest are
// summed up in one line when the next period begins, and the memory held
// stays within two periods' lines.
func TestRefusalLogBudget(t *testing.T) {
	var log logLines
	r := NewRefusals(Options{Logger: log.logger(), LogBudget: 5})
	for i := range 1000 {
		src := Source{Host: fmt.Sprintf("h%d", i)}
		r.Refuse(t0.Add(time.Duration(i)*time.Millisecond), AlertsPerHost, src, "refused")
	}
	if lines := log.take(t); len(lines) != 5 {
		t.Fatalf("%d lines, want the budget of 5", len(lines))
	}
	if n := r.remembered(); n != 5 {
		t.Errorf("remembers %d sources, want 5 (those logged)", n)
	}
	r.Refuse(t0.Add(time.Minute), AlertsPerHost, Source{Host: "late"}, "refused")
	lines := log.take(t)
	if len(lines) != 2 || !strings.Contains(lines[0]["msg"].(string), "held back") || lines[0]["refusals"] != float64(995) {
		t.Fatalf("next period: %v, want the held-back summary (995) and one line", lines)
	}
	for p := 2; p < 10; p++ {
		for i := range 100 {
			r.Refuse(t0.Add(time.Duration(p)*time.Minute+time.Duration(i)*time.Millisecond), AlertsPerHost, Source{Host: fmt.Sprintf("p%d-%d", p, i)}, "refused")
		}
		if n := r.remembered(); n > 10 {
			t.Fatalf("period %d: remembers %d sources, want at most 2 x budget", p, n)
		}
	}
	if n := r.Count(AlertsPerHost); n != 1000+1+800 {
		t.Errorf("Count = %d, want every refusal", n)
	}
}

// Refusals from many goroutines are all counted (run with -race).
func TestRefusalsConcurrent(t *testing.T) {
	var log logLines
	r := NewRefusals(Options{Logger: log.logger()})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				r.Refuse(t0.Add(time.Duration(i)*time.Second), SampleBytes, Source{Host: fmt.Sprint(g)}, "refused")
			}
		}()
	}
	wg.Wait()
	if n := r.Count(SampleBytes); n != 4000 {
		t.Errorf("Count = %d, want 4000", n)
	}
}

// A nil Refusals is a no-op, for actors built without one in tests.
func TestNilRefusals(t *testing.T) {
	var r *Refusals
	r.Refuse(t0, PluginsPerHost, Source{}, "x")
	if r.Count(PluginsPerHost) != 0 {
		t.Error("nil Refusals counted")
	}
}

func TestLimitNames(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range All() {
		s := l.String()
		if seen[s] || strings.HasPrefix(s, "limit(") {
			t.Errorf("limit %d: name %q duplicate or missing", l, s)
		}
		seen[s] = true
	}
	if len(seen) != int(numLimits) {
		t.Errorf("%d names for %d limits", len(seen), numLimits)
	}
}

func TestCheckMetricPath(t *testing.T) {
	c := Defaults()
	for _, tc := range []struct {
		path string
		ok   bool
		lim  Limit
	}{
		{"disk_monitor./var/lib.percent", true, 0},
		{"disk_monitor./mnt/données.percent", true, 0},
		{"disk_monitor.a b.percent", true, 0},
		{"disk_monitor.a\x00b.percent", false, MetricPathInvalid},
		{"disk_monitor.a\r\nX-Injected: 1.percent", false, MetricPathInvalid},
		{"disk_monitor.a\tb.percent", false, MetricPathInvalid},
		{"disk_monitor.a\x7fb.percent", false, MetricPathInvalid},
		{"disk_monitor.a\u0085b.percent", false, MetricPathInvalid}, // C1 NEL
		{"disk_monitor.a\u2028b.percent", false, MetricPathInvalid},
		{"disk_monitor.a\xffb.percent", false, MetricPathInvalid},
		{"disk_monitor." + strings.Repeat("x", 240) + ".percent", false, MetricPathLength},
		{"disk_monitor." + strings.Repeat("x", 235) + ".percent", true, 0},
	} {
		lim, ok := c.CheckMetricPath(tc.path)
		if ok != tc.ok || (!ok && lim != tc.lim) {
			t.Errorf("CheckMetricPath(%q) = %v, %v; want %v, %v", tc.path, lim, ok, tc.lim, tc.ok)
		}
	}
}

func TestCountKeys(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int
	}{
		{`{}`, 0},
		{`{"a":1}`, 1},
		{`{"a":{"b":1,"c":[{"d":2}]},"e":"x:y"}`, 5},
		{`{"a\":b":"\\","c":":"}`, 2},
		{`{"a":[1,2,3],"b":{"c":{}}}`, 3},
	} {
		if !json.Valid([]byte(tc.json)) {
			t.Fatalf("test case %s is not JSON", tc.json)
		}
		if got := CountKeys([]byte(tc.json)); got != tc.want {
			t.Errorf("CountKeys(%s) = %d, want %d", tc.json, got, tc.want)
		}
	}
}

// CountKeys agrees with a tokenizing decoder on any valid JSON.
func FuzzCountKeys(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":{"b":1}}`, `{"a\"":":"}`, `{"a":[{"b":{"c":"\\\""}}]}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		if got, want := CountKeys(data), countTokens(data); got != want {
			t.Errorf("CountKeys(%q) = %d, the decoder sees %d keys", data, got, want)
		}
	})
}

// countTokens counts object keys with encoding/json's tokenizer: inside an
// object, tokens alternate between key and value.
func countTokens(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers as text: a valid number too large for a float64 would
	// otherwise end the tokens there with an error (the fuzzer found one).
	dec.UseNumber()
	type level struct{ object, wantKey bool }
	var stack []level
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].wantKey
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if top > 0 && stack[top-1].object {
				stack[top-1].wantKey = true
			}
			continue
		}
		switch {
		case isKey:
			n++
			stack[top].wantKey = false
		case top >= 0 && stack[top].object:
			stack[top].wantKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			if top >= 0 && stack[top].object {
				stack[top].wantKey = false // the container is this key's value; set back at its end
			}
			stack = append(stack, level{object: d == '{', wantKey: d == '{'})
		}
	}
}

func TestAgentSilences(t *testing.T) {
	for _, tc := range []struct{ total, want int }{{1000, 900}, {10, 9}, {5, 4}, {2, 1}, {1, 1}} {
		c := Config{SilencesTotal: tc.total}
		if got := c.AgentSilences(); got != tc.want {
			t.Errorf("AgentSilences(total %d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}
