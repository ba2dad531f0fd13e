package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fleet exposition end to end: a real hbd-agent reports this machine
// to a real hbd; /metrics/fleet passes promtool's lint; a real
// Prometheus (Debian's package) scrapes it every second, in the
// OpenMetrics format it asks for first, and answers queries for the
// host's CPU and RTT (p99 and last) through its HTTP API.
func TestFleetMetricsPrometheus(t *testing.T) {
	promtool, err1 := exec.LookPath("promtool")
	prometheus, err2 := exec.LookPath("prometheus")
	if err1 != nil || err2 != nil {
		if isCI() {
			t.Fatal("promtool or prometheus is missing: .ci/run installs the Debian package prometheus")
		}
		t.Skip("SKIPPED: prometheus not installed (apt-get install prometheus)")
	}
	d := startDaemon(t, "")
	startAgent(t, d, "prom1", `
[plugins.cpu_monitor]
interval = "1s"
[plugins.memory_monitor]
interval = "1s"
[plugins.disk_monitor]
interval = "1s"
[plugins.network_monitor]
interval = "1s"
`)
	var text string
	waitFor(t, 30*time.Second, "prom1's CPU, disk and RTT on /metrics/fleet", func() bool {
		_, body := get(t, d.http+"/metrics/fleet")
		text = string(body)
		return strings.Contains(text, `hbd_cpu_monitor_cpu_percent{host="prom1"}`) &&
			strings.Contains(text, `hbd_disk_monitor_percent{host="prom1",mountpoint="/"}`) &&
			strings.Contains(text, `hbd_host_rtt_seconds{host="prom1",family="ipv4",quantile="0.99"}`)
	})
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics on /metrics/fleet: %v\n%s", err, out)
	}

	port := freePorts(t, 1)[0]
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hbd-fleet
    metrics_path: /metrics/fleet
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(d.http, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, prometheus, nil, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+strings.TrimPrefix(promURL, "http://"))

	query := func(q string) (float64, bool) {
		status, body := getQuiet(promURL + "/api/v1/query?query=" + url.QueryEscape(q))
		if status != 200 {
			return 0, false
		}
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &r) != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	var cpu, rtt, up float64
	waitFor(t, 90*time.Second, "Prometheus to answer for prom1's CPU and RTT p99", func() bool {
		var ok1, ok2, ok3 bool
		cpu, ok1 = query(`hbd_cpu_monitor_cpu_percent{host="prom1",job="hbd-fleet"}`)
		rtt, ok2 = query(`hbd_host_rtt_seconds{host="prom1",family="ipv4",quantile="0.99"}`)
		up, ok3 = query(`up{job="hbd-fleet"}`)
		return ok1 && ok2 && ok3
	})
	if cpu < 0 || cpu > 100 {
		t.Errorf("prom1's CPU through Prometheus: %v %%, want 0..100", cpu)
	}
	// A loopback round trip, which a loaded machine (or the race
	// detector) can stretch to seconds, but never to the 30 s timeout.
	if rtt <= 0 || rtt > 30 {
		t.Errorf("prom1's IPv4 RTT p99 through Prometheus: %v s, want a loopback round trip (0 < rtt < 30 s)", rtt)
	}
	if v, ok := query(`hbd_host_rtt_last_seconds{host="prom1",family="ipv6"}`); !ok || v <= 0 || v > 30 {
		t.Errorf("prom1's last IPv6 RTT through Prometheus: %v %v", v, ok)
	}
	if up != 1 {
		t.Errorf("Prometheus' up for the scrape: %v, want 1 (it could scrape and parse /metrics/fleet)", up)
	}
	// Labelled values survive the trip too, and the host counts by state.
	if v, ok := query(`count(hbd_disk_monitor_total_bytes{host="prom1",mountpoint="/"})`); !ok || v != 1 {
		t.Errorf("prom1's / partition through Prometheus: %v %v", v, ok)
	}
	if v, ok := query(`sum(hbd_host_state{state="UP"})`); !ok || v != 1 {
		t.Errorf("hosts UP through Prometheus: %v %v", v, ok)
	}
}
