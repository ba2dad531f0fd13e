package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hbd-project/hbd/transport/udp"
	"github.com/hbd-project/hbd/transport/wire"
)

var testKey = bytes.Repeat([]byte{0x5a}, 32)

// receiver is a real UDP socket standing in for the daemon's, read outside
// the synctest bubble (a goroutine blocked on a socket is not durably
// blocked, so the bubble's clock would never move).
type receiver struct {
	c *udp.Conn
}

func newReceiver(t *testing.T, network, addr string) *receiver {
	t.Helper()
	c, err := udp.Listen(network, addr, udp.Options{RecvBuffer: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &receiver{c: c}
}

func (r *receiver) addr() netip.AddrPort { return r.c.LocalAddr().AddrPort() }

// read returns exactly n datagrams and fails if fewer arrive or any more
// is queued. Loopback delivers into the socket buffer during sendmmsg, so
// once the sender has returned everything it sent is already queued.
func (r *receiver) read(t *testing.T, n int) [][]byte {
	t.Helper()
	b := udp.NewBatch(64, 65536)
	var out [][]byte
	if err := r.c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for len(out) < n {
		k, err := r.c.ReadBatch(b)
		if err != nil {
			t.Fatalf("received %d of %d datagrams: %v", len(out), n, err)
		}
		for i := range k {
			out = append(out, bytes.Clone(b.Payload(i)))
		}
	}
	if err := r.c.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if k, err := r.c.ReadBatch(b); err == nil {
		t.Fatalf("%d datagrams beyond the %d expected", len(out)-n+k, n)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("received %d datagrams, want %d", len(out), n)
	}
	return out
}

// agentShape lists the keys of the real agent's plugin objects
// (agent/plugins), written out independently of the generator. Nested
// objects are checked with their own key lists.
var agentShape = map[string][]string{
	"cpu_monitor":     {"cores", "cpu_percent", "frequency", "load_15min", "load_1min", "load_5min"},
	"memory_monitor":  {"available_mb", "percent", "swap", "total_mb", "used_mb"},
	"disk_monitor":    {"/", "/home", "/var", "io"},
	"network_monitor": {"connections", "interfaces"},
}

var (
	swapKeys      = []string{"percent", "total_mb", "used_mb"}
	partitionKeys = []string{"device", "free_gb", "fstype", "percent", "total_gb", "used_gb"}
	diskIOKeys    = []string{"read_bytes", "read_bytes_per_s", "read_count", "write_bytes", "write_bytes_per_s", "write_count"}
	ifaceKeys     = []string{"bytes_recv", "bytes_recv_per_s", "bytes_sent", "bytes_sent_per_s", "dropin", "dropout", "errin", "errout", "packets_recv", "packets_sent"}
	connKeys      = []string{"established", "listen", "time_wait", "total"}
)

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func object(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want an object", what, v)
	}
	return m
}

// checkShape fails unless data is the JSON object the real agent sends
// for plugin, with numbers where it has numbers.
func checkShape(t *testing.T, plugin string, data []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s sample is not a JSON object: %v: %s", plugin, err, data)
	}
	want, ok := agentShape[plugin]
	if !ok {
		t.Fatalf("unexpected plugin %q", plugin)
	}
	if got := keysOf(m); !slices.Equal(got, want) {
		t.Fatalf("%s keys = %v, want %v", plugin, got, want)
	}
	number := func(obj map[string]any, k string) {
		if _, ok := obj[k].(float64); !ok {
			t.Fatalf("%s: %s is %T, want a number", plugin, k, obj[k])
		}
	}
	nested := func(obj map[string]any, k string, keys []string) map[string]any {
		o := object(t, obj[k], plugin+"."+k)
		if got := keysOf(o); !slices.Equal(got, keys) {
			t.Fatalf("%s.%s keys = %v, want %v", plugin, k, got, keys)
		}
		return o
	}
	switch plugin {
	case "cpu_monitor":
		for _, k := range want {
			number(m, k)
		}
	case "memory_monitor":
		nested(m, "swap", swapKeys)
		number(m, "percent")
	case "disk_monitor":
		for _, mnt := range []string{"/", "/var", "/home"} {
			p := nested(m, mnt, partitionKeys)
			number(p, "percent")
		}
		io := object(t, m["io"], "disk_monitor.io")
		if len(io) != 1 {
			t.Fatalf("disk_monitor.io has %d devices, want 1", len(io))
		}
		nested(io, "sda", diskIOKeys)
	case "network_monitor":
		ifs := object(t, m["interfaces"], "interfaces")
		if got := keysOf(ifs); !slices.Equal(got, []string{"eth0", "eth1", "lo"}) {
			t.Fatalf("interfaces = %v, want eth0 eth1 lo", got)
		}
		for name := range ifs {
			number(nested(ifs, name, ifaceKeys), "bytes_sent")
		}
		nested(m, "connections", connKeys)
	}
}

// decoded is one received datagram after full verification.
type decoded struct {
	kind    wire.Kind
	host    string
	seq     uint64
	time    int64
	connSeq uint32
	plugin  string
	intvlMS uint32
}

// verifyAll checks that every datagram parses, carries a valid MAC for
// testKey and decodes as its kind, and that samples have the agent's
// shape.
func verifyAll(t *testing.T, dgrams [][]byte) []decoded {
	t.Helper()
	signer := wire.NewSigner(testKey)
	var scratch []byte
	out := make([]decoded, 0, len(dgrams))
	for _, d := range dgrams {
		h, err := wire.Parse(d)
		if err != nil {
			t.Fatalf("datagram does not parse: %v", err)
		}
		if !signer.Verify(d) {
			t.Fatalf("%s datagram from %s does not verify", h.Kind, h.Host)
		}
		r := decoded{kind: h.Kind, host: string(h.Host), seq: h.Seq, time: h.Time}
		switch h.Kind {
		case wire.KindHeartbeat:
			hb, err := wire.DecodeHeartbeat(&h)
			if err != nil {
				t.Fatal(err)
			}
			if hb.RTTMicros == 0 {
				t.Fatalf("heartbeat of %s reports no RTT", r.host)
			}
			r.connSeq, r.intvlMS = hb.ConnSeq, hb.IntervalMS
		case wire.KindSample:
			var s wire.Sample
			s, scratch, err = wire.DecodeSample(&h, scratch)
			if err != nil {
				t.Fatal(err)
			}
			r.plugin = string(s.Plugin)
			checkShape(t, r.plugin, s.Data)
		case wire.KindBoot:
			b, err := wire.DecodeBoot(&h)
			if err != nil {
				t.Fatal(err)
			}
			r.intvlMS = b.IntervalMS
		case wire.KindShutdown:
			if _, err := wire.DecodeShutdown(&h); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected %s datagram", h.Kind)
		}
		out = append(out, r)
	}
	return out
}

func TestGeneratorPacingExact(t *testing.T) {
	rx4 := newReceiver(t, "udp4", "127.0.0.1:0")
	rx6 := newReceiver(t, "udp6", "[::1]:0")
	const (
		hosts = 20
		hb    = time.Second
		smp   = 2 * time.Second
		dur   = 4 * time.Second
	)
	plugins, _ := StandardPlugins(4)
	var st GenStats
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{
			Targets: []netip.AddrPort{rx4.addr(), rx6.addr()}, Key: testKey, Hosts: hosts, Senders: 3,
			HeartbeatInterval: hb, SampleInterval: smp, Plugins: plugins, Boot: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.Run(t.Context(), dur)
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		st = g.Stats()
	})
	// Per host and target: 1 boot, dur/hb heartbeats, dur/smp samples of
	// each plugin.
	perTarget := hosts * (1 + int(dur/hb) + len(plugins)*int(dur/smp))
	if st.Sent != uint64(2*perTarget) || st.SendErrors != 0 {
		t.Fatalf("stats %+v, want %d sent and no errors", st, 2*perTarget)
	}
	if st.Boots != 2*hosts || st.Heartbeats != 2*hosts*4 || st.Samples != 2*hosts*4*2 {
		t.Fatalf("kind counts %+v", st)
	}
	for _, rx := range []*receiver{rx4, rx6} {
		got := verifyAll(t, rx.read(t, perTarget))
		type hk struct {
			host string
			kind wire.Kind
			p    string
		}
		count := map[hk]int{}
		lastSeq := map[string]uint64{}
		lastConn := map[string]uint32{}
		lastTime := map[hk]int64{}
		for _, d := range got {
			k := hk{d.host, d.kind, d.plugin}
			count[k]++
			if d.seq <= lastSeq[d.host] && lastSeq[d.host] != 0 {
				t.Fatalf("%s: seq %d after %d", d.host, d.seq, lastSeq[d.host])
			}
			lastSeq[d.host] = d.seq
			switch d.kind {
			case wire.KindBoot:
				if count[hk{d.host, wire.KindHeartbeat, ""}] != 0 {
					t.Fatalf("%s: boot after a heartbeat", d.host)
				}
			case wire.KindHeartbeat:
				if d.connSeq != lastConn[d.host]+1 || d.intvlMS != 1000 {
					t.Fatalf("%s: conn_seq %d after %d, interval %d ms", d.host, d.connSeq, lastConn[d.host], d.intvlMS)
				}
				lastConn[d.host] = d.connSeq
			case wire.KindSample:
				if d.time <= lastTime[k] {
					t.Fatalf("%s %s: timestamp did not increase", d.host, d.plugin)
				}
				lastTime[k] = d.time
			}
		}
		for i := 1; i <= hosts; i++ {
			h := HostName(i)
			if c := count[hk{h, wire.KindBoot, ""}]; c != 1 {
				t.Errorf("%s: %d boots, want 1", h, c)
			}
			if c := count[hk{h, wire.KindHeartbeat, ""}]; c != 4 {
				t.Errorf("%s: %d heartbeats, want 4", h, c)
			}
			for _, p := range plugins {
				if c := count[hk{h, wire.KindSample, p.Name()}]; c != 2 {
					t.Errorf("%s: %d %s samples, want 2", h, c, p.Name())
				}
			}
		}
		if len(count) != hosts*(2+len(plugins)) {
			t.Errorf("datagrams from %d (host, kind) pairs, want %d", len(count), hosts*(2+len(plugins)))
		}
	}
}

func TestGeneratorJitter(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	const hosts = 10
	var st GenStats
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{
			Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: hosts,
			HeartbeatInterval: time.Second, Jitter: 0.5, Seed: 7,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.Run(t.Context(), 10*time.Second)
		g.Close()
		st = g.Stats()
	})
	got := verifyAll(t, rx.read(t, int(st.Sent)))
	times := map[string][]int64{}
	for _, d := range got {
		if d.kind != wire.KindHeartbeat {
			t.Fatalf("unexpected %s", d.kind)
		}
		times[d.host] = append(times[d.host], d.time)
	}
	if len(times) != hosts {
		t.Fatalf("heartbeats from %d hosts, want %d", len(times), hosts)
	}
	gaps := map[int64]bool{}
	for h, ts := range times {
		// ±25 % per interval drifts a few hundred ms over ten intervals.
		if len(ts) < 8 || len(ts) > 12 {
			t.Errorf("%s: %d heartbeats in 10 s at 1 s ± 25 %%", h, len(ts))
		}
		for i := 1; i < len(ts); i++ {
			gap := ts[i] - ts[i-1]
			if gap < int64(750*time.Millisecond) || gap > int64(1250*time.Millisecond) {
				t.Errorf("%s: gap %v outside 1 s ± 25 %%", h, time.Duration(gap))
			}
			gaps[gap] = true
		}
	}
	if len(gaps) < 10 {
		t.Errorf("only %d distinct gaps: the schedule is not jittered", len(gaps))
	}
}

func TestGeneratorRounds(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	const hosts, rounds = 10, 3
	plugins := []Plugin{PluginCPU4, PluginMemory}
	var st GenStats
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{
			Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: hosts, RatePlugins: plugins,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			g.Run(ctx, time.Hour)
			close(done)
		}()
		start := time.Now()
		<-g.StartRounds(rounds, 1000)
		// 60 datagrams at 1000/s: 60 ms, to within one wake-up.
		if el := time.Since(start); el < 55*time.Millisecond || el > 80*time.Millisecond {
			t.Errorf("rounds took %v, want about 60 ms", el)
		}
		cancel()
		<-done
		g.Close()
		st = g.Stats()
	})
	if st.Samples != hosts*rounds*2 || st.Sent != st.Samples {
		t.Fatalf("stats %+v, want %d samples", st, hosts*rounds*2)
	}
	count := map[string]int{}
	for _, d := range verifyAll4(t, rx.read(t, int(st.Sent))) {
		count[d.host+" "+d.plugin]++
	}
	for i := 1; i <= hosts; i++ {
		for _, p := range []string{"cpu_monitor", "memory_monitor"} {
			if c := count[HostName(i)+" "+p]; c != rounds {
				t.Errorf("%s %s: %d samples, want %d", HostName(i), p, c, rounds)
			}
		}
	}
}

// verifyAll4 is verifyAll for streams that contain the four-value
// cpu_monitor sample, whose keys are a subset of the agent's.
func verifyAll4(t *testing.T, dgrams [][]byte) []decoded {
	t.Helper()
	signer := wire.NewSigner(testKey)
	var out []decoded
	for _, d := range dgrams {
		h, err := wire.Parse(d)
		if err != nil || !signer.Verify(d) || h.Kind != wire.KindSample {
			t.Fatalf("bad datagram: %v", err)
		}
		s, _, err := wire.DecodeSample(&h, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Plugin) == "cpu_monitor" {
			var m map[string]float64
			if err := json.Unmarshal(s.Data, &m); err != nil {
				t.Fatal(err)
			}
			if got := len(m); got != 4 {
				t.Fatalf("four-value cpu sample has %d values: %s", got, s.Data)
			}
		} else {
			checkShape(t, string(s.Plugin), s.Data)
		}
		out = append(out, decoded{kind: h.Kind, host: string(h.Host), plugin: string(s.Plugin)})
	}
	return out
}

func TestGeneratorSetRate(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	var st GenStats
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: 100})
		if err != nil {
			t.Fatal(err)
		}
		g.SetRate(2000)
		g.Run(t.Context(), time.Second)
		g.Close()
		st = g.Stats()
	})
	// 2000/s for 1 s, less at most one wake-up's worth per sender at the
	// end (64 datagrams).
	if st.Sent < 2000-2*DefaultBatch || st.Sent > 2000 {
		t.Fatalf("sent %d at 2000/s for 1 s, want 2000 less at most %d", st.Sent, 2*DefaultBatch)
	}
	verifyAll4(t, rx.read(t, int(st.Sent)))
}

func TestGeneratorShutdown(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	var st GenStats
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: 7,
			HeartbeatInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		g.Run(t.Context(), time.Second)
		g.Shutdown(t.Context(), 1000)
		g.Close()
		st = g.Stats()
	})
	if st.Heartbeats != 7 || st.Shutdowns != 7 {
		t.Fatalf("stats %+v, want 7 heartbeats then 7 shutdowns", st)
	}
	got := verifyAll(t, rx.read(t, 14))
	seen := map[string]wire.Kind{}
	for _, d := range got {
		if d.kind == wire.KindShutdown && seen[d.host] != wire.KindHeartbeat {
			t.Fatalf("%s: shutdown before its heartbeat", d.host)
		}
		seen[d.host] = d.kind
	}
	for h, k := range seen {
		if k != wire.KindShutdown {
			t.Errorf("%s: last message %s, want shutdown", h, k)
		}
	}
}

func TestGenConfigInvalid(t *testing.T) {
	good := GenConfig{Targets: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}, Key: testKey, Hosts: 1}
	tests := []struct {
		name string
		mod  func(*GenConfig)
	}{
		{"no targets", func(c *GenConfig) { c.Targets = nil }},
		{"port 0", func(c *GenConfig) { c.Targets = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")} }},
		{"no key", func(c *GenConfig) { c.Key = nil }},
		{"no hosts", func(c *GenConfig) { c.Hosts = 0 }},
		{"samples without plugins", func(c *GenConfig) { c.SampleInterval = time.Second }},
		{"jitter", func(c *GenConfig) { c.Jitter = 1.5 }},
		{"sub-ms heartbeat", func(c *GenConfig) { c.HeartbeatInterval = time.Microsecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			if g, err := NewGenerator(c); err == nil {
				g.Close()
				t.Fatal("NewGenerator accepted an invalid config")
			}
		})
	}
	g, err := NewGenerator(good)
	if err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	g.Close()
}

// BenchmarkBuildDatagram is the harness's CPU per datagram before the
// system call: random walk, JSON, framing, HMAC and the copy into the
// sendmmsg batch.
func BenchmarkBuildDatagram(b *testing.B) {
	for _, p := range []Plugin{PluginCPU4, PluginNetwork} {
		b.Run(p.Name(), func(b *testing.B) {
			b.ReportAllocs()
			g, err := NewGenerator(GenConfig{Targets: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}, Key: testKey, Hosts: 1, Senders: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			s := g.senders[0]
			now := time.Now()
			for b.Loop() {
				s.sample(&s.hosts[0], p, now, 30)
				if s.out[0].Len() == s.cfg.Batch {
					s.out[0].Reset()
				}
			}
		})
	}
}

// A sender that falls far behind its schedule (the harness starved of
// CPU) moves the schedule on instead of bursting what is overdue, so the
// daemon sees the fleet pause and resume at its rate; with MaxCatchUp
// negative it catches up as before. The stall is made by calling the
// sender's loop step with a clock 10 s past the start.
func TestGeneratorSlipsRatherThanBurst(t *testing.T) {
	const hosts = 20
	for _, tc := range []struct {
		name          string
		catchUp       time.Duration
		first, then   uint64        // heartbeats sent at +10 s, then at +10.5 s
		slipped, more time.Duration // the slip after the stall, and after the second step
	}{
		// Host i is due at i × 50 ms. Slipping by the lag of host 0 (10 s)
		// sends host 0 alone; half a second later hosts 1..10 (0.45 s
		// late at most, under the 1 s limit).
		{"slip", time.Second, 1, 10, 10 * time.Second, 0},
		// The default limit, 100 ms: half a second later the schedule
		// slips again, by host 1's lag (0.45 s), and sends host 1 alone.
		{"default", 0, 1, 1, 10 * time.Second, 450 * time.Millisecond},
		// Catching up sends every heartbeat due by 10 s (hosts 0..19 at
		// 0..9.95 s: 10 each, and host 0's eleventh at 10 s), then those
		// due in the next half second.
		{"catch up", -1, hosts*10 + 1, 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rx := newReceiver(t, "udp4", "127.0.0.1:0")
			g, s, start := stalledSender(t, GenConfig{Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: hosts, Senders: 1,
				HeartbeatInterval: time.Second, MaxCatchUp: tc.catchUp})
			if st := g.Stats(); st.Heartbeats != tc.first || st.Slipped != tc.slipped || st.MaxLag != 10*time.Second {
				t.Fatalf("after the stall: %d heartbeats, slipped %v, max lag %v; want %d, %v, 10s", st.Heartbeats, st.Slipped, st.MaxLag, tc.first, tc.slipped)
			}
			s.runDue(start, start.Add(10500*time.Millisecond))
			s.flush()
			if st := g.Stats(); st.Heartbeats != tc.first+tc.then || st.Slipped != tc.slipped+tc.more {
				t.Fatalf("half a second later: %d heartbeats, slipped %v; want %d, %v", st.Heartbeats, st.Slipped, tc.first+tc.then, tc.slipped+tc.more)
			}
			got := verifyAll(t, rx.read(t, int(tc.first+tc.then)))
			if len(got) != int(tc.first+tc.then) {
				t.Fatalf("received %d datagrams", len(got))
			}
		})
	}
}

// PaceSamples adds paced samples to a running generator that had none (the
// fill of fleet-100k-full going on into its load): the heartbeats keep
// their schedule, no host boots again, and each host sends a sample of
// each plugin per interval from the request on.
func TestGeneratorPaceSamples(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	const hosts = 10
	plugins, _ := StandardPlugins(2)
	var st GenStats
	var errTwice error
	synctest.Test(t, func(t *testing.T) {
		g, err := NewGenerator(GenConfig{Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: hosts, Senders: 2,
			HeartbeatInterval: time.Second, Boot: true})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Run(t.Context(), 4*time.Second)
		}()
		time.Sleep(2 * time.Second)
		if err := g.PaceSamples(time.Second, plugins); err != nil {
			t.Fatal(err)
		}
		errTwice = g.PaceSamples(time.Second, plugins)
		<-done
		g.Close()
		st = g.Stats()
	})
	if errTwice == nil {
		t.Error("a second PaceSamples was accepted")
	}
	// Per host: 1 boot, 4 heartbeats (0..3 s), 2 samples of each plugin
	// (the request at 2 s spreads the first ones over [2 s, 3 s)).
	if st.Boots != hosts || st.Heartbeats != 4*hosts || st.Samples != 2*hosts*uint64(len(plugins)) {
		t.Fatalf("stats %+v; want %d boots, %d heartbeats, %d samples", st, hosts, 4*hosts, 2*hosts*len(plugins))
	}
	got := verifyAll(t, rx.read(t, int(st.Sent)))
	lastSeq := map[string]uint64{}
	samples := map[string]int{}
	for _, d := range got {
		if d.seq <= lastSeq[d.host] {
			t.Fatalf("%s: seq %d after %d: the host's sequence did not go on", d.host, d.seq, lastSeq[d.host])
		}
		lastSeq[d.host] = d.seq
		if d.kind == wire.KindSample {
			samples[d.host+" "+d.plugin]++
		}
	}
	if len(samples) != hosts*len(plugins) {
		t.Fatalf("samples from %d (host, plugin) pairs, want %d", len(samples), hosts*len(plugins))
	}
}

// A slip moves the schedule, not the wall clock: a host killed at 5 s is
// dead after a stall to 10 s, though its schedule was moved back to its
// first heartbeat. NewPhase then starts the peaks and the ACK histogram
// again (RunFull's load after its fill), keeping the counters.
func TestGeneratorSlipKeepsKillsAndNewPhase(t *testing.T) {
	rx := newReceiver(t, "udp4", "127.0.0.1:0")
	g, s, start := stalledSender(t, GenConfig{Targets: []netip.AddrPort{rx.addr()}, Key: testKey, Hosts: 20, Senders: 1,
		HeartbeatInterval: time.Second, Kills: []Kill{{Host: 0, At: 5 * time.Second}}})
	st := g.Stats()
	if st.Heartbeats != 0 || st.Slipped != 10*time.Second || st.MaxLag != 10*time.Second {
		t.Fatalf("after the stall: %d heartbeats, slipped %v, max lag %v; want 0 (host 0 is dead), 10s, 10s", st.Heartbeats, st.Slipped, st.MaxLag)
	}
	g.AckRTT().Record(time.Millisecond)
	g.NewPhase()
	if st := g.Stats(); st.Slipped != 0 || st.MaxLag != 0 || g.AckRTT().Count() != 0 {
		t.Fatalf("after NewPhase: slipped %v, max lag %v, %d ACK round trips; want none", st.Slipped, st.MaxLag, g.AckRTT().Count())
	}
	// Host 1 is due at 50 ms on the moved schedule: 10.05 s.
	s.runDue(start, start.Add(10050*time.Millisecond))
	s.flush()
	if st := g.Stats(); st.Heartbeats != 1 || st.Slipped != 0 {
		t.Fatalf("50 ms later: %d heartbeats, slipped %v; want host 1's, no slip", st.Heartbeats, st.Slipped)
	}
	rx.read(t, 1)
}

// stalledSender makes a generator of cfg (one sender) and runs its
// sender's loop step once with a clock 10 s past the start, as after a
// stall of the harness: the generator, its sender and the start.
func stalledSender(t *testing.T, cfg GenConfig) (*Generator, *sender, time.Time) {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	s := g.senders[0]
	s.schedule()
	start := time.Now()
	s.runDue(start, start.Add(10*time.Second))
	s.flush()
	return g, s, start
}
