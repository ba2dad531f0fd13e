package ws

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// want is an expected frame: its type, host and sequence number.
type want struct {
	typ  string
	host string
	seq  int
}

func (w want) String() string { return fmt.Sprintf("%s/%s/%d", w.typ, w.host, w.seq) }

func readWant(tb testing.TB, c *websocket.Conn) want {
	tb.Helper()
	f := readFrame(tb, c)
	host, seq := seqOf(tb, f)
	return want{f.Type, host, seq}
}

func TestSnapshotThenEventsInOrder(t *testing.T) {
	h := newHarness(t, Options{})
	h.setHosts("db01", "web01")
	c := h.dial(t, nil)

	if got := snapshotHosts(t, readFrame(t, c)); !slices.Equal(got, []string{"db01", "web01"}) {
		t.Fatalf("snapshot hosts = %v, want [db01 web01]", got)
	}

	var events []*broadcast.Event
	var wants []want
	for i := range 40 {
		host := []string{"web01", "db01", "web02"}[i%3]
		var e *broadcast.Event
		switch i % 4 {
		case 0:
			e = hostEvent(host, i)
		case 1:
			e = pluginEvent(host, "cpu_monitor", i, 0)
		case 2:
			e = alertEvent(host, i)
		case 3:
			e = messageEvent(host, i)
		}
		events = append(events, e)
		wants = append(wants, want{e.Type, host, i})
	}
	for _, e := range events {
		h.hub.Publish(e)
	}
	for i, w := range wants {
		if got := readWant(t, c); got != w {
			t.Fatalf("frame %d = %v, want %v", i, got, w)
		}
	}
	if h.b.Clients() != 1 {
		t.Errorf("Clients() = %d, want 1", h.b.Clients())
	}
	// 1 snapshot + 40 events; the counter is bumped after each write returns.
	eventually(t, "FramesSent to reach 41", func() bool { return h.b.FramesSent() == 41 })
}

// A subscription in the URL applies from the first frame: the client is
// never sent the whole fleet, and then gets only the events it asked for.
// A bad one is refused before the upgrade.
func TestSubscribeInURL(t *testing.T) {
	h := newHarness(t, Options{MaxGlobs: 2})
	h.setHosts("db01", "web01", "web02")
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(h.url()+"?hosts=web*&types=host,alert", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	if got := snapshotHosts(t, readFrame(t, c)); !slices.Equal(got, []string{"web01", "web02"}) {
		t.Fatalf("first snapshot hosts = %v, want web01 and web02 only", got)
	}
	for _, e := range []*broadcast.Event{hostEvent("db01", 1), pluginEvent("web01", "cpu_monitor", 2, 0), messageEvent("web01", 3), alertEvent("web02", 4)} {
		h.hub.Publish(e)
	}
	if f := readFrame(t, c); f.Type != "alert" {
		t.Errorf("first event frame %s %s, want the alert of web02 (db01, the plugin and the message are filtered out)", f.Type, f.Data)
	}
	for _, bad := range []string{"?types=nosuch", "?hosts=a,b,c", "?hosts=[", "?hosts=a&hosts=b&hosts=c"} {
		_, resp, err := d.Dial(h.url()+bad, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("dial %s: %v, HTTP %d; want 400", bad, err, status)
		}
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
}

func TestSubscribe(t *testing.T) {
	events := []*broadcast.Event{
		hostEvent("db01", 1),
		pluginEvent("web01", "cpu_monitor", 2, 0),
		alertEvent("web02", 3),
		hostEvent("web01", 4),
		messageEvent("web01", 5),
		alertEvent("db01", 6),
		messageEvent("", 7), // daemon-wide
		pluginEvent("web02", "disk_monitor", 8, 0),
	}
	tests := []struct {
		name     string
		sub      string
		snapshot []string
		seqs     []int // the events delivered, in order
	}{
		{"host glob and types", `{"subscribe":{"hosts":["web*"],"types":["host","alert"]}}`, []string{"web01", "web02"}, []int{3, 4}},
		{"one host, every type", `{"subscribe":{"hosts":["db01"]}}`, []string{"db01"}, []int{1, 6}},
		{"types only", `{"subscribe":{"types":["message"]}}`, []string{"db01", "web01", "web02"}, []int{5, 7}},
		{"several globs", `{"subscribe":{"hosts":["web0[2]","d?01"],"types":["plugin","alert"]}}`, []string{"db01", "web02"}, []int{3, 6, 8}},
		{"empty lists mean all", `{"subscribe":{"hosts":[],"types":[]}}`, []string{"db01", "web01", "web02"}, []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{"no glob matches", `{"subscribe":{"hosts":["mail*"]}}`, []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.setHosts("db01", "web01", "web02")
			c := h.dial(t, nil)
			if got := snapshotHosts(t, readFrame(t, c)); len(got) != 3 {
				t.Fatalf("first snapshot hosts = %v, want all 3", got)
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(tt.sub)); err != nil {
				t.Fatal(err)
			}
			if got := snapshotHosts(t, readFrame(t, c)); !slices.Equal(got, tt.snapshot) {
				t.Fatalf("filtered snapshot hosts = %v, want %v", got, tt.snapshot)
			}
			for _, e := range events {
				h.hub.Publish(e)
			}
			// A repeated subscription is a barrier: its snapshot is queued
			// after every event published before it was sent.
			if err := c.WriteMessage(websocket.TextMessage, []byte(tt.sub)); err != nil {
				t.Fatal(err)
			}
			var got []int
			for {
				f := readFrame(t, c)
				if f.Type == "snapshot" {
					break
				}
				_, seq := seqOf(t, f)
				got = append(got, seq)
			}
			if !slices.Equal(got, tt.seqs) {
				t.Errorf("delivered %v, want %v", got, tt.seqs)
			}
		})
	}
}

func TestInvalidMessagesGetErrorAndChangeNothing(t *testing.T) {
	h := newHarness(t, Options{})
	h.setHosts("web01", "web02")
	c := h.dial(t, nil)
	readFrame(t, c) // snapshot
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"subscribe":{"hosts":["web01"],"types":["alert"]}}`)); err != nil {
		t.Fatal(err)
	}
	if got := snapshotHosts(t, readFrame(t, c)); !slices.Equal(got, []string{"web01"}) {
		t.Fatalf("snapshot = %v, want [web01]", got)
	}

	bad := []struct {
		msg     string
		wantErr string
	}{
		{`not json`, "cannot decode"},
		{`{"subscribe":{"host":["web02"]}}`, `unknown field "host"`},
		{`{"subscribe":{"hosts":["web["]}}`, "invalid host pattern"},
		{`{"subscribe":{"types":["cpu"]}}`, `unknown type "cpu"`},
		{`{"subscribe":{"hosts":"web02"}}`, "cannot decode"},
		{`{"subscribe":null}`, `no "subscribe"`},
		{`{}`, `no "subscribe"`},
		{`{"subscribe":{}} {"subscribe":{}}`, "data after"},
		{`{"subscribe":{"hosts":[""]}}`, "empty host pattern"},
	}
	for _, b := range bad {
		if err := c.WriteMessage(websocket.TextMessage, []byte(b.msg)); err != nil {
			t.Fatal(err)
		}
		f := readFrame(t, c)
		var d struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(f.Data, &d)
		if f.Type != "error" || !strings.Contains(d.Error, b.wantErr) {
			t.Errorf("reply to %s = %s %s, want an error containing %q", b.msg, f.Type, f.Data, b.wantErr)
		}
	}
	// The filter is still web01 alerts only, and no snapshot was sent.
	h.hub.Publish(alertEvent("web02", 1))
	h.hub.Publish(hostEvent("web01", 2))
	h.hub.Publish(alertEvent("web01", 3))
	if got, w := readWant(t, c), (want{"alert", "web01", 3}); got != w {
		t.Errorf("after invalid messages got %v, want %v", got, w)
	}
	if h.b.Clients() != 1 {
		t.Errorf("Clients() = %d, want 1: an invalid message must not close the client", h.b.Clients())
	}
}

func TestCoalescing(t *testing.T) {
	// The window is an hour so that only the test's Flush ends it; the
	// actor processes its mailbox in order, so every event published before
	// the flush is in that window.
	h := newCoalescingHarness(t, time.Hour, Options{})
	c := h.dial(t, nil)
	readFrame(t, c) // snapshot

	var immediate []want
	for i := range 50 {
		h.hub.Publish(hostEvent("web01", i))
		if i%10 == 5 {
			h.hub.Publish(alertEvent("web01", 1000+i))
			h.hub.Publish(messageEvent("web01", 2000+i))
			immediate = append(immediate, want{"alert", "web01", 1000 + i}, want{"message", "web01", 2000 + i})
		}
		if i < 20 {
			h.hub.Publish(pluginEvent("web01", "cpu_monitor", 3000+i, 0))
			h.hub.Publish(pluginEvent("web01", "mem_monitor", 4000+i, 0))
		}
		if i < 5 {
			h.hub.Publish(hostEvent("web02", 5000+i))
		}
	}
	// Alerts and messages are neither delayed nor merged.
	for i, w := range immediate {
		if got := readWant(t, c); got != w {
			t.Fatalf("immediate frame %d = %v, want %v", i, got, w)
		}
	}
	h.hub.Flush()
	// One frame per (type, host, key), the latest, in order of first arrival.
	for i, w := range []want{
		{"host", "web01", 49},
		{"plugin", "web01", 3019},
		{"plugin", "web01", 4019},
		{"host", "web02", 5004},
	} {
		if got := readWant(t, c); got != w {
			t.Fatalf("coalesced frame %d = %v, want %v", i, got, w)
		}
	}
	// The next window starts empty.
	h.hub.Publish(hostEvent("web01", 50))
	h.hub.Publish(alertEvent("web01", 51))
	if got, w := readWant(t, c), (want{"alert", "web01", 51}); got != w {
		t.Fatalf("got %v, want %v", got, w)
	}
	h.hub.Flush()
	if got, w := readWant(t, c), (want{"host", "web01", 50}); got != w {
		t.Fatalf("got %v, want %v", got, w)
	}
}

func TestCoalescingTimerFlushes(t *testing.T) {
	// With a real window, the burst may straddle a tick, so only what must
	// hold is checked: the latest event arrives without anyone asking, and
	// nothing arrives out of order.
	h := newCoalescingHarness(t, 10*time.Millisecond, Options{})
	c := h.dial(t, nil)
	readFrame(t, c)
	for i := range 50 {
		h.hub.Publish(hostEvent("web01", i))
	}
	last := -1
	for last != 49 {
		got := readWant(t, c)
		if got.typ != "host" || got.seq <= last {
			t.Fatalf("got %v after seq %d", got, last)
		}
		last = got.seq
	}
}

func TestCoalescingOff(t *testing.T) {
	h := newCoalescingHarness(t, 0, Options{})
	c := h.dial(t, nil)
	readFrame(t, c)
	for i := range 50 {
		h.hub.Publish(hostEvent("web01", i))
	}
	for i := range 50 {
		if got, w := readWant(t, c), (want{"host", "web01", i}); got != w {
			t.Fatalf("frame %d = %v, want %v", i, got, w)
		}
	}
}

func TestSlowClientIsCutOffFastClientGetsEverything(t *testing.T) {
	const (
		events    = 5000
		batch     = 4    // at most this many frames queued for the fast client
		frameSize = 2048 // 10 MB in all: more than the kernel buffers for a reader that never reads
	)
	h := newHarness(t, Options{QueueFrames: 8, WriteTimeout: time.Second})
	fast := h.dial(t, nil)
	readFrame(t, fast)

	// The slow client never reads.
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	slow, _, err := d.Dial(h.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	eventually(t, "both clients registered", func() bool { return h.b.Clients() == 2 })

	for i := 0; i < events; i += batch {
		for j := i; j < i+batch; j++ {
			h.hub.Publish(pluginEvent("web01", "cpu_monitor", j, frameSize))
		}
		for j := i; j < i+batch; j++ {
			if got, w := readWant(t, fast), (want{"plugin", "web01", j}); got != w {
				t.Fatalf("fast client frame %d = %v, want %v", j, got, w)
			}
		}
	}
	if got, q := h.b.CutOff(), h.b.CutOffs(CutQueue); got != 1 || q != 1 {
		t.Fatalf("CutOff() = %d, CutOffs(queue) = %d; want 1, 1 (the slow client only, for its queue)", got, q)
	}
	// The cut-off client's writer closes its connection once its blocked
	// write gives up (WriteTimeout); the fast client stays.
	eventually(t, "the slow client to be disconnected", func() bool { return h.b.Clients() == 1 })
	if sent := h.b.FramesSent(); sent < events+1 {
		t.Errorf("FramesSent() = %d, want at least %d", sent, events+1)
	}

	// The slow client finds a closed connection after what reached it.
	got := 0
	for {
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := slow.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow client still connected after %d frames", got)
			}
			break
		}
		got++
	}
	if got >= events {
		t.Errorf("slow client read %d frames; it should have been cut off before %d", got, events)
	}

	// The fast client is still served.
	h.hub.Publish(alertEvent("web01", 1))
	if got, w := readWant(t, fast), (want{"alert", "web01", 1}); got != w {
		t.Errorf("after the cut-off got %v, want %v", got, w)
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		host    string // the Host header; "" means the server's own address
		origin  string // "self" means the server's own http://host:port
		want    int
	}{
		{"no origin", nil, "", "", http.StatusSwitchingProtocols},
		{"no origin with an allow-list", []string{"https://ops.example.com"}, "", "", http.StatusSwitchingProtocols},
		{"same host is not trusted", nil, "", "self", http.StatusForbidden},
		{"DNS rebinding", []string{"http://127.0.0.1:50004"}, "evil.example:50004", "http://evil.example:50004", http.StatusForbidden},
		{"foreign origin", nil, "", "https://evil.example.com", http.StatusForbidden},
		{"malformed origin", nil, "", "::not a url", http.StatusForbidden},
		{"null origin", []string{"https://ops.example.com"}, "", "null", http.StatusForbidden},
		{"allow-listed", []string{"https://ops.example.com"}, "", "https://ops.example.com", http.StatusSwitchingProtocols},
		{"allow-listed self", []string{"self"}, "", "self", http.StatusSwitchingProtocols},
		{"allow-list is case-insensitive, trailing slash ignored", []string{"https://OPS.example.com/"}, "", "https://ops.example.com", http.StatusSwitchingProtocols},
		{"default port", []string{"http://ops.example.com:80", "https://ops.example.com"}, "", "https://ops.example.com:443", http.StatusSwitchingProtocols},
		{"IPv6 in any spelling", []string{"http://[0:0::1]:8080"}, "", "http://[::1]:8080", http.StatusSwitchingProtocols},
		{"other port", []string{"http://127.0.0.1:50004"}, "", "http://127.0.0.1:50005", http.StatusForbidden},
		{"other scheme", []string{"https://ops.example.com"}, "", "http://ops.example.com", http.StatusForbidden},
		{"not on the allow-list", []string{"https://ops.example.com"}, "", "https://evil.example.com", http.StatusForbidden},
		{"wildcard", []string{"*"}, "", "https://anything.example.net", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessAt(t, func(addr string) Options {
				allowed := slices.Clone(tt.allowed)
				for i, a := range allowed {
					if a == "self" {
						allowed[i] = "http://" + addr
					}
				}
				return Options{AllowedOrigins: allowed}
			})
			header := http.Header{}
			switch tt.origin {
			case "":
			case "self":
				header.Set("Origin", "http://"+h.addr)
			default:
				header.Set("Origin", tt.origin)
			}
			if tt.host != "" {
				header.Set("Host", tt.host)
			}
			d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			c, resp, err := d.Dial(h.url(), header)
			if c != nil {
				defer c.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d (%v), want %d", resp.StatusCode, err, tt.want)
			}
			refused := uint64(0)
			if tt.want == http.StatusSwitchingProtocols {
				if f := readFrame(t, c); f.Type != "snapshot" {
					t.Errorf("first frame %q, want snapshot", f.Type)
				}
			} else {
				refused = 1
			}
			if n := h.b.OriginsRefused(); n != refused {
				t.Errorf("OriginsRefused() = %d, want %d", n, refused)
			}
		})
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"http://127.0.0.1:50004", "http://127.0.0.1:50004", true},
		{"HTTP://LocalHost:50004", "http://localhost:50004", true},
		{"http://[0:0:0:0:0:0:0:1]:50004", "http://[::1]:50004", true},
		{"http://example.com:80", "http://example.com", true},
		{"https://example.com:443", "https://example.com", true},
		{"https://example.com:80", "https://example.com:80", true},
		{"http://example.com/", "http://example.com", true},
		{"null", "", false},
		{"file://", "", false},
		{"ws://example.com", "", false},
		{"http://user@example.com", "", false},
		{"http://example.com/path", "", false},
		{"http://example.com?q", "", false},
		{"http://[example.com]", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeOrigin(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStopClosesClients(t *testing.T) {
	h := newHarness(t, Options{WriteTimeout: 200 * time.Millisecond})
	readers := []*websocket.Conn{h.dial(t, nil), h.dial(t, nil)}
	silent := h.dial(t, nil) // never reads, so never answers the close frame
	_ = silent
	for _, c := range readers {
		readFrame(t, c)
	}
	eventually(t, "three clients", func() bool { return h.b.Clients() == 3 })

	h.stop()
	if n := h.b.Clients(); n != 0 {
		t.Errorf("Clients() after Stop = %d, want 0", n)
	}
	for i, c := range readers {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("client %d: read after Stop = %v, want a going-away close", i, err)
		}
	}

	h.stop() // twice is fine
	h.hub.Publish(alertEvent("web01", 1))

	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(h.url(), nil)
	if c != nil {
		c.Close()
		t.Fatal("upgrade accepted after Stop")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Stop: %v, want HTTP 503", err)
	} else {
		_ = resp.Body.Close()
	}
}

func TestKeepaliveClosesUnresponsiveClient(t *testing.T) {
	// Real time: the pong deadline is a socket read deadline, which no fake
	// clock reaches. The intervals are generous so -race scheduling cannot
	// starve the responsive client. Its pongs (10 a second here) count
	// against its message rate, so the rate is raised well above them:
	// what is tested is the pong deadline, not the rate limit.
	h := newHarness(t, Options{PingInterval: 100 * time.Millisecond, MessageRate: 1000, MessageBurst: 1000})
	silent := h.dial(t, nil) // reads nothing, so answers no ping
	_ = silent
	responsive := h.dial(t, nil)
	pings := make(chan struct{}, 100)
	responsive.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return responsive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := responsive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() {
		responsive.Close()
		<-done
	}()
	waitPings := func(n int) {
		for range n {
			select {
			case <-pings:
			case <-time.After(10 * time.Second):
				t.Fatal("responsive client stopped getting pings")
			}
		}
	}
	waitPings(5) // 500 ms: more than the 200 ms the silent client is allowed
	eventually(t, "the silent client to be closed", func() bool { return h.b.Clients() == 1 })
	waitPings(3)
	if n := h.b.Clients(); n != 1 {
		t.Errorf("Clients() = %d, want the responsive client still connected", n)
	}
	if n, p := h.b.CutOff(), h.b.CutOffs(CutPongTimeout); n != 1 || p != 1 {
		t.Errorf("CutOff() = %d, CutOffs(pong_timeout) = %d; want the silent client counted once, as a pong timeout", n, p)
	}
}

func TestHandlerRejectsPlainHTTP(t *testing.T) {
	h := newHarness(t, Options{})
	resp, err := http.Get("http://" + h.addr + "/hbd")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET status = %d, want 400", resp.StatusCode)
	}
}

func BenchmarkFanout(b *testing.B) {
	const clients = 20
	h := newHarness(b, Options{QueueFrames: b.N + 16, QueueBytes: 1 << 30})
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = h.dial(b, nil)
		readFrame(b, conns[i])
	}
	e := alertEvent("web01", 1)
	errs := make(chan error, clients)
	b.SetBytes(int64(len(e.Frame)) * clients)
	b.ReportAllocs()
	b.ResetTimer()
	for _, c := range conns {
		go func() {
			for range b.N {
				_, r, err := c.NextReader()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range b.N {
		h.hub.Publish(e)
	}
	for range clients {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if h.b.CutOff() != 0 {
		b.Fatalf("%d clients cut off", h.b.CutOff())
	}
}
