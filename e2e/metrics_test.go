package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// /metrics is valid Prometheus exposition (checked by promtool, the
// Prometheus project's own linter) and counts what happened.
func TestMetricsExposition(t *testing.T) {
	d := startDaemon(t, "[state]\ncheckpoint_interval = \"1s\"\n")
	s := newSender(t, d, "m1", d.key, false)
	s.heartbeat(time.Second, 1)
	s.sample("cpu_monitor", `{"cpu_percent": 3}`)
	s.send([]byte("garbage"))
	waitFor(t, 10*time.Second, "datagrams counted", func() bool {
		_, body := get(t, d.http+"/metrics")
		return strings.Contains(string(body), `hbd_datagrams_accepted_total{kind="sample"} 1`) &&
			strings.Contains(string(body), `hbd_state_checkpoint_last_success_timestamp_seconds`) &&
			strings.Contains(string(body), `hbd_hosts{state="UP"} 1`) &&
			strings.Contains(string(body), `hbd_datagrams_dropped_total{reason="bad_magic"} 1`)
	})
	get(t, d.http+"/api/0/hosts/m1/plugins")
	get(t, d.http+"/api/0/hosts/nobody/plugins")
	status, body := get(t, d.http+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics status %d", status)
	}
	text := string(body)
	for _, want := range []string{
		"hbd_datagrams_received_total 3",
		`hbd_datagrams_accepted_total{kind="heartbeat"} 1`,
		`hbd_hosts{state="UP"} 1`,
		"hbd_samples_held 1",
		`hbd_http_requests_total{code="200",route="/api/0/hosts/{hostname}/plugins"} 1`,
		`hbd_http_requests_total{code="404",route="/api/0/hosts/{hostname}/plugins"} 1`,
		`hbd_http_request_duration_seconds_bucket{route="/api/0/hosts/{hostname}/plugins",le="+Inf"} 2`,
		`hbd_actor_messages_total{actor="host"}`,
		`hbd_state_checkpoints_total{kind="snapshot"}`,
		"hbd_state_checkpoint_failures_total 0",
		"hbd_state_checkpoint_duration_seconds",
		"hbd_state_checkpoint_size_bytes",
		"hbd_state_checkpoint_last_success_timestamp_seconds",
		"hbd_state_written_bytes_total",
		"hbd_state_disk_bytes",
		`hbd_ws_cut_off_total{reason="rate"} 0`,
		`hbd_ws_upgrades_refused_total{reason="origin"} 0`,
		"process_resident_memory_bytes",
		"process_cpu_seconds_total",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if isCI() {
			t.Fatal("promtool is missing: .ci/run installs the Debian package prometheus")
		}
		t.Skip("SKIPPED: promtool not installed (apt-get install prometheus); the exposition was not linted")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
