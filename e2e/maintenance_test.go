package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// windowJSON is a maintenance window as GET /api/0/silences shows it.
type windowJSON struct {
	ID        string  `json:"id"`
	Origin    string  `json:"origin"`
	Name      string  `json:"name"`
	Schedule  string  `json:"schedule"`
	Timezone  string  `json:"timezone"`
	NextStart float64 `json:"next_start"`
	NextEnd   float64 `json:"next_end"`
	Active    *bool   `json:"active"`
}

// maintenanceDaemon starts a daemon that declares db01, pages a real
// webhook server on every transition, and has one [[maintenance]] window
// of its own (Saturday nights, for the API's view of config windows).
func maintenanceDaemon(t *testing.T) (*daemon, *hookServer) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`watchhosts = ["db01"]
down_after = 1

[[notify]]
type = "webhook"
group = false
url = %q

[[maintenance]]
name = "saturday-patching"
hosts = "web*"
schedule = "Sat 02:00-04:00"
timezone = "Europe/Berlin"
`, hook.url))
	return d, hook
}

// addWindowSoon adds, through the API, a window on db01 that opens at the
// next whole second plus one and lasts length: a cron schedule with a
// seconds field, in UTC, that next matches a year later.
func addWindowSoon(t *testing.T, d *daemon, length time.Duration) windowJSON {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	body := fmt.Sprintf(`{"host":"db01","schedule":"%d %d %d %d %d *","duration":%q,"timezone":"UTC","comment":"db01 upgrade"}`,
		at.Second(), at.Minute(), at.Hour(), at.Day(), int(at.Month()), length.String())
	resp, err := http.Post(d.http+"/api/0/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var w windowJSON
	if resp.StatusCode != 201 || json.Unmarshal(b, &w) != nil {
		t.Fatalf("POST %s: %d %s", body, resp.StatusCode, b)
	}
	if w.NextStart != float64(at.Unix()) || w.NextEnd != float64(at.Add(length).Unix()) {
		t.Fatalf("window %+v, want %s for %s", w, at, length)
	}
	return w
}

func (d *daemon) window(t *testing.T, id string) windowJSON {
	t.Helper()
	var list struct {
		Silences []windowJSON `json:"silences"`
	}
	getJSON(t, d.http+"/api/0/silences", &list)
	for _, w := range list.Silences {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("window %s not listed: %+v", id, list.Silences)
	return windowJSON{}
}

func (d *daemon) heartbeatAlert(t *testing.T, host string) alertJSON {
	t.Helper()
	var fa fleetAlerts
	getJSON(t, d.http+"/api/0/alerts", &fa)
	for _, a := range fa.Alerts {
		if a.Hostname == host && a.MetricPath == "heartbeat" {
			return a
		}
	}
	return alertJSON{}
}

// holdInWindow opens a window on db01, lets db01 go DOWN inside it and
// checks that the alert is CRITICAL, shown silenced, journaled as held,
// and sent to nobody.
func holdInWindow(t *testing.T, d *daemon, hook *hookServer, length time.Duration) (windowJSON, *sender) {
	t.Helper()
	s := newSender(t, d, "db01", d.key, false)
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "db01 UP", func() bool { h, ok := d.hostQuiet("db01"); return ok && h.State == "UP" })
	w := addWindowSoon(t, d, length)
	waitFor(t, 10*time.Second, "the window open", func() bool {
		s.heartbeat(time.Second, 1) // db01 stays UP until then
		x := d.window(t, w.ID)
		return x.Active != nil && *x.Active
	})
	// The last heartbeat: down_after = 1 interval of 1 s.
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "db01's heartbeat alert CRITICAL and silenced", func() bool {
		a := d.heartbeatAlert(t, "db01")
		return a.Level == "CRITICAL" && a.Silenced
	})
	if now := float64(time.Now().Unix()); now >= w.NextEnd {
		t.Fatalf("the machine is too slow: db01 went DOWN after its window ended (%v >= %v)", now, w.NextEnd)
	}
	waitFor(t, 10*time.Second, "the journal telling it was held", func() bool {
		return strings.Contains(d.messages(t), "heartbeat problem not sent: silenced (db01 upgrade)")
	})
	if got := hook.summary(); got != "" {
		t.Fatalf("sent inside the window: %s", got)
	}
	return w, s
}

// A window opened through the API mutes db01's DOWN (the alert is
// CRITICAL and shown silenced; the webhook gets nothing); when the window
// closes, the still-firing alert is sent once.
func TestMaintenanceWindowMutesThenReleases(t *testing.T) {
	d, hook := maintenanceDaemon(t)

	// The config's window is listed, with its next occurrence, and the
	// API cannot delete it.
	cfg := d.window(t, "config:saturday-patching")
	if cfg.Origin != "config" || cfg.Timezone != "Europe/Berlin" || cfg.Active == nil || cfg.NextEnd-cfg.NextStart != 7200 {
		t.Errorf("config window %+v", cfg)
	}
	req, _ := http.NewRequest(http.MethodDelete, d.http+"/api/0/silences/config:saturday-patching", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 409 || !strings.Contains(string(b), "from the config") {
		t.Errorf("DELETE config window: %d %s", resp.StatusCode, b)
	}

	w, s := holdInWindow(t, d, hook, 8*time.Second)
	waitFor(t, 15*time.Second, "the held problem sent when the window closed", func() bool { return hook.summary() != "" })
	got := hook.received()
	if n := got[0]; n["kind"] != "problem" || n["level"] != "CRITICAL" || !strings.Contains(fmt.Sprint(n["message"]), "held by db01 upgrade, which ended") {
		t.Errorf("release %v", n)
	}
	if at, _ := got[0]["time"].(float64); at < w.NextEnd {
		t.Errorf("released at %v, before the window's end %v", at, w.NextEnd)
	}
	if a := d.heartbeatAlert(t, "db01"); a.Silenced || a.Level != "CRITICAL" {
		t.Errorf("after the window: %+v", a)
	}
	if x := d.window(t, w.ID); x.Active == nil || *x.Active || x.NextStart <= w.NextStart {
		t.Errorf("after the window: %+v, want closed with its next occurrence", x)
	}
	// db01 comes back: its recovery is the barrier. Anything sent twice
	// would be ahead of it.
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "the recovery", func() bool { return len(hook.received()) >= 2 })
	if got := hook.summary(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Errorf("webhook got %s, want the release once and the recovery", got)
	}
}

// The daemon stops inside the window and starts after it ended: the held
// alert is sent once, by the restarted daemon.
func TestMaintenanceWindowReleasesAcrossRestart(t *testing.T) {
	d, hook := maintenanceDaemon(t)
	w, s := holdInWindow(t, d, hook, 8*time.Second)
	if err := d.proc.stop(); err != nil {
		t.Fatalf("hbd did not stop cleanly: %v", err)
	}
	if wait := time.Until(time.Unix(int64(w.NextEnd), 0)); wait > 0 {
		time.Sleep(wait) // the daemon is down: nothing to wait on but the clock
	}
	d.startProc(t)
	waitFor(t, 15*time.Second, "the held problem sent after the restart", func() bool { return hook.summary() != "" })
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "the recovery", func() bool { return len(hook.received()) >= 2 })
	if got := hook.summary(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Errorf("webhook got %s, want the held problem once and the recovery", got)
	}
	if m := fmt.Sprint(hook.received()[0]["message"]); !strings.Contains(m, "not delivered before the restart") {
		t.Errorf("release %q", m)
	}
}

func jsBool(t *testing.T, ctx context.Context, expr string) bool {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return b
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// inZone sets the browser's time zone.
func inZone(zone string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})
}

// A reload replaces the config's windows; a config with a bad window is
// refused with every problem at its line, and the windows in force stay.
func TestMaintenanceWindowsReload(t *testing.T) {
	d, _ := maintenanceDaemon(t)
	base, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(cfg string) (int, string) {
		t.Helper()
		if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, d.http+"/-/reload", nil)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ids := func() string {
		var list struct {
			Silences []windowJSON `json:"silences"`
		}
		getJSON(t, d.http+"/api/0/silences", &list)
		var out []string
		for _, w := range list.Silences {
			out = append(out, w.ID)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	if got := ids(); got != "config:saturday-patching" {
		t.Fatalf("windows %q", got)
	}

	renamed := strings.Replace(string(base), `name = "saturday-patching"`, `name = "sunday-patching"`, 1) + `
[[maintenance]]
name = "backups"
hosts = "nas*"
schedule = "0 3 * * *"
duration = "45m"
`
	if st, body := reload(renamed); st != 200 || !strings.Contains(body, "maintenance") {
		t.Fatalf("reload: %d %s", st, body)
	}
	if got := ids(); got != "config:backups config:sunday-patching" {
		t.Errorf("after the reload: %q", got)
	}

	bad := renamed + `
[[maintenance]]
name = "broken"
hosts = "x"
schedule = "Sat 02:00-04:00"
timezone = "Europe/Nowhere"
`
	line := strings.Count(renamed, "\n") + 6 // the timezone line
	st, body := reload(bad)
	if want := fmt.Sprintf("hbd.toml:%d: maintenance[2].timezone: unknown timezone", line); st != 422 || !strings.Contains(body, want) {
		t.Errorf("bad reload: %d %s, want 422 with %q", st, body, want)
	}
	if got := ids(); got != "config:backups config:sunday-patching" {
		t.Errorf("after a refused reload: %q", got)
	}
}
