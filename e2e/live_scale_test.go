package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hbd-project/hbd/transport/wire"
)

// liveScaleHosts is the fleet of TestLivePageAt100kHostsInBrowser.
const liveScaleHosts = 100_000

// frameProbe is installed in /live before its own scripts run: it records
// the timestamp of every animation frame (a frame that the main thread
// delays shows as a long gap) and every long task (over 50 ms) the
// browser reports. window.__probe(t0, t1) sums up the frames in [t0, t1).
const frameProbe = `(function () {
  var frames = [], long = [];
  function tick(ts) { frames.push(ts); requestAnimationFrame(tick); }
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver(function (l) {
      l.getEntries().forEach(function (e) { long.push([e.startTime, e.duration]); });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no long-task API: the frames still tell */ }
  window.__probe = function (t0, t1) {
    var n = 0, worst = 0, prev = -1, first = -1, last = -1;
    for (var i = 0; i < frames.length; i++) {
      var ts = frames[i];
      if (ts < t0 || ts >= t1) continue;
      if (prev >= 0 && ts - prev > worst) worst = ts - prev;
      if (first < 0) first = ts;
      prev = last = ts; n++;
    }
    var longest = 0, longs = 0;
    long.forEach(function (e) {
      if (e[0] + e[1] < t0 || e[0] >= t1) return;
      longs++;
      if (e[1] > longest) longest = e[1];
    });
    var mem = performance.memory ? performance.memory.usedJSHeapSize : 0;
    return JSON.stringify({ frames: n, fps: n > 1 ? (n - 1) * 1000 / (last - first) : 0,
      worst: worst, longTasks: longs, longest: longest, heap: mem });
  };
})();`

// probeResult is what window.__probe returns.
type probeResult struct {
	Frames    int     `json:"frames"`
	FPS       float64 `json:"fps"`
	Worst     float64 `json:"worst"` // ms between two frames
	LongTasks int     `json:"longTasks"`
	Longest   float64 `json:"longest"` // ms
	Heap      float64 `json:"heap"`    // bytes of the page's JS heap
}

func (p probeResult) String() string {
	return fmt.Sprintf("%.1f fps (%d frames), worst frame %.0f ms, %d long tasks (longest %.0f ms), main-thread JS heap %.1f MiB",
		p.FPS, p.Frames, p.Worst, p.LongTasks, p.Longest, p.Heap/(1<<20))
}

// fleetSender signs heartbeats and shutdowns for many hosts from one
// socket per address family, as hbd-bench does: one sender per host would
// need 100,000 sockets.
type fleetSender struct {
	t        *testing.T
	v4, v6   *net.UDPConn
	dst4     netip.AddrPort
	dst6     netip.AddrPort
	sg       *wire.Signer
	names    []string
	connSeq  []uint32
	seq      uint64
	buf      []byte
	sendErrs int
}

func newFleetSender(t *testing.T, d *daemon, n int) *fleetSender {
	t.Helper()
	f := &fleetSender{t: t, sg: wire.NewSigner(d.key), seq: uint64(time.Now().UnixNano()),
		dst4:  netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(d.udpPort)),
		dst6:  netip.AddrPortFrom(netip.IPv6Loopback(), uint16(d.udpPort)),
		names: make([]string, n), connSeq: make([]uint32, n)}
	for i := range f.names {
		f.names[i] = fmt.Sprintf("node%06d", i)
	}
	var err error
	if f.v4, err = net.ListenUDP("udp4", nil); err != nil {
		t.Fatal(err)
	}
	if f.v6, err = net.ListenUDP("udp6", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.v4.Close(); f.v6.Close() })
	return f
}

func (f *fleetSender) env(i int) wire.Envelope {
	f.seq++ // one counter for all hosts still grows for each of them
	return wire.Envelope{Host: f.names[i], Seq: f.seq, Time: time.Now().UnixNano()}
}

// heartbeat sends host i's heartbeat (over IPv6 too when v6 is set) with
// an RTT that varies by host, so the RTT column has something to show.
func (f *fleetSender) heartbeat(i int, v6 bool) {
	f.connSeq[i]++
	hb := wire.Heartbeat{IntervalMS: 60_000, ConnSeq: f.connSeq[i], RTTMicros: uint32(100 + i%5000)}
	f.write(wire.AppendHeartbeat(f.buf[:0], f.sg, f.env(i), hb))
	f.write4()
	if v6 {
		f.write(wire.AppendHeartbeat(f.buf[:0], f.sg, f.env(i), hb))
		f.write6()
	}
}

// shutdown makes host i STOPPED until its next heartbeat.
func (f *fleetSender) shutdown(i int) {
	f.write(wire.AppendShutdown(f.buf[:0], f.sg, f.env(i), wire.Shutdown{Reason: []byte("test")}))
	f.write4()
}

func (f *fleetSender) write(b []byte, err error) {
	if err != nil {
		f.t.Fatal(err)
	}
	f.buf = b
}

// A full socket buffer (ENOBUFS) is loss like any other on UDP: counted,
// and made up for by the test's resends.
func (f *fleetSender) write4() { f.count(f.v4.WriteToUDPAddrPort(f.buf, f.dst4)) }
func (f *fleetSender) write6() { f.count(f.v6.WriteToUDPAddrPort(f.buf, f.dst6)) }
func (f *fleetSender) count(_ int, err error) {
	if err != nil {
		f.sendErrs++
	}
}

// hostsTotal is the daemon's host count, from X-Total-Count.
func hostsTotal(t *testing.T, d *daemon) int {
	t.Helper()
	resp, err := http.Get(d.http + "/api/0/hosts?limit=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	n, err := strconv.Atoi(resp.Header.Get("X-Total-Count"))
	if err != nil {
		t.Fatalf("X-Total-Count %q: %v", resp.Header.Get("X-Total-Count"), err)
	}
	return n
}

// /live with 100,000 hosts in real Chromium: the page loads the fleet and
// follows 10,000 host changes a second while it scrolls; its frames are
// timed in the page (requestAnimationFrame gaps, long tasks), and its main
// thread's heap and CPU are read. The figures are logged; the assertions
// are generous bounds that a page which holds, parses and sorts the fleet
// on its main thread fails (the page before the worker, on a quiet
// machine: a 55 MiB heap, 8.7 CPU-s of main thread in 15 s, 8.7 fps and a
// 1.6 s frame). The targets, 50 fps and no frame over 100 ms, are for a
// quiet machine and a benchmark, not for this test.
func TestLivePageAt100kHostsInBrowser(t *testing.T) {
	began := time.Now()
	ctx, errs := browser(t)
	// No durable state: a checkpoint of 100,000 hosts is not what this
	// test measures, and it would share the 2 cores with the page.
	d := startDaemon(t, "[limits]\nhosts_per_source = 0\n[state]\nenabled = false\n")
	// A clean stop freezes and then stops 100,000 HostActors: 8–9 s next
	// to the rest of the suite on 2 cores (seen in make test), too close
	// to the 10 s every other daemon gets.
	d.stopWait = 30 * time.Second
	f := newFleetSender(t, d, liveScaleHosts)

	// Register the fleet in chunks, one chunk ahead of the daemon so that
	// its socket buffer is never asked to hold much more than a chunk;
	// hosts lost anyway are sent again (heartbeats are idempotent).
	const chunk = 10_000
	for from := 0; from < liveScaleHosts; from += chunk {
		for i := from; i < from+chunk; i++ {
			f.heartbeat(i, false)
		}
		waitFor(t, 30*time.Second, "the daemon a chunk behind at most", func() bool { return hostsTotal(t, d) >= from-chunk/2 })
	}
	for round := 0; hostsTotal(t, d) < liveScaleHosts; round++ {
		if round == 50 {
			t.Fatalf("%d of %d hosts registered (%d send errors)", hostsTotal(t, d), liveScaleHosts, f.sendErrs)
		}
		if round%10 == 9 {
			for i := range f.names {
				f.heartbeat(i, false)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d hosts registered in %s", liveScaleHosts, time.Since(began).Round(time.Millisecond))

	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: frameProbe})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	loadStart := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.http+"/live")); err != nil {
		t.Fatal(err)
	}
	// Loaded: the counter shows the whole fleet and the first rows are in.
	waitJSFor(t, ctx, 40*time.Second, "the fleet counted and listed",
		`document.querySelector('#count-all .n').textContent.replace(/\D/g, '') === '`+strconv.Itoa(liveScaleHosts)+`' &&
		 !!document.querySelector('#hosts-table .vrow[data-host="node000000"]') &&
		 document.querySelector('#conn-indicator').dataset.mode === 'live'`)
	loaded := probe(t, ctx, 0, jsFloat(t, ctx, `performance.now()`))
	t.Logf("load: the fleet listed in %s; %s; worker JS heap %.1f MiB", time.Since(loadStart).Round(time.Millisecond), loaded, workerHeap(t, ctx)/(1<<20))

	// Stream: 10,000 host changes a second: heartbeats round the fleet
	// (every tenth host over IPv6 too) and one shutdown in 20, so states
	// and counters move. Meanwhile the page scrolls through the table.
	const streamFor, perSecond = 15 * time.Second, 10_000
	jsFloat(t, ctx, `window.__scroll = setInterval(function () {
	  var s = document.getElementById('hosts-table'); s.scrollTop = (s.scrollTop + 2357) % (s.scrollHeight - s.clientHeight);
	}, 250), 0`)
	browserPID := chromedp.FromContext(ctx).Browser.Process().Pid
	m0 := perfMetrics(t, ctx)
	r0, d0 := threadCPU(browserPID, "--type=renderer"), threadCPU(d.proc.cmd.Process.Pid, "")
	o0, othersOK := othersCPU()
	t0 := jsFloat(t, ctx, `performance.now()`)
	streamStart := time.Now()
	next := 0
	for time.Since(streamStart) < streamFor {
		// Every 10 ms, what the rate owes so far.
		owed := int(time.Since(streamStart).Seconds() * perSecond)
		for ; next < owed; next++ {
			i := next % liveScaleHosts
			if next%20 == 19 {
				f.shutdown(i)
			} else {
				f.heartbeat(i, i%10 == 0)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t1 := jsFloat(t, ctx, `performance.now()`)
	wall := time.Since(streamStart)
	m1 := perfMetrics(t, ctx)
	r1, d1 := threadCPU(browserPID, "--type=renderer"), threadCPU(d.proc.cmd.Process.Pid, "")
	o1, ok := othersCPU()
	othersOK = othersOK && ok
	others := (o1 - o0).Seconds() / wall.Seconds()
	jsFloat(t, ctx, `clearInterval(window.__scroll), document.getElementById('hosts-table').scrollTop = 0`)
	streamed := probe(t, ctx, t0, t1)
	mainCPU := r1["main"] - r0["main"]
	t.Logf("stream: %d host changes in %s; %s; worker JS heap %.1f MiB", next, wall.Round(time.Millisecond), streamed, workerHeap(t, ctx)/(1<<20))
	t.Logf("stream: page main thread busy %.1f s (script %.1f s, layout %.1f s, style %.1f s); CPU: renderer %s; hbd %s; other processes %.2f CPUs",
		m1["TaskDuration"]-m0["TaskDuration"], m1["ScriptDuration"]-m0["ScriptDuration"], m1["LayoutDuration"]-m0["LayoutDuration"],
		m1["RecalcStyleDuration"]-m0["RecalcStyleDuration"], cpuDelta(r0, r1), cpuDelta(d0, d1), others)

	// The fleet sorts by state in the worker: one host in 20 was shut
	// down last (and STOPPED sorts before UP), and the counter shows them.
	firstRow := `(() => { const r = Array.from(document.querySelectorAll('#hosts-table .vrow[data-host]')).find(r => parseFloat(r.style.top) === 0); return r ? r.dataset.state : ''; })()`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#sort-state`))); err != nil {
		t.Fatal(err)
	}
	waitJSFor(t, ctx, 20*time.Second, "STOPPED hosts counted and sorted first",
		`document.querySelector('#sort-state').getAttribute('aria-sort') === 'ascending' && `+firstRow+` === 'STOPPED' &&
		 parseInt(document.querySelector('#count-STOPPED .n').textContent.replace(/\D/g, ''), 10) > 0`)

	// The page still follows the stream and filters the fleet: a host
	// that shuts down now shows STOPPED.
	last := f.names[liveScaleHosts-1]
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filter`), last)); err != nil {
		t.Fatal(err)
	}
	f.shutdown(liveScaleHosts - 1)
	waitJSFor(t, ctx, 30*time.Second, last+" STOPPED, filtered",
		`(() => { const r = document.querySelectorAll('#hosts-table .vrow[data-host]'); return r.length === 1 && r[0].dataset.host === '`+last+`' && r[0].dataset.state === 'STOPPED'; })()`)
	errs.check(t, "/live at 100,000 hosts")

	// Generous bounds, far from the targets, that a page which holds and
	// parses the fleet on its main thread fails. The heap and the main
	// thread's CPU do not depend on the machine's load. Frames do: other
	// processes busy on the 2 cores (other tests) delay any page's frames,
	// so their bounds are asserted only when the CPUs were this test's.
	for _, p := range []struct {
		phase string
		r     probeResult
	}{{"load", loaded}, {"stream", streamed}} {
		if p.r.Heap > 16<<20 {
			t.Errorf("%s: %s; want a main-thread heap under 16 MiB: the fleet belongs in the worker", p.phase, p.r)
		}
	}
	if r0["main"] > 0 && mainCPU > wall/4 {
		t.Errorf("the page's main thread used %.1f CPU-s in %s of streaming; want under a quarter of that", mainCPU.Seconds(), wall.Round(time.Second))
	}
	switch {
	case !othersOK:
		t.Logf("frames not asserted: no /proc/stat to tell whether other processes held the CPUs")
	case others > 0.25:
		t.Logf("frames not asserted: other processes kept %.2f CPUs busy", others)
	case streamed.Worst > 1000 || streamed.FPS < 20:
		t.Errorf("stream: %s; want no frame over 1 s and at least 20 fps", streamed)
	}
	t.Logf("whole test: %s", time.Since(began).Round(time.Millisecond))
}

// othersCPU is the CPU time the machine spent outside this test's
// process and its children (the browser, the daemon) since boot, from
// /proc/stat; false where there is none.
func othersCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var ticks int
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		if i < len(f) {
			v, _ := strconv.Atoi(f[i])
			ticks += v
		}
	}
	busy := time.Duration(ticks) * 10 * time.Millisecond
	for _, v := range threadCPU(os.Getpid(), "") {
		busy -= v
	}
	return busy, true
}

// probe reads the frame figures of [t0, t1) (performance.now() times).
func probe(t *testing.T, ctx context.Context, t0, t1 float64) probeResult {
	t.Helper()
	s := jsString(t, ctx, fmt.Sprintf(`window.__probe(%f, %f)`, t0, t1))
	var p probeResult
	if err := jsonUnmarshal([]byte(s), &p); err != nil {
		t.Fatalf("probe %q: %v", s, err)
	}
	return p
}

func jsFloat(t *testing.T, ctx context.Context, expr string) float64 {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJSFor polls a JavaScript condition in the page until it holds,
// for up to timeout.
func waitJSFor(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' | ' + document.body.innerText.slice(0, 600)`))
			t.Fatalf("timed out after %s waiting for %s (%s); the page: %s", timeout, what, expr, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func perfMetrics(t *testing.T, ctx context.Context) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, performance.Enable, performance.EnableParams{}); err != nil {
			return err
		}
		r, err := cdp.Call(ctx, tg, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			return err
		}
		for _, x := range r.Metrics {
			m[x.Name] = x.Value
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// threadCPU is the CPU time, by thread name, of the processes under pid
// whose command line has want (all of them with want ""), read from
// /proc; it is empty where there is no /proc. Used for figures only.
func threadCPU(pid int, want string) map[string]time.Duration {
	out := map[string]time.Duration{}
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 {
			continue
		}
		id, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		parent[id], _ = strconv.Atoi(f[1])
	}
	under := func(id int) bool {
		for i := 0; id > 1 && i < 64; i++ {
			if id == pid {
				return true
			}
			id = parent[id]
		}
		return false
	}
	for id := range parent {
		if !under(id) {
			continue
		}
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", id)); !strings.Contains(string(cmd), want) {
			continue
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*", id))
		for _, task := range tasks {
			comm, _ := os.ReadFile(task + "/comm")
			b, err := os.ReadFile(task + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if len(f) < 13 {
				continue
			}
			ut, _ := strconv.Atoi(f[11])
			st, _ := strconv.Atoi(f[12])
			name := strings.TrimSpace(string(comm))
			if filepath.Base(task) == strconv.Itoa(id) {
				name = "main" // a process's first thread
			}
			// Clock ticks are 1/100 s on Linux.
			out[name] += time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	return out
}

// cpuDelta formats the CPU used between two threadCPU readings, largest
// first, with the total.
func cpuDelta(a, b map[string]time.Duration) string {
	type kv struct {
		k string
		v time.Duration
	}
	var l []kv
	var total time.Duration
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			l = append(l, kv{k, d})
			total += d
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var s []string
	for i, e := range l {
		if i == 5 {
			break
		}
		s = append(s, fmt.Sprintf("%s %.1fs", e.k, e.v.Seconds()))
	}
	return fmt.Sprintf("%.1f CPU-s (%s)", total.Seconds(), strings.Join(s, ", "))
}

// Without the stream, /live falls back to polling /api/0/hosts, a page of
// hosts at a time: a fleet of several pages is counted whole, and a host
// that appears is listed by the next poll. The page is reached through a
// reverse proxy on another port, whose origin the daemon does not know:
// it refuses the WebSocket upgrade, as it would for a proxy missing from
// ws_origins.
func TestLivePagePollsInPagesWithoutStream(t *testing.T) {
	ctx, errs := browser(t)
	d := startDaemon(t, "[limits]\nhosts_per_source = 0\n")
	const hosts = 12_000 // three pages of the worker's 5,000
	f := newFleetSender(t, d, hosts+1)
	for i := 0; i < hosts; i++ {
		f.heartbeat(i, false)
	}
	waitFor(t, 30*time.Second, "the fleet registered", func() bool {
		if n := hostsTotal(t, d); n < hosts {
			for i := 0; i < hosts; i += 100 { // a few lost datagrams are sent again
				f.heartbeat(i, false)
			}
			return false
		}
		return true
	})
	target, err := url.Parse(d.http)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(proxy.URL+"/live")); err != nil {
		t.Fatal(err)
	}
	waitJSFor(t, ctx, 30*time.Second, "the fleet listed by polling",
		`document.querySelector('#conn-indicator').dataset.mode === 'polling' &&
		 document.querySelector('#count-all .n').textContent.replace(/\D/g, '') === '`+strconv.Itoa(hosts)+`' &&
		 !!document.querySelector('#hosts-table .vrow[data-host="node000000"]')`)
	f.heartbeat(hosts, false)
	newcomer := f.names[hosts]
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filter`), newcomer)); err != nil {
		t.Fatal(err)
	}
	waitJSFor(t, ctx, 30*time.Second, newcomer+" listed by the next poll",
		`(() => { const r = document.querySelectorAll('#hosts-table .vrow[data-host]'); return r.length === 1 && r[0].dataset.host === '`+newcomer+`'; })() &&
		 document.querySelector('#count-all .n').textContent.replace(/\D/g, '') === '`+strconv.Itoa(hosts+1)+`'`)
	errs.check(t, "/live polling")
}

// workerHeap is the used JavaScript heap of the page's worker, in bytes,
// read over the DevTools protocol; 0 when there is no worker target.
func workerHeap(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Type != "worker" {
			continue
		}
		wctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
		defer cancel()
		var used float64
		if err := chromedp.Do(wctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			r, err := chromedp.Call(ctx, runtime.GetHeapUsage, cdp.Empty{})
			used = r.UsedSize
			return err
		})); err != nil {
			t.Fatalf("worker heap: %v", err)
		}
		return used
	}
	return 0
}
