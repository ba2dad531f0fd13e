package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

// fakeDaemon stands in for hbd where the runners' arithmetic is under
// test: a real UDP socket whose datagrams are parsed and verified with
// the key, and a /metrics endpoint in the daemon's format whose values
// follow a simple model, so every figure in a report is known exactly:
//
//   - CPU: 2 µs per accepted datagram, so 2 CPU-seconds per million;
//   - RSS: 10 MB + 1000 bytes per host + 200 bytes per held sample;
//   - capacity: at most perSecond datagrams are accepted per second of
//     the sender's clock (the rest are lost, as in an overflowing socket
//     buffer); dropEvery loses every n-th datagram instead.
//
// It runs outside the synctest bubble; the runner inside it scrapes it.
// Each scrape first reads everything queued on the socket, so the counters
// include every datagram sent before the scrape.
type fakeDaemon struct {
	t         *testing.T
	conn      *udp.Conn
	srv       *httptest.Server
	history   int
	perSecond int
	dropEvery int

	mu       sync.Mutex
	batch    *udp.Batch
	signer   *wire.Signer
	received int
	badMAC   int
	accepted map[wire.Kind]int
	bySecond map[int64]int
	hosts    map[string]bool
	rings    map[string]int
	held     int
	seen     int
}

func newFakeDaemon(t *testing.T, history, perSecond, dropEvery int) *fakeDaemon {
	t.Helper()
	c, err := udp.Listen("udp4", "127.0.0.1:0", udp.Options{RecvBuffer: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDaemon{
		t: t, conn: c, history: history, perSecond: perSecond, dropEvery: dropEvery,
		batch: udp.NewBatch(64, 65536), signer: wire.NewSigner(testKey),
		accepted: map[wire.Kind]int{}, bySecond: map[int64]int{}, hosts: map[string]bool{}, rings: map[string]int{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.metrics))
	t.Cleanup(func() {
		f.srv.Close()
		c.Close()
	})
	return f
}

func (f *fakeDaemon) addr() netip.AddrPort { return f.conn.LocalAddr().AddrPort() }

// drain reads what is queued. A deadline in the past would not read at
// all (the poller checks it first), so it waits briefly for more.
func (f *fakeDaemon) drain() {
	for {
		_ = f.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) // a closed conn fails the read below
		n, err := f.conn.ReadBatch(f.batch)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			f.t.Error(err)
			return
		}
		for i := range n {
			f.handle(f.batch.Payload(i))
		}
	}
}

func (f *fakeDaemon) handle(d []byte) {
	f.received++
	h, err := wire.Parse(d)
	if err != nil || !f.signer.Verify(d) {
		f.badMAC++
		return
	}
	f.seen++
	if f.dropEvery > 0 && f.seen%f.dropEvery == 0 {
		return
	}
	sec := h.Time / int64(time.Second)
	if f.perSecond > 0 && f.bySecond[sec] >= f.perSecond {
		return
	}
	f.bySecond[sec]++
	f.accepted[h.Kind]++
	f.hosts[string(h.Host)] = true
	if h.Kind == wire.KindSample {
		s, _, err := wire.DecodeSample(&h, nil)
		if err != nil {
			f.t.Error(err)
			return
		}
		k := string(h.Host) + "/" + string(s.Plugin)
		if f.rings[k] < f.history {
			f.rings[k]++
			f.held++
		}
	}
}

func (f *fakeDaemon) metrics(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drain()
	var b bytes.Buffer
	total := 0
	fmt.Fprintf(&b, "# TYPE hbd_datagrams_received_total counter\nhbd_datagrams_received_total %d\n", f.received)
	b.WriteString("# TYPE hbd_datagrams_accepted_total counter\n")
	for _, k := range []wire.Kind{wire.KindHeartbeat, wire.KindSample, wire.KindBoot, wire.KindShutdown} {
		fmt.Fprintf(&b, "hbd_datagrams_accepted_total{kind=%q} %d\n", k.String(), f.accepted[k])
		total += f.accepted[k]
	}
	fmt.Fprintf(&b, "# TYPE hbd_datagrams_dropped_total counter\nhbd_datagrams_dropped_total{reason=\"bad_mac\"} %d\nhbd_datagrams_dropped_total{reason=\"replay\"} 0\n", f.badMAC)
	fmt.Fprintf(&b, "# TYPE hbd_hosts gauge\nhbd_hosts{state=\"UP\"} %d\nhbd_hosts{state=\"DOWN\"} 0\n", len(f.hosts))
	fmt.Fprintf(&b, "# TYPE hbd_samples_held gauge\nhbd_samples_held %d\n", f.held)
	fmt.Fprintf(&b, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", float64(total)*2e-6)
	fmt.Fprintf(&b, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", 10_000_000+1000*len(f.hosts)+200*f.held)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(b.Bytes())
}

func (f *fakeDaemon) acceptedKind(k wire.Kind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drain()
	return f.accepted[k]
}

func near(got, want, tol float64) bool { return got >= want-tol && got <= want+tol }

func TestRunLoad(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dropEvery int
		lossPct   float64
	}{{"lossless", 0, 0}, {"every 10th lost", 10, 10}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDaemon(t, 100, 0, tt.dropEvery)
			plugins, _ := StandardPlugins(4)
			var rep *Report
			var progress bytes.Buffer
			synctest.Test(t, func(t *testing.T) {
				var err error
				rep, err = RunLoad(t.Context(), LoadConfig{
					Common: Common{
						Scenario: "test",
						Gen: GenConfig{Targets: []netip.AddrPort{f.addr()}, Key: testKey, Hosts: 40,
							HeartbeatInterval: time.Second, SampleInterval: 2 * time.Second, Plugins: plugins, Boot: true},
						HTTPBase: f.srv.URL, Progress: &progress, ShutdownRate: 1000,
					},
					Duration: 10 * time.Second,
				})
				if err != nil {
					t.Fatal(err)
				}
			})
			// 40 boots, 40 × 10 heartbeats, 40 × 4 plugins × 5 samples.
			const offered = 40 + 400 + 800
			if rep.Datagrams.Offered != offered {
				t.Fatalf("offered %d datagrams, want %d", rep.Datagrams.Offered, offered)
			}
			accepted := float64(offered)
			if tt.dropEvery > 0 {
				accepted -= float64(offered / tt.dropEvery)
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"offered/s", *rep.OfferedPerS, offered / 10.0},
				{"accepted/s", *rep.AcceptedPerS, accepted / 10},
				{"loss %", *rep.LossPct, tt.lossPct},
				{"cpu s per million", *rep.DaemonCPUSPerMillion, 2},
				{"rss", *rep.RSSBytes, 10_000_000 + 40*1000 + 200*float64(f.held)},
				{"nominal/s", *rep.NominalPerS, 40 * (1 + 4.0/2)},
			}
			for _, c := range checks {
				if !near(c.got, c.want, 1e-6*max(1, c.want)) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if len(rep.Warnings) != 0 {
				t.Errorf("warnings: %v", rep.Warnings)
			}
			if rep.E2EMs != nil || rep.APIMs != nil || rep.WSCutOff != nil || rep.SinkPerS != nil {
				t.Errorf("unmeasured figures are not null: %+v", rep)
			}
			if !bytes.Contains(progress.Bytes(), []byte("accepted")) {
				t.Errorf("no progress lines: %q", progress.String())
			}
			// After the report: every host's shutdown (the model drops
			// every 10th datagram in the second case).
			if got := f.acceptedKind(wire.KindShutdown); got < 36 || got > 40 {
				t.Errorf("%d shutdowns accepted, want 40 (36 with losses)", got)
			}
		})
	}
}

func TestRunRamp(t *testing.T) {
	f := newFakeDaemon(t, 100, 350, 0)
	var rep *Report
	synctest.Test(t, func(t *testing.T) {
		var err error
		rep, err = RunRamp(t.Context(), RampConfig{
			Common: Common{
				Gen:      GenConfig{Targets: []netip.AddrPort{f.addr()}, Key: testKey, Hosts: 50, RatePlugins: []Plugin{PluginCPU4}},
				HTTPBase: f.srv.URL,
			},
			Start: 100, Step: 100, StepDuration: 2 * time.Second, Duration: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	// 100, 200, 300/s fit under 350/s; 400/s loses an eighth.
	if len(rep.Steps) != 4 {
		t.Fatalf("%d steps, want 4: %+v", len(rep.Steps), rep.Steps)
	}
	for i, s := range rep.Steps[:3] {
		if s.LossPct != 0 || !near(s.OfferedPerS, float64(100*(i+1)), 5) {
			t.Errorf("step %d: %+v, want lossless at %d/s", i, s, 100*(i+1))
		}
	}
	if last := rep.Steps[3]; last.LossPct < 5 || last.LossPct > 15 {
		t.Errorf("last step loss %.2f%%, want about 12.5%%", last.LossPct)
	}
	if rep.MaxLosslessPerS == nil || !near(*rep.MaxLosslessPerS, 300, 5) || !near(*rep.OfferedPerS, 300, 5) || *rep.LossPct != 0 {
		t.Errorf("max lossless %v, offered %v, loss %v; want 300/s lossless", deref(rep.MaxLosslessPerS), deref(rep.OfferedPerS), deref(rep.LossPct))
	}
	if !near(*rep.DaemonCPUSPerMillion, 2, 1e-6) {
		t.Errorf("cpu %v s per million, want 2", *rep.DaemonCPUSPerMillion)
	}
	if len(rep.StopReason) < 4 || rep.StopReason[:4] != "loss" {
		t.Errorf("stop reason %q", rep.StopReason)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestRunMemory(t *testing.T) {
	const history = 5
	f := newFakeDaemon(t, history, 0, 0)
	var rep *Report
	synctest.Test(t, func(t *testing.T) {
		var err error
		rep, err = RunMemory(t.Context(), MemoryConfig{
			Common: Common{
				Gen: GenConfig{Targets: []netip.AddrPort{f.addr()}, Key: testKey, Hosts: 20, HeartbeatInterval: time.Second,
					Plugins: []Plugin{PluginCPU, PluginMemory}, Boot: true},
				HTTPBase: f.srv.URL,
			},
			History: history, FillRate: 1000, Timeout: 10 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if rep.BytesPerHost == nil || *rep.BytesPerHost != 1000 {
		t.Errorf("bytes per host %v, want 1000", deref(rep.BytesPerHost))
	}
	if rep.BytesPerSample == nil || *rep.BytesPerSample != 200 {
		t.Errorf("bytes per sample %v, want 200", deref(rep.BytesPerSample))
	}
	if *rep.SamplesHeld != 20*2*history {
		t.Errorf("samples held %v, want %d", *rep.SamplesHeld, 20*2*history)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}
}

// fleet-100k-full in small: the fill's memory figures and the load's
// traffic figures land in one report.
func TestRunFull(t *testing.T) {
	const history = 5
	f := newFakeDaemon(t, history, 0, 0)
	var rep *Report
	synctest.Test(t, func(t *testing.T) {
		common := Common{
			Gen: GenConfig{Targets: []netip.AddrPort{f.addr()}, Key: testKey, Hosts: 20, HeartbeatInterval: time.Second,
				Plugins: []Plugin{PluginCPU, PluginMemory}, Boot: true},
			HTTPBase: f.srv.URL,
		}
		load := common
		load.Gen.SampleInterval = 2 * time.Second
		var err error
		rep, err = RunFull(t.Context(), FullConfig{
			Fill: MemoryConfig{Common: common, History: history, FillRate: 1000, Timeout: 10 * time.Minute},
			Load: LoadConfig{Common: load, Duration: 10 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if rep.Mode != "full" || rep.BytesPerSample == nil || *rep.BytesPerSample != 200 || rep.FillS == nil || *rep.FillS <= 0 {
		t.Errorf("report mode %q, bytes per sample %v, fill %v s", rep.Mode, deref(rep.BytesPerSample), deref(rep.FillS))
	}
	// The load part: 20 × 2 plugins × 5 samples, and 20 × 10 heartbeats,
	// give or take the hosts whose heartbeat falls on the window's edges
	// (the fill's schedule goes on, so the edges can meet one).
	if rep.Datagrams == nil || rep.Datagrams.Offered < 200+200-20 || rep.Datagrams.Offered > 200+200+20 || *rep.LossPct != 0 {
		t.Errorf("load datagrams %+v", rep.Datagrams)
	}
	// The generator starts once the fill has read the fresh daemon's
	// counters, so the fill finds no host there before it.
	for _, w := range rep.Warnings {
		if strings.HasPrefix(w, "fill:") {
			t.Errorf("warning %q", w)
		}
	}
	// No host booted again: the fill's hosts went on into the load.
	f.mu.Lock()
	boots := f.accepted[wire.KindBoot]
	f.mu.Unlock()
	if boots != 20 {
		t.Errorf("%d boots over the fill and the load, want the fill's 20", boots)
	}
}
