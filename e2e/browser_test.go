package e2e

import (
	"context"

	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for one test. Outside CI a missing
// Chromium skips the test, saying so; in CI it fails, because .ci/run
// installs it.
func browser(t *testing.T) (context.Context, *consoleErrors) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if isCI() {
			t.Fatal("chromium is missing: .ci/run installs the Debian package chromium")
		}
		t.Skip("SKIPPED: chromium is not installed (apt-get install chromium); the pages were not tested in a browser")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	errs := &consoleErrors{}
	_ = chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			errs.add("exception: " + msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				errs.add("console.error: " + strings.Join(parts, " "))
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start chromium: %v", err)
	}
	return ctx, errs
}

type consoleErrors struct {
	mu   sync.Mutex
	list []string
}

func (c *consoleErrors) add(s string) { c.mu.Lock(); c.list = append(c.list, s); c.mu.Unlock() }
func (c *consoleErrors) check(t *testing.T, page string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.list) > 0 {
		t.Errorf("%s logged errors:\n%s", page, strings.Join(c.list, "\n"))
	}
	c.list = nil
}

// screenshot saves the page; with HBD_UPDATE_SCREENSHOTS=1 into
// docs/screenshots (the README shows them), otherwise into the test's temp dir.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := t.TempDir()
	if os.Getenv("HBD_UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitJS polls a JavaScript condition in the page until it holds, for up
// to 20 s.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	waitJSFor(t, ctx, 20*time.Second, what, expr)
}

func jsString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// The three pages, driven in real Chromium against a real daemon fed by a
// real agent and by the wire protocol: they load without console errors,
// show what was sent, update live, sort and filter.
func TestPagesInBrowser(t *testing.T) {
	ctx, errs := browser(t)
	// The maintenance window opens in Tokyo three days from now, so the
	// page always shows it closed ("opens in"), whatever the day CI runs.
	tokyo, berlinZone := mustZone(t, "Asia/Tokyo"), mustZone(t, "Europe/Berlin")
	nowTokyo := time.Now().In(tokyo)
	opens := time.Date(nowTokyo.Year(), nowTokyo.Month(), nowTokyo.Day()+3, 2, 0, 0, 0, tokyo)
	schedule := opens.Format("Mon") + " 02:00-04:00"
	d := startDaemon(t, `watchhosts = ["web01", "db01"]

[[threshold]]
metric = "cpu_monitor.cpu_percent"
warning = 80.0
critical = 90.0
hosts = ["db*"]  # web01's real CPU must not make the count flaky

[[maintenance]]
name = "nas-backups"
hosts = "nas*"
schedule = "`+schedule+`"
timezone = "Asia/Tokyo"
`)
	startAgent(t, d, "web01", `
[plugins.cpu_monitor]
interval = "1s"
[plugins.memory_monitor]
interval = "1s"
[plugins.disk_monitor]
interval = "2s"
[plugins.network_monitor]
interval = "2s"
`)
	db := newSender(t, d, "db01", d.key, false)
	db.heartbeat(time.Minute, 1)
	db.sample("cpu_monitor", `{"cpu_percent": 97.5, "load_1min": 3.2, "load_5min": 2.9, "load_15min": 2.5}`)
	waitFor(t, 20*time.Second, "web01 UP with plugin data", func() bool {
		h, _ := d.host(t, "web01")
		st, _ := get(t, d.http+"/api/0/hosts/web01/plugins/memory_monitor")
		return h.State == "UP" && st == 200
	})

	// /live: both hosts over the WebSocket.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/live")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "live mode", `document.querySelector('#conn-indicator').dataset.mode === 'live'`)
	waitJS(t, ctx, "two host rows", `document.querySelectorAll('#hosts-table .vrow[data-host]').length === 2`)
	waitJS(t, ctx, "web01 UP", `document.querySelector('#hosts-table .vrow[data-host="web01"]').dataset.state === 'UP'`)
	// A new host appears without a reload: pushed over the WebSocket.
	newcomer := newSender(t, d, "app07", d.key, true)
	newcomer.heartbeat(time.Minute, 1)
	waitJS(t, ctx, "app07 row pushed live", `!!document.querySelector('#hosts-table .vrow[data-host="app07"]')`)
	orderJS := `Array.from(document.querySelectorAll('#hosts-table .vrow[data-host]')).sort((a,b)=>parseFloat(a.style.top)-parseFloat(b.style.top)).map(r=>r.dataset.host).join(',')`
	for _, want := range []struct{ sort, order string }{{"ascending", "app07,db01,web01"}, {"descending", "web01,db01,app07"}} {
		for i := 0; i < 2 && jsString(t, ctx, `document.querySelector('#sort-name').getAttribute('aria-sort')`) != want.sort; i++ {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#sort-name`))); err != nil {
				t.Fatal(err)
			}
		}
		waitJS(t, ctx, "rows sorted by name, "+want.sort, orderJS+` === '`+want.order+`'`)
	}
	waitJS(t, ctx, "messages panel", `document.querySelectorAll('#msg-list li').length > 0`)
	screenshot(t, ctx, "live.png")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filter`), "db")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "filter shows db01 only", `Array.from(document.querySelectorAll('#hosts-table .vrow[data-host]')).map(r=>r.dataset.host).join(',') === 'db01'`)
	errs.check(t, "/live")

	// /plugins: the URL selects host and plugin; cards show the values sent.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/plugins#db01/cpu_monitor")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "cpu_percent card of db01", `(() => { const c = document.querySelector('.metric-card[data-metric="cpu_percent"] .value'); return !!c && c.textContent.includes('97.5'); })()`)
	if got := jsString(t, ctx, `document.querySelector('.metric-card[data-metric="cpu_percent"]').textContent`); !strings.Contains(got, "%") {
		t.Errorf("cpu_percent card %q lacks its %% unit", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(d.http+"/plugins#web01/disk_monitor")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "per-partition disk cards", `document.querySelectorAll('.metric-card[data-metric$=".percent"]').length > 0`)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(d.http+"/plugins#web01/cpu_monitor")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "a chart per numeric metric", `document.querySelectorAll('.metric-card[data-metric] .chart .uplot').length > 0 && document.querySelectorAll('.metric-card[data-metric] .chart .uplot').length === document.querySelectorAll('.metric-card.charted').length`)
	screenshot(t, ctx, "plugins.png")
	errs.check(t, "/plugins")

	// /alerts: db01's CPU is CRITICAL; silence it from the page. The
	// browser is in Berlin, the config's maintenance window in Tokyo.
	if err := chromedp.Do(ctx, inZone("Europe/Berlin"), chromedp.Navigate(d.http+"/alerts")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the maintenance window listed", `!!document.querySelector('#silences-list tr[data-window="yes"][data-host="nas*"] td.window')`)
	win := jsString(t, ctx, `document.querySelector('#silences-list tr[data-window="yes"] td.window').innerText`)
	// 02:00-04:00 in Tokyo (UTC+9, no DST) is the evening before in
	// Berlin: 18:00-20:00 in winter, 19:00-21:00 in summer.
	berlin := opens.In(berlinZone).Format("15:04") + "–" + opens.Add(2*time.Hour).In(berlinZone).Format("15:04")
	for _, want := range []string{schedule, "Asia/Tokyo", "02:00–04:00", "your time", berlin, "opens in"} {
		if !strings.Contains(win, want) {
			t.Errorf("window cell %q lacks %q", win, want)
		}
	}
	if !jsBool(t, ctx, `document.querySelector('#silences-list tr[data-window="yes"] button[data-action="delete"]').disabled`) {
		t.Error("the config window's Delete button is enabled; the API refuses it")
	}
	waitJS(t, ctx, "CRITICAL alert row", `!!document.querySelector('#alerts-list tr[data-host="db01"][data-metric="cpu_monitor.cpu_percent"][data-level="CRITICAL"]')`)
	if got := jsString(t, ctx, `document.querySelector('#summary-critical').textContent`); !strings.Contains(got, "1") {
		t.Errorf("critical summary card %q, want 1", got)
	}
	if got := jsString(t, ctx, `document.querySelector('#summary-hosts').textContent`); !strings.Contains(got, "3") {
		t.Errorf("hosts summary card %q, want 3", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#alerts-list tr[data-host="db01"] button[data-action="silence"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#silence-dialog`)),
		chromedp.Click(chromedp.CSS(`#dur-1h`)),
		chromedp.SendKeys(chromedp.CSS(`#silence-comment`), "browser test"),
		chromedp.Click(chromedp.CSS(`#silence-submit`)),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the silence listed", `document.querySelectorAll('#silences-list tr[data-id]:not([data-window="yes"])').length === 1`)
	var sil struct {
		Silences []struct{ Host, Metric, Comment string } `json:"silences"`
	}
	getJSON(t, d.http+"/api/0/silences", &sil)
	sil.Silences = slices.DeleteFunc(sil.Silences, func(s struct{ Host, Metric, Comment string }) bool { return s.Host == "nas*" })
	if len(sil.Silences) != 1 || sil.Silences[0].Host != "db01" || sil.Silences[0].Comment != "browser test" {
		t.Errorf("silence made by the page: %+v", sil.Silences)
	}
	screenshot(t, ctx, "alerts.png")
	errs.check(t, "/alerts")

	// Narrow window: the pages still work.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.http+"/live")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "rows at 390 px", `document.querySelectorAll('#hosts-table .vrow[data-host]').length === 3`)
	overflow, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if overflow {
		t.Errorf("/live scrolls horizontally at 390 px")
	}
	screenshot(t, ctx, "live-narrow.png")
	errs.check(t, "/live (narrow)")
}
