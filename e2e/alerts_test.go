package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookServer is a real HTTP server on loopback that records the webhook
// notifications it receives.
type hookServer struct {
	mu   sync.Mutex
	got  []map[string]any
	url  string
	fail int // answer 503 to this many requests first
}

func newHookServer(t *testing.T) *hookServer {
	t.Helper()
	h := &hookServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook body is not JSON: %q", body)
		}
		h.got = append(h.got, m)
	})}
	go func() { _ = srv.Serve(ln) }() // returns when the test closes srv
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *hookServer) received() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...)
}

func (h *hookServer) summary() string {
	var parts []string
	for _, m := range h.received() {
		parts = append(parts, fmt.Sprintf("%v:%v:%v", m["kind"], m["metric_path"], m["level"]))
	}
	return strings.Join(parts, " ")
}

type alertJSON struct {
	Hostname          string   `json:"hostname"`
	MetricPath        string   `json:"metric_path"`
	Level             string   `json:"level"`
	Since             float64  `json:"since"`
	LastValue         *float64 `json:"last_value"`
	LastCheck         float64  `json:"last_check"`
	NotificationCount int      `json:"notification_count"`
	Flapping          bool     `json:"flapping"`
	Silenced          bool     `json:"silenced"`
}

type fleetAlerts struct {
	Alerts  []alertJSON `json:"alerts"`
	Summary struct {
		Critical, Warning, Unknown, Total int
	} `json:"summary"`
	HostCount int `json:"host_count"`
}

// A real agent's exec plugin, whose value the test changes, drives a real
// daemon through WARNING, CRITICAL and back to OK. The API, the journal
// file and a real webhook server agree on what happened.
func TestThresholdAlertLifecycle(t *testing.T) {
	hook := newHookServer(t)
	hook.fail = 1 // the first delivery fails once and is retried
	d := startDaemon(t, fmt.Sprintf(`watchhosts = ["app01"]

[[threshold]]
metric = "queue.depth"
warning = 50.0
critical = 90.0
operator = ">"
hysteresis = 5.0

[[notify]]
type = "webhook"
group = false
name = "ops-hook"
url = %q
min_level = "WARNING"
`, hook.url))
	valueFile := filepath.Join(t.TempDir(), "value")
	setValue := func(v float64) {
		if err := os.WriteFile(valueFile, []byte(fmt.Sprint(v)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setValue(10)
	script := filepath.Join(t.TempDir(), "queue.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '{\"depth\": %s}' \"$(cat "+valueFile+")\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, d, "app01", builtinPluginsOff+fmt.Sprintf(`
[[exec]]
name = "queue"
command = [%q]
interval = "1s"
timeout = "900ms"
`, script))

	hostAlert := func() (alertJSON, bool) { return hostAlertAt(d, "app01", "queue.depth") }
	waitFor(t, 20*time.Second, "queue.depth tracked as OK", func() bool {
		a, ok := hostAlert()
		return ok && a.Level == "OK"
	})

	setValue(70)
	waitFor(t, 20*time.Second, "WARNING", func() bool { a, _ := hostAlert(); return a.Level == "WARNING" })
	// The first delivery fails once and is retried after the backoff; let
	// it arrive, so the next notification carries its count.
	waitFor(t, 20*time.Second, "the WARNING notification delivered", func() bool { return len(hook.received()) == 1 })
	waitFor(t, 10*time.Second, "the WARNING notification counted", func() bool { a, _ := hostAlert(); return a.NotificationCount == 1 })
	setValue(95)
	waitFor(t, 20*time.Second, "CRITICAL", func() bool { a, _ := hostAlert(); return a.Level == "CRITICAL" })
	var fa fleetAlerts
	waitFor(t, 20*time.Second, "CRITICAL in /api/0/alerts with its notifications counted", func() bool {
		getJSON(t, d.http+"/api/0/alerts", &fa)
		return len(fa.Alerts) == 1 && fa.Alerts[0].Level == "CRITICAL" && fa.Alerts[0].NotificationCount == 2
	})
	a := fa.Alerts[0]
	if a.Hostname != "app01" || a.MetricPath != "queue.depth" || a.LastValue == nil || *a.LastValue != 95 || a.Silenced || a.Since == 0 || a.LastCheck < a.Since {
		t.Errorf("fleet alert %+v", a)
	}
	if fa.Summary.Critical != 1 || fa.Summary.Total != 1 || fa.HostCount != 1 {
		t.Errorf("summary %+v host_count %d", fa.Summary, fa.HostCount)
	}
	// Filters.
	var filtered fleetAlerts
	getJSON(t, d.http+"/api/0/alerts?level=WARNING", &filtered)
	if len(filtered.Alerts) != 0 {
		t.Errorf("?level=WARNING returned %+v", filtered.Alerts)
	}
	getJSON(t, d.http+"/api/0/alerts?host=app*", &filtered)
	if len(filtered.Alerts) != 1 {
		t.Errorf("?host=app* returned %+v", filtered.Alerts)
	}
	if st, _ := get(t, d.http+"/api/0/alerts?level=LOUD"); st != 400 {
		t.Errorf("?level=LOUD: %d, want 400", st)
	}

	// Hysteresis: 87 is below critical 90 but within 5 of it: still CRITICAL.
	setValue(87)
	waitFor(t, 20*time.Second, "a check at 87", func() bool { a, _ := hostAlert(); return a.LastValue != nil && *a.LastValue == 87 })
	if a, _ := hostAlert(); a.Level != "CRITICAL" {
		t.Errorf("at 87 with hysteresis 5 the level is %s, want CRITICAL", a.Level)
	}
	setValue(20)
	waitFor(t, 20*time.Second, "OK again", func() bool { a, _ := hostAlert(); return a.Level == "OK" })
	waitFor(t, 20*time.Second, "three notifications: WARNING, CRITICAL, recovery", func() bool { return len(hook.received()) == 3 })
	got := hook.received()
	for i, want := range [][2]string{{"problem", "WARNING"}, {"problem", "CRITICAL"}, {"recovery", "OK"}} {
		if got[i]["kind"] != want[0] || got[i]["level"] != want[1] || got[i]["host"] != "app01" || got[i]["metric_path"] != "queue.depth" {
			t.Errorf("notification %d = %v, want %s %s", i, got[i], want[0], want[1])
		}
	}
	if got[1]["notification_count"] != 1.0 {
		t.Errorf("CRITICAL notification's notification_count %v, want 1 (the WARNING one before it)", got[1]["notification_count"])
	}
	time.Sleep(1500 * time.Millisecond) // a few more samples at 20: no further notifications
	if n := len(hook.received()); n != 3 {
		t.Errorf("%d notifications, want exactly 3: %s", n, hook.summary())
	}
	getJSON(t, d.http+"/api/0/alerts", &fa)
	if len(fa.Alerts) != 0 || fa.Summary.Total != 0 {
		t.Errorf("after recovery /api/0/alerts = %+v", fa)
	}

	// The journal file has every transition and notification.
	journal, err := os.ReadFile(filepath.Join(d.dir, "hbd-journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`queue.depth OK -> WARNING (value 70)`,
		`queue.depth WARNING -> CRITICAL (value 95)`,
		`queue.depth recovered: CRITICAL -> OK (value 20)`,
		`queue.depth WARNING problem sent via ops-hook`,
		`"kind":"alert"`,
		`"kind":"notify"`,
	} {
		if !bytes.Contains(journal, []byte(want)) {
			t.Errorf("journal lacks %q", want)
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(journal), []byte("\n")) {
		if !json.Valid(line) {
			t.Errorf("journal line is not JSON: %s", line)
		}
	}
}

// Silences mute notifications but not levels; agents can silence
// themselves; messages survive a restart through the journal.
func TestSilencesAndJournalRestart(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`watchhosts = ["db01", "db02"]
down_after = 1

[[notify]]
type = "webhook"
group = false
url = %q
`, hook.url))
	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(d.http+"/api/0/silences", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Errorf("silence answer: %v", err)
		}
		return resp.StatusCode, m
	}
	if st, m := post(`{"host": "", "duration": "1h"}`); st != 400 || !strings.Contains(fmt.Sprint(m["error"]), "host is required") {
		t.Errorf("silence without host: %d %v", st, m)
	}
	if st, _ := post(`{"host": "db01", "duration": "soon"}`); st != 400 {
		t.Errorf("bad duration: %d", st)
	}
	if st, _ := post(`{"host": "db01", "until": 1}`); st != 400 {
		t.Errorf("until in the past: %d", st)
	}
	if st, _ := post(`{"host": "db01", "duration": "1h", "colour": "red"}`); st != 400 {
		t.Errorf("unknown field: %d", st)
	}
	st, sil := post(`{"host": "db01", "metric": "heartbeat", "duration": "1h", "comment": "maintenance"}`)
	if st != 201 || sil["id"] == "" {
		t.Fatalf("add silence: %d %v", st, sil)
	}

	// db01 (silenced) and db02 go DOWN: both alerts CRITICAL, only db02 notifies.
	s1 := newSender(t, d, "db01", d.key, false)
	s2 := newSender(t, d, "db02", d.key, false)
	s1.heartbeat(time.Second, 1)
	s2.heartbeat(time.Second, 1)
	var fa fleetAlerts
	waitFor(t, 15*time.Second, "both heartbeat alerts CRITICAL", func() bool {
		getJSON(t, d.http+"/api/0/alerts", &fa)
		return len(fa.Alerts) == 2
	})
	for _, a := range fa.Alerts {
		if a.MetricPath != "heartbeat" || a.Level != "CRITICAL" || a.Silenced != (a.Hostname == "db01") {
			t.Errorf("alert %+v", a)
		}
	}
	waitFor(t, 10*time.Second, "db02's notification", func() bool { return len(hook.received()) >= 1 })
	time.Sleep(500 * time.Millisecond)
	for _, n := range hook.received() {
		if n["host"] == "db01" {
			t.Errorf("silenced host notified: %v", n)
		}
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "heartbeat problem not sent: silenced (maintenance)") {
		t.Errorf("journal lacks the suppressed notification:\n%s", msgs)
	}

	// Delete the silence; list is empty.
	req, _ := http.NewRequest(http.MethodDelete, d.http+"/api/0/silences/"+fmt.Sprint(sil["id"]), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete silence: %v %v", err, resp)
	}
	resp.Body.Close()
	var list struct {
		Silences []map[string]any `json:"silences"`
	}
	getJSON(t, d.http+"/api/0/silences", &list)
	if len(list.Silences) != 0 {
		t.Errorf("silences after delete: %v", list.Silences)
	}

	// An agent silences its own host.
	agentCfg := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(agentCfg, []byte(fmt.Sprintf("name = \"db02\"\nservers = [\"localhost:%d\"]\nkey_file = %q\n", d.udpPort, d.keyPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins.agent, "-config", agentCfg, "-silence", "10m", "-comment", "rebooting").CombinedOutput()
	if err != nil {
		t.Fatalf("hbd-agent -silence: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "the agent's silence", func() bool {
		getJSON(t, d.http+"/api/0/silences", &list)
		return len(list.Silences) == 1
	})
	if s := list.Silences[0]; s["host"] != "db02" || s["comment"] != "rebooting" || s["origin"] != "agent" {
		t.Errorf("agent silence %v", s)
	}

	// Restart: messages and silences come back from disk.
	before := d.messages(t)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon stop: %v", err)
	}
	d.proc = start(t, bins.hbd, nil, "-config", filepath.Join(d.dir, "hbd.toml"))
	waitFor(t, 15*time.Second, "daemon back", func() bool { st, _ := getQuiet(d.http + "/api/0/messages"); return st == 200 })
	after := d.messages(t)
	for _, want := range []string{"db02: state UP -> DOWN", "db02: agent silenced"} {
		if !strings.Contains(before, want) || !strings.Contains(after, want) {
			t.Errorf("%q not in messages before and after restart:\nbefore:\n%s\nafter:\n%s", want, before, after)
		}
	}
	getJSON(t, d.http+"/api/0/silences", &list)
	if len(list.Silences) != 1 {
		t.Errorf("silences after restart: %v", list.Silences)
	}
	var since []map[string]any
	getJSON(t, fmt.Sprintf("%s/api/0/messages?host=db01&since=%d", d.http, time.Now().Add(-time.Hour).Unix()), &since)
	if len(since) == 0 {
		t.Errorf("?host=db01&since= returned nothing")
	}
	for _, m := range since {
		if m["host"] != "db01" {
			t.Errorf("?host=db01 returned %v", m)
		}
	}
}

// hostAlertAt returns the host's alert on path from GET
// /api/0/hosts/{host}/alerts, and false while the host or the alert is not
// there yet (404 until the host's first datagram registers it).
func hostAlertAt(d *daemon, host, path string) (alertJSON, bool) {
	var ha struct {
		Alerts []alertJSON `json:"alerts"`
	}
	if st, body := getQuiet(d.http + "/api/0/hosts/" + host + "/alerts"); st != 200 || json.Unmarshal(body, &ha) != nil {
		return alertJSON{}, false
	}
	for _, a := range ha.Alerts {
		if a.MetricPath == path {
			return a, true
		}
	}
	return alertJSON{}, false
}
