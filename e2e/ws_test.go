package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hbd-project/hbd/transport/wire"
)

type frame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustUnmarshal decodes a frame's data or fails the test.
func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("frame data %s: %v", data, err)
	}
}

// next reads frames until one of the wanted type arrives.
func next(t *testing.T, c *websocket.Conn, typ string) frame {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for a %q frame: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// A client gets a snapshot of every host, then live host, plugin, alert
// and message frames; a subscription narrows the stream; the endpoint is
// on ws_port and on the API port.
func TestWebSocketSnapshotUpdatesAndSubscription(t *testing.T) {
	d := startDaemon(t, `watchhosts = ["declared"]`)
	waitFor(t, 10*time.Second, "declared host listed", func() bool { _, ok := d.host(t, "declared"); return ok })
	for _, url := range []string{d.ws, strings.Replace(d.http, "http://", "ws://", 1) + "/hbd"} {
		c := dialWS(t, url)
		var snap struct {
			Hosts []host `json:"hosts"`
		}
		f := next(t, c, "snapshot")
		if err := json.Unmarshal(f.Data, &snap); err != nil || len(snap.Hosts) != 1 || snap.Hosts[0].Name != "declared" || snap.Hosts[0].State != "UNKNOWN" {
			t.Fatalf("%s: snapshot %s", url, f.Data)
		}
	}

	all := dialWS(t, d.ws)
	next(t, all, "snapshot")
	narrow := dialWS(t, d.ws)
	next(t, narrow, "snapshot")
	if err := narrow.WriteJSON(map[string]any{"subscribe": map[string]any{"hosts": []string{"web*"}, "types": []string{"plugin"}}}); err != nil {
		t.Fatal(err)
	}
	next(t, narrow, "snapshot") // the filtered snapshot that answers a subscription

	db := newSender(t, d, "db01", d.key, false)
	db.heartbeat(time.Second, 1)
	db.sample("cpu_monitor", `{"cpu_percent": 1}`)
	web := newSender(t, d, "web01", d.key, false)
	web.heartbeat(time.Second, 1)
	web.sample("cpu_monitor", `{"cpu_percent": 42.5}`)

	// Frames of different kinds may interleave (host frames are coalesced
	// for 250 ms, messages are not): collect until each has been seen.
	var h host
	var p struct {
		Host      string         `json:"host"`
		Plugin    string         `json:"plugin"`
		Data      map[string]any `json:"data"`
		Timestamp float64        `json:"timestamp"`
	}
	var m struct{ Host, Msg string }
	sawHost, sawPlugin, sawMsg := false, false, false
	if err := all.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for !sawHost || !sawPlugin || !sawMsg {
		var f frame
		if err := all.ReadJSON(&f); err != nil {
			t.Fatalf("host %v plugin %v message %v: %v", sawHost, sawPlugin, sawMsg, err)
		}
		switch f.Type {
		case "host":
			mustUnmarshal(t, f.Data, &h)
			sawHost = sawHost || h.Name == "web01"
		case "plugin":
			mustUnmarshal(t, f.Data, &p)
			sawPlugin = sawPlugin || p.Host == "web01"
		case "message":
			mustUnmarshal(t, f.Data, &m)
			sawMsg = sawMsg || (m.Host == "web01" && strings.Contains(m.Msg, "first contact"))
		}
	}
	if h.State != "UP" || len(h.Connections) != 1 {
		t.Errorf("host frame %+v", h)
	}
	if p.Plugin != "cpu_monitor" || p.Data["cpu_percent"] != 42.5 || p.Timestamp == 0 {
		t.Errorf("plugin frame %+v", p)
	}

	// The subscribed client gets exactly web01's plugin frame: no host
	// frames, nothing of db01.
	if err := narrow.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var f frame
	if err := narrow.ReadJSON(&f); err != nil {
		t.Fatal(err)
	}
	if f.Type != "plugin" || !strings.Contains(string(f.Data), `"host":"web01"`) {
		t.Fatalf("subscribed client got %s %s, want web01's plugin frame", f.Type, f.Data)
	}
	if err := narrow.SetReadDeadline(time.Now().Add(700 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := narrow.ReadJSON(&f); err == nil {
		t.Fatalf("subscribed client got an unwanted frame: %s %s", f.Type, f.Data)
	}

	// A bad subscription gets an error frame.
	if err := all.WriteJSON(map[string]any{"subscribe": map[string]any{"types": []string{"weather"}}}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, all, "error"); !strings.Contains(string(e.Data), "weather") {
		t.Errorf("error frame %s", e.Data)
	}

	// Shutdown closes the client cleanly.
	if err := d.stop(); err != nil {
		t.Fatalf("daemon stop: %v", err)
	}
	if err := all.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := all.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("on shutdown the client saw %v, want a going-away close", err)
			}
			break
		}
	}
}

// A client that does not read is cut off; a fast client on the same
// daemon receives every frame.
func TestWebSocketSlowClientIsCutOff(t *testing.T) {
	// 2,000 hosts from one address: past the default hosts_per_source.
	d := startDaemon(t, "[limits]\nhosts_per_source = 0\n")
	slow := dialWS(t, d.ws)
	next(t, slow, "snapshot")
	fast := dialWS(t, d.ws)
	next(t, fast, "snapshot")
	if err := fast.WriteJSON(map[string]any{"subscribe": map[string]any{"types": []string{"plugin"}}}); err != nil {
		t.Fatal(err)
	}
	next(t, fast, "snapshot")
	var got atomic.Int64
	var readErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_ = fast.SetReadDeadline(time.Now().Add(20 * time.Second)) // a closed conn fails the read below
			var f frame
			if err := fast.ReadJSON(&f); err != nil {
				readErr = err
				return
			}
			if f.Type == "plugin" {
				if got.Add(1) == 20000 {
					return
				}
			}
		}
	}()

	// 20,000 distinct (host, plugin) samples of about 1 KB: nothing to
	// coalesce, and far more than the slow client's queue and socket hold.
	s := newSender(t, d, "x", d.key, false)
	payload := `{"pad": "` + strings.Repeat("x", 1000) + `"}`
	sent := 0
	for h := 0; h < 2000; h++ {
		host := fmt.Sprintf("load%04d", h)
		for p := 0; p < 10; p++ {
			s.seq++
			b, err := wire.AppendSample(nil, s.sg, wire.Envelope{Host: host, Seq: s.seq, Time: time.Now().UnixNano()}, fmt.Sprintf("p%d", p), []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			s.send(b)
			sent++
		}
		if h%5 == 4 {
			// About 10,000 samples a second: a rate a reading client keeps
			// up with, and the slow one's queue still overflows in 0.1 s.
			time.Sleep(5 * time.Millisecond)
		}
	}
	<-done
	if n := got.Load(); n != int64(sent) {
		t.Fatalf("fast client got %d of %d plugin frames (read error: %v)", n, sent, readErr)
	}
	// Its queue overflows, or (on a loaded machine, where the socket
	// stops draining first) a write times out: either way, cut off once.
	waitFor(t, 15*time.Second, "the slow client cut off", func() bool {
		_, body := get(t, d.http+"/metrics")
		return strings.Contains(string(body), `hbd_ws_cut_off_total{reason="queue"} 1`) ||
			strings.Contains(string(body), `hbd_ws_cut_off_total{reason="write_timeout"} 1`)
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// An alert frame carries the level it came from, as docs/WEBSOCKET.md shows.
func TestWebSocketAlertFrameHasPrevLevel(t *testing.T) {
	d := startDaemon(t, `[[threshold]]
metric = "cpu_monitor.cpu_percent"
warning = 80.0
critical = 90.0
hosts = ["*"]
`)
	c := dialWS(t, d.ws)
	next(t, c, "snapshot")
	s := newSender(t, d, "fe1", d.key, false)
	s.heartbeat(time.Second, 1)
	s.sample("cpu_monitor", `{"cpu_percent": 85}`)
	var a struct {
		Hostname, Level string
		PrevLevel       string `json:"prev_level"`
	}
	for a.Level != "WARNING" {
		mustUnmarshal(t, next(t, c, "alert").Data, &a)
	}
	if a.Hostname != "fe1" || a.PrevLevel != "OK" {
		t.Fatalf("alert frame %+v, want fe1 OK -> WARNING", a)
	}
	s.sample("cpu_monitor", `{"cpu_percent": 95}`)
	mustUnmarshal(t, next(t, c, "alert").Data, &a)
	if a.Level != "CRITICAL" || a.PrevLevel != "WARNING" {
		t.Fatalf("alert frame %+v, want WARNING -> CRITICAL", a)
	}
}
