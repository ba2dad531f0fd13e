package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// extraKeys are the report's documented context keys beside the required
// ones; docs/BENCHMARKS.md lists them.
var extraKeys = []string{
	"mode", "started_at", "duration_s", "go_version", "machine", "hosts", "targets", "datagrams",
	"dropped_by_reason", "nominal_per_s", "harness_send_per_s", "harness_cpu_pct", "harness_max_lag_ms",
	"ack_rtt_ms", "api_codes", "api_skipped", "daemon_api_ms", "ws_frames", "ws_disconnects", "sink_loss_pct", "sink_trials", "max_vs_sink",
	"max_lossless_per_s", "steps", "stop_reason", "samples_held", "warnings",
}

func reportKeys(t *testing.T, r *Report) map[string]json.RawMessage {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReportKeys(t *testing.T) {
	full := newReport("fleet-100k", "load", time.Now())
	full.OfferedPerS, full.AcceptedPerS, full.LossPct = ptr(1.0), ptr(1.0), ptr(0.0)
	full.DaemonCPUSPerMillion, full.RSSBytes, full.BytesPerHost, full.BytesPerSample = ptr(1.0), ptr(1.0), ptr(1.0), ptr(1.0)
	full.E2EMs = &Quantiles{P50: 1, P99: 2, P999: 3, N: 10}
	full.APIMs = map[string]Quantiles{"/api/0/hosts": {P50: 1}}
	full.WSCutOff, full.SinkPerS = ptr(0.0), ptr(1.0)

	for name, r := range map[string]*Report{"nothing measured": newReport("memory", "memory", time.Now()), "everything measured": full} {
		t.Run(name, func(t *testing.T) {
			m := reportKeys(t, r)
			var got []string
			for k := range m {
				got = append(got, k)
			}
			want := append(slices.Clone(requiredKeys), extraKeys...)
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("report keys\n got %v\nwant %v", got, want)
			}
			if len(requiredKeys) != 12 {
				t.Fatalf("%d required keys, the contract has 12", len(requiredKeys))
			}
		})
	}
	// Unmeasured required values are null, not 0: a script must be able to
	// tell "no loss" from "loss not measured".
	m := reportKeys(t, newReport("memory", "memory", time.Now()))
	for _, k := range requiredKeys[1:] {
		if string(m[k]) != "null" {
			t.Errorf("%s = %s in a report that measured nothing, want null", k, m[k])
		}
	}
	m = reportKeys(t, full)
	var e2e map[string]float64
	if err := json.Unmarshal(m["e2e_ms"], &e2e); err != nil || e2e["p50"] != 1 || e2e["p99"] != 2 || e2e["p999"] != 3 {
		t.Errorf("e2e_ms = %s, want an object of p50, p99, p999", m["e2e_ms"])
	}
	var api map[string]map[string]float64
	if err := json.Unmarshal(m["api_ms"], &api); err != nil || api["/api/0/hosts"]["p50"] != 1 {
		t.Errorf("api_ms = %s, want quantiles keyed by route", m["api_ms"])
	}
}

func TestReportTable(t *testing.T) {
	r := newReport("max", "max", time.Now())
	r.MaxLosslessPerS = ptr(125000.0)
	r.SinkPerS = ptr(250000.0)
	r.MaxVsSink = ptr(0.5)
	r.APIMs = map[string]Quantiles{"/api/0/alerts": {P50: 0.5, P99: 1, P999: 2, N: 100}}
	r.warn("a %s warning", "test")
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"max lossless", "125000 datagrams/s", "250000 datagrams/s", "api /api/0/alerts", "p99 1.000", "a test warning"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestLossPct(t *testing.T) {
	tests := []struct {
		offered, accepted, want float64
	}{
		{0, 0, 0},
		{1000, 1000, 0},
		{1000, 999, 0.1},
		{1000, 0, 100},
		{1000, 1200, 0}, // other senders: never negative
		{0, 5, 0},
	}
	for _, tt := range tests {
		if got := LossPct(tt.offered, tt.accepted); got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("LossPct(%g, %g) = %g, want %g", tt.offered, tt.accepted, got, tt.want)
		}
	}
}
