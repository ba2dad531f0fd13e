package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
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
		"hbd_samples_bytes ",
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
		"hbd_replay_instances_evicted_total 0",
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

// A burst of alerts on a webhook slower than they come: what does not fit
// in the channel's queue (1,024 notifications) is counted per channel on
// /metrics and journaled with the count, not lost without a trace. The
// receiver is a real HTTP server on loopback that holds every request.
func TestNotificationDropsOnMetrics(t *testing.T) {
	var entered atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-r.Context().Done()
	})}
	go func() { _ = srv.Serve(ln) }() // returns when the test closes srv
	// b1 is a dynamic host: no heartbeat alert adds to the count however
	// long the test takes.
	d := startDaemon(t, fmt.Sprintf(`
[[threshold]]
metric = "burst.*"
warning = 50.0
hosts = ["b1"]

[[notify]]
type = "webhook"
name = "slow-hook"
url = "http://%s/hook"
timeout = "5m"
group = false   # one notification per alert: the burst is what fills the queue

[limits]
alerts_per_host = 2000  # the burst is 1,100 alerts of one host
`, ln.Addr()))
	// Runs before the daemon's stop (cleanups run last first): the held
	// request and the queued ones fail at once, so the stop does not wait
	// for the webhook's timeout.
	t.Cleanup(func() { srv.Close() })

	s := newSender(t, d, "b1", d.key, false)
	s.sample("burst", `{"k0000": 100}`)
	waitFor(t, 10*time.Second, "the first alert's notification held by the receiver", func() bool { return entered.Load() == 1 })
	// 1,099 new alerts at once: 1,024 fit in the queue, 75 do not.
	var b strings.Builder
	b.WriteString(`{"k0000": 100`)
	for i := 1; i < 1100; i++ {
		fmt.Fprintf(&b, `, "k%04d": 100`, i)
	}
	b.WriteString("}")
	s.sample("burst", b.String())

	const want = `hbd_notifications_dropped_total{channel="slow-hook",reason="queue_full"} 75`
	waitFor(t, 20*time.Second, "drops on /metrics", func() bool {
		_, body := get(t, d.http+"/metrics")
		return strings.Contains(string(body), want)
	})
	_, body := get(t, d.http+"/metrics")
	for _, line := range []string{
		`hbd_notification_queue_length{channel="slow-hook"} 1024`,
		`hbd_notifications_dropped_total{channel="slow-hook",reason="closed"} 0`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	lintMetrics(t, string(body))
	// The first drop is journaled at once; the rest of the burst, added
	// up, at the end of a 10 s window.
	waitFor(t, 10*time.Second, "the drop journaled", func() bool {
		return strings.Contains(d.messages(t), "notification(s) via slow-hook dropped: its queue of 1024 was full")
	})
	if n := strings.Count(d.messages(t), "via slow-hook dropped"); n > 2 {
		t.Errorf("%d journal entries for the drops, want at most 2 (one per window)", n)
	}
}

// lintMetrics runs promtool on an exposition when it is installed (in CI
// it must be).
func lintMetrics(t *testing.T, text string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if isCI() {
			t.Fatal("promtool is missing: .ci/run installs the Debian package prometheus")
		}
		t.Log("promtool not installed; the exposition was not linted")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
