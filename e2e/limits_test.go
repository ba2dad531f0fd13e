package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// refusals returns hbd_limit_refused_total{limit="..."} from /metrics.
func (d *daemon) refusals(t *testing.T, limit string) float64 {
	t.Helper()
	_, body := get(t, d.http+"/metrics")
	m := regexp.MustCompile(`(?m)^hbd_limit_refused_total\{limit="` + regexp.QuoteMeta(limit) + `"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no hbd_limit_refused_total for %s", limit)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// waitRefused waits until limit has refused at least n things, and for the
// daemon's log line naming it.
func (d *daemon) waitRefused(t *testing.T, limit string, n float64) {
	t.Helper()
	waitFor(t, 10*time.Second, limit+" refusals on /metrics", func() bool { return d.refusals(t, limit) >= n })
	waitFor(t, 10*time.Second, limit+" in the log", func() bool { return strings.Contains(d.out.String(), "limit="+limit+" ") })
}

func (s *sender) silence(seconds uint32, comment string) {
	s.t.Helper()
	b, err := wire.AppendSilence(nil, s.sg, s.env(), wire.Silence{Seconds: seconds, Comment: []byte(comment)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b)
}

func postSilence(t *testing.T, d *daemon, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(d.http+"/api/0/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Every [limits] cap refuses what is over it, counts it on /metrics and
// logs it, while what the host already had keeps working.
func TestCapsRefuseCountAndLog(t *testing.T) {
	d := startDaemon(t, `alert_dynamic = true

[[threshold]]
metric = "disk_monitor.*.percent"
critical = 90.0

[limits]
plugins_per_host = 3
keys_per_sample = 10
sample_bytes = 2048
hosts_per_source = 3
alerts_per_host = 3
silences_per_host = 1
silences_total = 3
glob_length = 32
metric_path_length = 64
bytes_per_host = 65536
`)
	s := newSender(t, d, "capped", d.key, false)
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "capped registered", func() bool { _, ok := d.host(t, "capped"); return ok })

	// alerts_per_host (the heartbeat alert and two disks), unsafe paths.
	s.sample("disk_monitor", `{"nul\u0000key":{"percent":99},"`+strings.Repeat("l", 60)+`":{"percent":1},"a":{"percent":1},"b":{"percent":1},"c":{"percent":1}}`)
	d.waitRefused(t, "metric_path_invalid", 1)
	d.waitRefused(t, "metric_path_length", 1)
	d.waitRefused(t, "alerts_per_host", 1)
	var ha struct {
		Alerts []struct {
			MetricPath string `json:"metric_path"`
		} `json:"alerts"`
	}
	getJSON(t, d.http+"/api/0/hosts/capped/alerts", &ha)
	if len(ha.Alerts) != 3 {
		t.Errorf("alerts %+v, want heartbeat, a and b", ha.Alerts)
	}

	// plugins_per_host (3): disk_monitor, p1, p2; p3 is refused, p1 keeps updating.
	s.sample("p1", `{"v":1}`)
	s.sample("p2", `{"v":1}`)
	s.sample("p3", `{"v":1}`)
	d.waitRefused(t, "plugins_per_host", 1)
	s.sample("p1", `{"v":2}`)
	var plugins struct {
		Plugins map[string]struct {
			Count int `json:"sample_count"`
		} `json:"plugins"`
	}
	waitFor(t, 10*time.Second, "p1's second sample", func() bool {
		getJSON(t, d.http+"/api/0/hosts/capped/plugins", &plugins)
		return plugins.Plugins["p1"].Count == 2
	})
	if _, ok := plugins.Plugins["p3"]; ok || len(plugins.Plugins) != 3 {
		t.Errorf("plugins %v, want disk_monitor, p1 and p2 only", plugins.Plugins)
	}

	// keys_per_sample and sample_bytes (20 KiB compressed into about 1 KiB).
	var keys []string
	for i := range 11 {
		keys = append(keys, fmt.Sprintf(`"k%d":%d`, i, i))
	}
	s.sample("p1", "{"+strings.Join(keys, ",")+"}")
	d.waitRefused(t, "keys_per_sample", 1)
	if b := s.sample("p2", `{"x":"`+strings.Repeat("a", 20<<10)+`"}`); len(b) > 2048 {
		t.Fatalf("compressed datagram of %d bytes", len(b))
	}
	d.waitRefused(t, "sample_bytes", 1)

	// bytes_per_host: 40 samples of 1.9 KB (history 100) pass 64 KiB. Each
	// string differs, since the rings keep an unchanged value in a bit.
	for i := range 40 {
		s.sample("p2", fmt.Sprintf(`{"i":%d,"x":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 1900)))
	}
	d.waitRefused(t, "bytes_per_host", 1)

	// hosts_per_source: capped, h2 and h3 fill 127.0.0.1's three; h4 is refused.
	newSender(t, d, "h2", d.key, false).heartbeat(time.Second, 1)
	newSender(t, d, "h3", d.key, false).heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "h3 registered", func() bool { _, ok := d.host(t, "h3"); return ok })
	newSender(t, d, "h4", d.key, false).heartbeat(time.Second, 1)
	d.waitRefused(t, "hosts_per_source", 1)
	if _, ok := d.host(t, "h4"); ok {
		t.Error("h4 registered past hosts_per_source")
	}
	before := d.stats(t).Accepted
	s.heartbeat(time.Second, 2)
	waitFor(t, 10*time.Second, "capped's heartbeat still accepted", func() bool {
		return d.stats(t).Accepted == before+1
	})

	// silences_per_host (agents), silences_total (agents fill 2 of 3), glob_length.
	s.silence(600, "first")
	waitFor(t, 10*time.Second, "the agent's silence", func() bool {
		_, body := get(t, d.http+"/api/0/silences")
		return strings.Contains(string(body), `"first"`)
	})
	s.silence(600, "second")
	d.waitRefused(t, "silences_per_host", 1)
	if st, body := postSilence(t, d, `{"host":"x","duration":"1h"}`); st != 201 {
		t.Fatalf("first API silence: %d %s", st, body)
	}
	if st, body := postSilence(t, d, `{"host":"y","duration":"1h"}`); st != 201 {
		t.Fatalf("second API silence: %d %s", st, body)
	}
	if st, body := postSilence(t, d, `{"host":"z","duration":"1h"}`); st != 429 || !strings.Contains(body, "silences_total") {
		t.Errorf("silence past the total: %d %s, want 429 naming silences_total", st, body)
	}
	d.waitRefused(t, "silences_total", 1)
	if st, body := postSilence(t, d, `{"host":"`+strings.Repeat("w", 40)+`","duration":"1h"}`); st != 400 || !strings.Contains(body, "glob_length") {
		t.Errorf("long glob: %d %s, want 400 naming glob_length", st, body)
	}
	d.waitRefused(t, "glob_length", 1)
}

// A NUL or CR/LF in a sample key never reaches an exec notification (the
// path is refused before it becomes an alert, counted and logged), while
// a normal key on the same sample still notifies.
func TestUnsafeKeyNeverReachesExec(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
printf '%s|%s\n' "$HBD_METRIC" "$HBD_LEVEL" >> "`+out+`"
cat >> "`+out+`.stdin"
echo >> "`+out+`.stdin"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf(`alert_dynamic = true

[alerting]
group_wait = "0s"

[[threshold]]
metric = "disk_monitor.*.percent"
critical = 90.0

[[notify]]
type = "exec"
command = [%q]
`, script))
	s := newSender(t, d, "web01", d.key, false)
	s.heartbeat(time.Second, 1)
	s.sample("disk_monitor", `{"bad\u0000key":{"percent":99},"cr\r\nHBD_LEVEL=OK":{"percent":99},"ok":{"percent":99}}`)
	calls := func() string { b, _ := os.ReadFile(out); return string(b) }
	waitFor(t, 20*time.Second, "the exec notification of the normal key", func() bool {
		return strings.Contains(calls(), "disk_monitor.ok.percent|CRITICAL\n")
	})
	// A later alert on the same channel is the barrier: the exec queue is
	// first in, first out, so anything queued with the first is done.
	time.Sleep(10 * time.Millisecond) // a later agent timestamp for the same plugin
	s.sample("disk_monitor", `{"ok2":{"percent":99}}`)
	waitFor(t, 20*time.Second, "the barrier notification", func() bool {
		return strings.Contains(calls(), "disk_monitor.ok2.percent|CRITICAL\n")
	})
	if got := calls(); got != "disk_monitor.ok.percent|CRITICAL\ndisk_monitor.ok2.percent|CRITICAL\n" {
		t.Errorf("exec calls:\n%q\nwant only the two normal keys", got)
	}
	stdin, _ := os.ReadFile(out + ".stdin")
	if strings.Contains(string(stdin), "bad") || strings.Contains(string(stdin), "HBD_LEVEL") {
		t.Errorf("an unsafe key reached the notification's JSON:\n%s", stdin)
	}
	if n := d.refusals(t, "metric_path_invalid"); n < 2 {
		t.Errorf("metric_path_invalid refusals = %v, want 2", n)
	}
	if log := d.out.String(); !strings.Contains(log, "limit=metric_path_invalid host=web01") {
		t.Errorf("the daemon's log does not name the refusal:\n%s", grepLines(log, "refused"))
	}
	if msgs := d.messages(t); strings.Contains(msgs, "bad") || strings.Contains(msgs, "failed after") {
		t.Errorf("journal mentions the unsafe key or a failed notification:\n%s", msgs)
	}
}
