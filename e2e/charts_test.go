package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hbd-project/hbd/transport/wire"
)

// sampleAt sends a plugin sample stamped at, as an agent does with the
// time it collected the sample.
func (s *sender) sampleAt(plugin, data string, at time.Time) {
	s.t.Helper()
	env := s.env()
	env.Time = at.UnixNano()
	b, err := wire.AppendSample(nil, s.sg, env, plugin, []byte(data))
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b)
}

// cspWatch records the page's Content-Security-Policy violations in
// window.__csp, from before any of the page's own scripts run.
func cspWatch(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber);
});`})
	if err != nil {
		t.Fatal(err)
	}
}

func checkCSP(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if v := jsString(t, ctx, `(window.__csp || ['no watcher']).join('\n')`); v != "" {
		t.Errorf("%s violated the Content-Security-Policy:\n%s", what, v)
	}
}

// /plugins draws every numeric value as a uPlot chart over every sample
// the daemon holds: a time axis labelled with clock times, a gap where the
// host sent nothing for several intervals, the value and its time under
// the cursor, and all of it under the page's CSP without console errors.
func TestPluginChartsInBrowser(t *testing.T) {
	ctx, errs := browser(t)
	cspWatch(t, ctx)
	d := startDaemon(t, "")
	s := newSender(t, d, "gap01", d.key, false)
	s.heartbeat(time.Minute, 1)

	// 6 samples 10 s apart, 60 s without any, 6 more: within the
	// daemon's max_clock_skew of 5 minutes.
	const step = 10 * time.Second
	t0 := time.Now().Add(-4 * time.Minute).Truncate(time.Second)
	var sent []time.Time
	for i := 0; i < 18; i++ {
		if i >= 6 && i < 12 {
			continue
		}
		at := t0.Add(time.Duration(i) * step)
		sent = append(sent, at)
		s.sampleAt("cpu_monitor", fmt.Sprintf(`{"cpu_percent": %d.5, "used_bytes": %d}`, 10+i, (1+i)<<30), at)
	}
	waitFor(t, 20*time.Second, "12 samples stored", func() bool {
		var r struct {
			Stored int `json:"stored"`
		}
		st, body := getQuiet(d.http + "/api/0/hosts/gap01/plugins/cpu_monitor?limit=1")
		return st == 200 && json.Unmarshal(body, &r) == nil && r.Stored == len(sent)
	})

	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/plugins#gap01/cpu_monitor")); err != nil {
		t.Fatal(err)
	}
	plot := `hbd.plots.get('metric:cpu_percent')`
	waitJS(t, ctx, "the cpu_percent chart", `!!window.hbd && !!hbd.plots && !!`+plot+` && `+plot+`.data[0].length > 0`)

	// Every sample held, oldest first, and one null (the gap) between the
	// 6th and 7th.
	type chartData struct {
		X     []float64  `json:"x"`
		Y     []*float64 `json:"y"`
		Gaps  int        `json:"gaps"`
		Ticks []string   `json:"ticks"`
		Bytes []string   `json:"bytes"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[chartData](`(() => { const u = `+plot+`, b = hbd.plots.get('metric:used_bytes');
  return { x: u.data[0], y: u.data[1], gaps: (u.series[1]._paths && u.series[1]._paths.gaps || []).length,
           ticks: u.axes[0]._values, bytes: b.axes[1]._values }; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.X) != len(sent)+1 || len(got.Y) != len(got.X) {
		t.Fatalf("chart data has %d times and %d values, want %d samples and one gap", len(got.X), len(got.Y), len(sent))
	}
	for i, y := range got.Y {
		if (y == nil) != (i == 6) {
			t.Errorf("value %d at %v is %v; want null only at index 6, between %s and %s", i, got.X[i], y, sent[5].Format(time.TimeOnly), sent[6].Format(time.TimeOnly))
		}
	}
	if first, last := got.X[0], got.X[len(got.X)-1]; first != float64(sent[0].Unix()) || last != float64(sent[len(sent)-1].Unix()) {
		t.Errorf("chart spans %v to %v, want the whole ring %d to %d", first, last, sent[0].Unix(), sent[len(sent)-1].Unix())
	}
	// uPlot (spanGaps off) clips the line at each null run: one gap drawn.
	if got.Gaps != 1 {
		t.Errorf("the drawn line has %d gaps, want 1", got.Gaps)
	}
	clockLabel := regexp.MustCompile(`^(\d\d-\d\d )?\d\d:\d\d(:\d\d)?$`)
	if len(got.Ticks) < 2 {
		t.Errorf("time axis labels %q, want at least two", got.Ticks)
	}
	for _, l := range got.Ticks {
		if !clockLabel.MatchString(l) {
			t.Errorf("time axis label %q is not a clock time (axis %q)", l, got.Ticks)
		}
	}
	for _, l := range got.Bytes {
		if !regexp.MustCompile(`^[\d.,]+ (B|KB|MB|GB|TB)$`).MatchString(l) {
			t.Errorf("used_bytes axis label %q is not a byte size (axis %q)", l, got.Bytes)
		}
	}

	// Hovering shows the value under the cursor and its time: near the
	// left edge a sample; in the middle of the gap, the sample nearest it
	// (never the gap's placeholder).
	for _, at := range []struct {
		name string
		frac float64
	}{{"first sample", 0.02}, {"middle of the gap", 0.5}} {
		hover(t, ctx, `.metric-card[data-metric="cpu_percent"] .u-over`, at.frac)
		type legend struct {
			Time, Value, WantTime, WantValue string
		}
		waitJS(t, ctx, "the legend follows the cursor at the "+at.name, plot+`.cursor.idxs[1] != null && `+plot+`.cursor.left > 0`)
		if at.frac == 0.5 {
			// The cursor is over the gap's placeholder, and shows a sample.
			if idx := jsString(t, ctx, `String(`+plot+`.posToIdx(`+plot+`.cursor.left))`); idx != "6" {
				t.Errorf("the cursor in the middle of the gap is at index %s, want the placeholder's 6", idx)
			}
		}
		leg, err := chromedp.Run(ctx, chromedp.Evaluate[legend](`(() => { const u = `+plot+`, card = document.querySelector('.metric-card[data-metric="cpu_percent"]');
  const v = card.querySelectorAll('.u-legend .u-series .u-value');
  return { Time: v[0].textContent, Value: v[1].textContent,
           WantTime: hbd.clock(u.data[0][u.cursor.idxs[0]]), WantValue: hbd.metricText('cpu_percent', u.data[1][u.cursor.idxs[1]]) }; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`\d\d:\d\d:\d\d$`).MatchString(leg.Time) || leg.Time != leg.WantTime {
			t.Errorf("%s: legend time %q, want the sample's %q", at.name, leg.Time, leg.WantTime)
		}
		if !strings.HasSuffix(leg.Value, "%") || leg.Value != leg.WantValue {
			t.Errorf("%s: legend value %q, want the sample's %q", at.name, leg.Value, leg.WantValue)
		}
	}

	// A refresh brings a new sample into the same chart (its zoom and
	// cursor stay), not a new one.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](plot+`.hbdTestMark = 1`)); err != nil {
		t.Fatal(err)
	}
	s.sampleAt("cpu_monitor", `{"cpu_percent": 42.5, "used_bytes": 1}`, time.Now())
	waitFor(t, 20*time.Second, "the 13th sample stored", func() bool {
		var r struct {
			Stored int `json:"stored"`
		}
		st, body := getQuiet(d.http + "/api/0/hosts/gap01/plugins/cpu_monitor?limit=1")
		return st == 200 && json.Unmarshal(body, &r) == nil && r.Stored == len(sent)+1
	})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#refresh`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the new sample in the chart", plot+`.data[1][`+plot+`.data[1].length - 1] === 42.5`)
	if got := jsString(t, ctx, `String(`+plot+`.hbdTestMark)`); got != "1" {
		t.Errorf("a refresh replaced the chart instead of updating it")
	}
	if n := jsString(t, ctx, `String(document.querySelectorAll('.metric-card[data-metric="cpu_percent"] .uplot').length)`); n != "1" {
		t.Errorf("%s charts in the cpu_percent card after a refresh, want 1", n)
	}
	checkCSP(t, ctx, "/plugins with charts")
	errs.check(t, "/plugins with charts")

	// In a phone-sized window the charts shrink with their cards: the page
	// does not scroll sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "charts as narrow as the window", `(() => { const u = `+plot+`;
  return u.width < 390 && u.width === u.root.parentNode.clientWidth && document.documentElement.scrollWidth <= window.innerWidth + 1; })()`)
	checkCSP(t, ctx, "/plugins in a narrow window")
	errs.check(t, "/plugins in a narrow window")

	// The CSP watcher itself sees a violation: an inline style attribute.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.body.appendChild(document.createElement('div')).setAttribute('style', 'color: red')`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the CSP watcher reports an inline style", `window.__csp.length === 1 && window.__csp[0].indexOf('style-src') === 0`)
}

// hover moves the mouse over the element sel at frac of its width, half
// way down.
func hover(t *testing.T, ctx context.Context, sel string, frac float64) {
	t.Helper()
	type rect struct{ X, Y, W, H float64 }
	box, err := chromedp.Run(ctx, chromedp.Evaluate[rect](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
  return { X: r.left, Y: r.top, W: r.width, H: r.height }; })()`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	if box.W == 0 {
		t.Fatalf("%s has no width", sel)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X+box.W*frac, box.Y+box.H/2)); err != nil {
		t.Fatal(err)
	}
}

// The host view of /plugins draws the host's RTT history from GET
// /api/0/hosts/{host}/rtt: IPv4 and IPv6 on one chart, each with the RTTs
// its heartbeats reported, and a gap where heartbeats stopped.
func TestHostRTTChartInBrowser(t *testing.T) {
	ctx, errs := browser(t)
	cspWatch(t, ctx)
	d := startDaemon(t, "")
	// One sender per family, each its own sender instance (version 2), as
	// an agent's two sockets would be.
	v4, v6 := newSender(t, d, "rtt01", d.key, false), newSender(t, d, "rtt01", d.key, true)
	v4.instance, v6.instance = 1, 2
	const step = 300 * time.Millisecond
	beat := func(connSeq uint32) {
		v4.heartbeatRTT(step, connSeq, time.Duration(1000+100*connSeq)*time.Microsecond)
		v6.heartbeatRTT(step, connSeq, time.Duration(2000+100*connSeq)*time.Microsecond)
		time.Sleep(step) // the receive times are the history's times
	}
	for i := uint32(1); i <= 6; i++ {
		beat(i)
	}
	// Heartbeats 7 to 12 are lost: several intervals without any.
	time.Sleep(6 * step)
	for i := uint32(13); i <= 18; i++ {
		beat(i)
	}
	url := d.http + "/api/0/hosts/rtt01/rtt"
	var api rttAnswer
	waitFor(t, 20*time.Second, "RTT history of both families", func() bool {
		st, body := getQuiet(url)
		if st != 200 || json.Unmarshal(body, &api) != nil || len(api.Families) != 2 {
			return false
		}
		for _, f := range api.Families {
			if n := numbers(f.History); n < 12 {
				return false
			}
		}
		return true
	})

	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/plugins#rtt01")); err != nil {
		t.Fatal(err)
	}
	plot := `hbd.plots.get('rtt')`
	waitJS(t, ctx, "the RTT chart", `!!window.hbd && !!hbd.plots && !!`+plot)
	type chart struct {
		Labels []string     `json:"labels"`
		Data   [][]*float64 `json:"data"` // undefined (another family's time) arrives as null
		Gaps   []int        `json:"gaps"`
		Ticks  []string     `json:"ticks"`
		YTicks []string     `json:"yticks"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[chart](`(() => { const u = `+plot+`;
  return { labels: u.series.slice(1).map(s => s.label), data: u.data,
           gaps: u.series.slice(1).map(s => (s._paths && s._paths.gaps || []).length),
           ticks: u.axes[0]._values, yticks: u.axes[1]._values }; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Labels, ",") != "ipv4,ipv6" || len(got.Data) != 3 {
		t.Fatalf("RTT chart series %q with %d data arrays, want ipv4,ipv6", got.Labels, len(got.Data))
	}
	for i, f := range api.Families {
		want := ""
		for _, e := range f.History {
			if e[1] != nil {
				want += fmt.Sprintf("%g ", *e[1])
			}
		}
		have := ""
		for _, v := range got.Data[i+1] {
			if v != nil {
				have += fmt.Sprintf("%g ", *v)
			}
		}
		if have != want {
			t.Errorf("%s: chart RTTs %q, the API's %q", f.Family, have, want)
		}
		if got.Gaps[i] < 1 {
			t.Errorf("%s: the line has no gap where the heartbeats stopped", f.Family)
		}
	}
	for _, l := range got.YTicks {
		if !strings.HasSuffix(l, " ms") {
			t.Errorf("RTT axis label %q is not in ms (axis %q)", l, got.YTicks)
		}
	}
	if len(got.Ticks) < 2 {
		t.Errorf("RTT time axis labels %q, want at least two", got.Ticks)
	}

	hover(t, ctx, `.metric-card[data-metric="rtt"] .u-over`, 0.9)
	waitJS(t, ctx, "the legend shows both families' RTT and the time", `(() => {
  const v = Array.from(document.querySelectorAll('.metric-card[data-metric="rtt"] .u-legend .u-series .u-value')).map(e => e.textContent);
  return v.length === 3 && /\d\d:\d\d:\d\d$/.test(v[0]) && / ms$/.test(v[1]) && / ms$/.test(v[2]); })()`)

	// A refresh brings the new heartbeats into the same chart.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](plot+`.hbdTestMark = 1`)); err != nil {
		t.Fatal(err)
	}
	v4.heartbeatRTT(step, 19, 9*time.Millisecond)
	waitFor(t, 20*time.Second, "the 19th heartbeat in the history", func() bool {
		st, body := getQuiet(url)
		return st == 200 && json.Unmarshal(body, &api) == nil && len(api.Families) == 2 && numbers(api.Families[0].History) == 13
	})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#refresh`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the new RTT in the chart", plot+`.data[1].indexOf(9) >= 0`)
	if got := jsString(t, ctx, `String(`+plot+`.hbdTestMark)`); got != "1" {
		t.Errorf("a refresh replaced the RTT chart instead of updating it")
	}
	checkCSP(t, ctx, "/plugins with the RTT chart")
	errs.check(t, "/plugins with the RTT chart")
}

func numbers(h [][2]*float64) int {
	n := 0
	for _, e := range h {
		if e[1] != nil {
			n++
		}
	}
	return n
}
