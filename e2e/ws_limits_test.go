package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// watchHosts returns a watchhosts line declaring n hosts w0000..., so that
// every snapshot holds n host objects (about 130 bytes each) without a
// datagram sent.
func watchHosts(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("w%04d", i))
	}
	return "watchhosts = [" + strings.Join(names, ", ") + "]\n"
}

// memKiB reads a Vm* line (VmRSS, VmHWM) of /proc/<pid>/status, in KiB.
func memKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("%s: %q: %v", field, line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// resetPeak makes VmHWM (the peak RSS) start again from the current RSS,
// so that it measures what happens from now on.
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("cannot reset the peak RSS: %v", err)
	}
}

// rssBound is how much the daemon's peak RSS may grow during a flood: a
// few hundred snapshots queued at once would take more (the floods below
// would queue 5,000 of 260 KB each, 1.3 GB, without the bounds), and the
// race detector's own overhead stays well under it.
const rssBound = 200 << 10 // KiB

// A client that floods the daemon with subscriptions is cut off by the
// rate limit with close code 1008 and counted; the daemon's memory stays
// bounded and it keeps ingesting.
func TestWebSocketSubscribeFloodIsCutOff(t *testing.T) {
	d := startDaemon(t, watchHosts(2000))
	pid := d.proc.cmd.Process.Pid
	c := dialWS(t, d.ws)
	next(t, c, "snapshot")
	base := memKiB(t, pid, "VmRSS")
	resetPeak(t, pid)

	// At most 5,000 subscriptions or 10 s, whichever ends first; the
	// writes fail once the daemon has closed the connection.
	sent := make(chan int, 1)
	go func() {
		n := 0
		deadline := time.Now().Add(10 * time.Second)
		for ; n < 5000 && time.Now().Before(deadline); n++ {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if c.WriteMessage(websocket.TextMessage, []byte(`{"subscribe":{"hosts":["w*"]}}`)) != nil {
				break
			}
		}
		sent <- n
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var err error
	for err == nil {
		_, _, err = c.ReadMessage()
	}
	n := <-sent
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "rate limit") {
		t.Fatalf("after %d subscriptions the connection ended with %v, want close 1008 naming the rate limit", n, err)
	}
	waitFor(t, 10*time.Second, "the cut-off counted", func() bool {
		return metric(t, d, `hbd_ws_cut_off_total{reason="rate"}`) == 1
	})
	peak := memKiB(t, pid, "VmHWM")
	t.Logf("%d subscriptions sent; RSS %d KiB before, peak %d KiB during the flood", n, base, peak)
	if peak-base > rssBound {
		t.Errorf("peak RSS grew by %d KiB during the flood, more than %d KiB", peak-base, rssBound)
	}
	if !strings.Contains(d.out.String(), "websocket client cut off") {
		t.Error("the cut-off was not logged")
	}

	// Ingest goes on, and so does the stream for other clients.
	other := dialWS(t, d.ws)
	next(t, other, "snapshot")
	s := newSender(t, d, "w0001", d.key, false)
	s.heartbeat(time.Second, 1)
	waitFor(t, 10*time.Second, "w0001 UP", func() bool { h, _ := d.host(t, "w0001"); return h.State == "UP" })
	if f := next(t, other, "host"); !strings.Contains(string(f.Data), `"w0001"`) {
		t.Errorf("host frame %s, want w0001's", f.Data)
	}
}

// With the rate limit out of the way, a client that subscribes 5,000
// times without reading still makes the daemon hold one snapshot at a
// time: each subscription replaces the snapshot still waiting.
func TestWebSocketSubscribeFloodKeepsOneSnapshot(t *testing.T) {
	d := startDaemon(t, watchHosts(2000)+"[websocket]\nmessage_rate = 1000000\nmessage_burst = 1000000\n")
	pid := d.proc.cmd.Process.Pid
	// A fixed 256 KiB receive buffer (Linux would grow it to 32 MiB), so
	// that the daemon's writes stall after a few snapshots.
	dialer := &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(256 << 10)
			}
			return c, err
		},
	}
	c, _, err := dialer.Dial(d.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := memKiB(t, pid, "VmRSS")
	resetPeak(t, pid)

	const subscribes = 5000
	start := time.Now()
	for i := range subscribes {
		sub := `{"subscribe":{"types":["host"]}}`
		if i == subscribes-1 {
			sub = `{"subscribe":{"hosts":["w0007"]}}`
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("sending took over 10 s (at %d)", i)
		}
	}
	// Then read: the snapshots that were on their way, and the last one.
	got := 0
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("after %d snapshots: %v", got, err)
		}
		if f.Type != "snapshot" {
			continue
		}
		got++
		if strings.Count(string(f.Data), `"name"`) == 1 && strings.Contains(string(f.Data), `"w0007"`) {
			break
		}
	}
	peak := memKiB(t, pid, "VmHWM")
	t.Logf("%d subscriptions, %d snapshots received; RSS %d KiB before, peak %d KiB", subscribes, got, base, peak)
	if got > subscribes/10 {
		t.Errorf("received %d snapshots for %d subscriptions: they were queued, not replaced", got, subscribes)
	}
	if peak-base > rssBound {
		t.Errorf("peak RSS grew by %d KiB, more than %d KiB", peak-base, rssBound)
	}
	if v := metric(t, d, `hbd_ws_cut_off_total{reason="queue"}`); v != 0 {
		t.Errorf("the client was cut off (%v): one snapshot always fits", v)
	}
}

// The Origin check trusts the daemon's configured names, not the
// request's Host: a DNS-rebinding page (its own name pointed at 127.0.0.1,
// so that Origin and Host agree) is refused, the daemon's own pages and
// ws_origins are allowed, on the API port and on ws_port alike.
func TestWebSocketOriginDNSRebinding(t *testing.T) {
	d := startDaemon(t, `ws_origins = ["https://status.example.com"]`)
	apiWS := strings.Replace(d.http, "http://", "ws://", 1) + "/hbd"
	apiPort := strings.TrimPrefix(d.http, "http://127.0.0.1:")
	wsPort := strings.TrimSuffix(strings.TrimPrefix(d.ws, "ws://127.0.0.1:"), "/hbd")
	tests := []struct {
		url, host, origin string
		want              int
	}{
		{apiWS, "evil.example:" + apiPort, "http://evil.example:" + apiPort, http.StatusForbidden},
		{d.ws, "evil.example:" + wsPort, "http://evil.example:" + wsPort, http.StatusForbidden},
		{apiWS, "", "http://127.0.0.1:" + wsPort, http.StatusForbidden}, // ws_port serves no pages
		{apiWS, "", "https://evil.example.com", http.StatusForbidden},
		{apiWS, "", "http://127.0.0.1:" + apiPort, http.StatusSwitchingProtocols},
		{d.ws, "", "http://127.0.0.1:" + apiPort, http.StatusSwitchingProtocols},
		{apiWS, "", "http://localhost:" + apiPort, http.StatusSwitchingProtocols},
		{d.ws, "", "https://status.example.com", http.StatusSwitchingProtocols},
		{d.ws, "", "", http.StatusSwitchingProtocols},
	}
	refused := 0
	for _, tt := range tests {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		if tt.host != "" {
			h.Set("Host", tt.host)
		}
		c, resp, err := websocket.DefaultDialer.Dial(tt.url, h)
		if resp == nil {
			t.Fatalf("%s Host %q Origin %q: no HTTP answer: %v", tt.url, tt.host, tt.origin, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s Host %q Origin %q: status %d, want %d", tt.url, tt.host, tt.origin, resp.StatusCode, tt.want)
		}
		if c != nil {
			next(t, c, "snapshot")
			c.Close()
		}
		if tt.want == http.StatusForbidden {
			refused++
		}
	}
	if v := metric(t, d, `hbd_ws_upgrades_refused_total{reason="origin"}`); v != float64(refused) {
		t.Errorf(`hbd_ws_upgrades_refused_total{reason="origin"} = %v, want %d`, v, refused)
	}
	if !strings.Contains(d.out.String(), "websocket upgrade refused") {
		t.Error("no refusal was logged")
	}
}
