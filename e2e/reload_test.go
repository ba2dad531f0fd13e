package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadRules are the rules of TestReload's first config: queue.depth
// stays as it is, load.avg changes and gone.x goes away.
const reloadRules = `alert_dynamic = true

[[threshold]]
metric = "queue.depth"
warning = 50.0
critical = 90.0

[[threshold]]
metric = "load.avg"
warning = %s

[[threshold]]
metric = "gone.x"
warning = 1.0
`

// withoutGone is reloadRules without gone.x's rule.
var withoutGone = strings.Replace(reloadRules, "[[threshold]]\nmetric = \"gone.x\"\nwarning = 1.0\n", "", 1)

// reloadHook is a [[notify]] webhook sending each transition at once.
const reloadHook = `
[[notify]]
type = "webhook"
name = %q
group = false
url = %q
`

// SIGHUP applies a changed config without losing alert state: an alert
// whose rule did not change keeps its level, since and notifications and
// is not notified again; a removed rule's alert recovers; a changed rule
// applies from the next sample; a channel added by the reload gets the
// next notification. A config with errors is refused whole, with every
// error logged, and the old rules keep working; a port change is reported
// as needing a restart. /metrics counts both results.
func TestReload(t *testing.T) {
	hook, added := newHookServer(t), newHookServer(t)
	d := newDaemon(t, fmt.Sprintf(reloadRules, "5.0")+fmt.Sprintf(reloadHook, "ops", hook.url))
	d.start(t)
	base, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The harness's config ends with the rules and the channel; a reload
	// rewrites that part.
	head := strings.SplitN(string(base), "alert_dynamic = true", 2)[0]
	rewrite := func(tail string) {
		t.Helper()
		if err := os.WriteFile(d.cfgPath, []byte(head+tail), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hup := func() {
		t.Helper()
		if err := d.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	app := newSender(t, d, "app01", d.key, false)
	// sampleUntil sends a sample until the alert on path shows its value:
	// a datagram lost on loopback is sent again.
	sampleUntil := func(plugin, data, path string, value float64) alertJSON {
		t.Helper()
		var a alertJSON
		waitFor(t, 20*time.Second, fmt.Sprintf("%s at %v", path, value), func() bool {
			app.sample(plugin, data)
			time.Sleep(50 * time.Millisecond)
			a, _ = hostAlertAt(d, "app01", path)
			return a.LastValue != nil && *a.LastValue == value
		})
		return a
	}
	sampleUntil("queue", `{"depth": 70}`, "queue.depth", 70)
	sampleUntil("gone", `{"x": 5}`, "gone.x", 5)
	waitFor(t, 20*time.Second, "both WARNINGs notified and counted", func() bool {
		q, _ := hostAlertAt(d, "app01", "queue.depth")
		g, _ := hostAlertAt(d, "app01", "gone.x")
		return len(hook.received()) == 2 && q.NotificationCount == 1 && g.NotificationCount == 1
	})
	before, _ := hostAlertAt(d, "app01", "queue.depth")
	if before.Level != "WARNING" {
		t.Fatalf("queue.depth before the reload: %+v", before)
	}

	// (a) load.avg's warning moves from 5 to 6, gone.x is removed, a
	// channel is added and hbd_port changes (which needs a restart).
	newPort := freePorts(t, 1)[0]
	head = strings.Replace(head, "hbd_port = "+strings.TrimPrefix(d.http, "http://127.0.0.1:"), fmt.Sprintf("hbd_port = %d", newPort), 1)
	rewrite(fmt.Sprintf(withoutGone, "6.0") +
		fmt.Sprintf(reloadHook, "ops", hook.url) + fmt.Sprintf(reloadHook, "added", added.url))
	hup()
	waitFor(t, 20*time.Second, "the reload counted", func() bool {
		return metricValue(t, d, `hbd_config_reloads_total{result="success"}`) == 1
	})
	if v := metricValue(t, d, "hbd_config_last_reload_successful"); v != 1 {
		t.Errorf("hbd_config_last_reload_successful = %v after a success", v)
	}
	// The removed rule's alert recovers, to the people who were paged.
	waitFor(t, 20*time.Second, "gone.x's recovery", func() bool { return len(hook.received()) == 3 })
	if got := hook.received()[2]; got["kind"] != "recovery" || got["metric_path"] != "gone.x" {
		t.Errorf("third notification %v, want gone.x's recovery", got)
	}
	if _, ok := hostAlertAt(d, "app01", "gone.x"); ok {
		t.Error("gone.x is still tracked after its rule was removed")
	}
	after, _ := hostAlertAt(d, "app01", "queue.depth")
	if after.Level != before.Level || after.Since != before.Since || after.NotificationCount != 1 {
		t.Errorf("queue.depth after the reload %+v, before %+v: level, since and count must stay", after, before)
	}
	// The changed rule: 5.5 was a WARNING under the old one, not under the
	// new one; 6.5 is.
	if a := sampleUntil("load", `{"avg": 5.5}`, "load.avg", 5.5); a.Level != "OK" {
		t.Errorf("load.avg at 5.5 under warning 6: %s", a.Level)
	}
	sampleUntil("queue", `{"depth": 72}`, "queue.depth", 72)
	sampleUntil("load", `{"avg": 6.5}`, "load.avg", 6.5)
	// Each channel delivers in order, so once load.avg's WARNING is in, a
	// second queue.depth notification would be too.
	waitFor(t, 20*time.Second, "load.avg's WARNING on both channels", func() bool {
		return len(hook.received()) == 4 && len(added.received()) == 1
	})
	if got := hook.summary(); !strings.HasSuffix(got, "recovery:gone.x:OK problem:load.avg:WARNING") || strings.Count(got, "queue.depth") != 1 {
		t.Errorf("notifications on the old channel: %s", got)
	}
	if got := added.summary(); got != "problem:load.avg:WARNING" {
		t.Errorf("notifications on the channel the reload added: %s", got)
	}
	out := d.proc.out.String()
	for _, want := range []string{`msg="config reloaded"`, "threshold: 1 changed, 1 removed", "notify: 1 added",
		`msg="config key changed but needs a restart; the old value stays until then" key=hbd_port`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "config reloaded: ") || !strings.Contains(msgs, "needs a restart: hbd_port") {
		t.Errorf("the journal lacks the reload:\n%s", msgs)
	}

	// (b) A config with two errors, one of them a rule, and a higher
	// queue.depth critical: refused whole, so 95 is CRITICAL by the old
	// rule.
	rewrite(strings.Replace(fmt.Sprintf(reloadRules, "6.0"), "critical = 90.0", "critical = 100.0\noperator = \"~\"", 1) + "\nno_such_key = 1\n")
	hup()
	waitFor(t, 20*time.Second, "the refusal counted", func() bool {
		return metricValue(t, d, `hbd_config_reloads_total{result="failure"}`) == 1
	})
	if v := metricValue(t, d, "hbd_config_last_reload_successful"); v != 0 {
		t.Errorf("hbd_config_last_reload_successful = %v after a refusal", v)
	}
	out = d.proc.out.String()
	for _, want := range []string{"config reload refused", d.cfgPath + ":", "threshold[0].operator", "no_such_key"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if a := sampleUntil("queue", `{"depth": 95}`, "queue.depth", 95); a.Level != "CRITICAL" {
		t.Errorf("queue.depth at 95 after the refused reload: %s, want CRITICAL by the rule in force", a.Level)
	}

	// (d) POST /-/reload from loopback: a ws_port change is reported as
	// needing a restart, and the daemon still answers where it did.
	head = regexp.MustCompile(`(?m)^ws_port = \d+$`).ReplaceAllString(head, fmt.Sprintf("ws_port = %d", freePorts(t, 1)[0]))
	rewrite(fmt.Sprintf(withoutGone, "6.0") + fmt.Sprintf(reloadHook, "ops", hook.url) + fmt.Sprintf(reloadHook, "added", added.url))
	res := postReload(t, d, nil, 200)
	if !contains(res.NeedsRestart, "hbd_port") || !contains(res.NeedsRestart, "ws_port") || len(res.Changed) != 0 {
		t.Errorf("POST /-/reload answered %+v, want hbd_port and ws_port needing a restart and nothing changed", res)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type reloadAnswer struct {
	File         string   `json:"file"`
	Changed      []string `json:"changed"`
	NeedsRestart []string `json:"needs_restart"`
	Problems     []string `json:"problems"`
}

// postReload sends POST /-/reload with hdr and checks the status.
func postReload(t *testing.T, d *daemon, hdr map[string]string, status int) reloadAnswer {
	t.Helper()
	req, err := http.NewRequest("POST", d.http+"/-/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a reloadAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("POST /-/reload: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("POST /-/reload: %d %+v, want %d", resp.StatusCode, a, status)
	}
	return a
}

// metricValue is the value of one series on /metrics (its name and
// labels as exposed), or -1 when it is not there.
func metricValue(t *testing.T, d *daemon, series string) float64 {
	t.Helper()
	_, body := get(t, d.http+"/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}
