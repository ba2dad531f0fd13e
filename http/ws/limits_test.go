package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// fakeClock is Options.Now for tests: time moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// records is a slog.Handler that keeps what is logged at Info and above.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// lines returns the messages logged, each with its attributes.
func (r *records) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		var b strings.Builder
		b.WriteString(rec.Level.String() + " " + rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// readUntilClosed reads and discards frames until the connection ends and
// returns the error that ended it.
func readUntilClosed(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return err
		}
	}
}

func TestRateLimitCutsOff(t *testing.T) {
	send := map[string]func(c *websocket.Conn) error{
		"subscribe": func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"subscribe":{"types":["alert"]}}`))
		},
		"invalid message": func(c *websocket.Conn) error { return c.WriteMessage(websocket.TextMessage, []byte(`nonsense`)) },
		"ping": func(c *websocket.Conn) error {
			return c.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
		},
		"pong": func(c *websocket.Conn) error {
			return c.WriteControl(websocket.PongMessage, []byte("p"), time.Now().Add(time.Second))
		},
	}
	for name, send := range send {
		t.Run(name, func(t *testing.T) {
			// The clock stands still: the bucket holds 5 messages and never
			// refills, so the sixth is over the limit whatever the timing.
			clock := newFakeClock()
			logs := &records{}
			h := newHarness(t, Options{MessageRate: 1, MessageBurst: 5, Now: clock.now, Logger: slog.New(logs)})
			c := h.dial(t, nil)
			readFrame(t, c)
			for i := range 6 {
				if err := send(c); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			err := readUntilClosed(t, c)
			var ce *websocket.CloseError
			if !errorsAs(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "rate limit exceeded") {
				t.Fatalf("connection ended with %v, want close 1008 (policy violation) naming the rate limit", err)
			}
			eventually(t, "the client to be gone", func() bool { return h.b.Clients() == 0 })
			if n, r := h.b.CutOff(), h.b.CutOffs(CutRate); n != 1 || r != 1 {
				t.Errorf("CutOff() = %d, CutOffs(rate) = %d; want 1, 1", n, r)
			}
			if got := logs.lines(); len(got) != 1 || !strings.Contains(got[0], "WARN websocket client cut off reason=rate") {
				t.Errorf("logged %q, want one warning for the cut-off", got)
			}
		})
	}
}

func TestRateLimitSparesAClientUnderIt(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Options{MessageRate: 1, MessageBurst: 2, Now: clock.now})
	c := h.dial(t, nil)
	readFrame(t, c)
	// One message a second of the fake clock for 50 s. The reader reads
	// the clock when it handles a message, so each waits for its answer
	// before the clock moves on: a burst handled at one instant would be
	// over the limit, however slowly it was sent.
	for i := range 50 {
		clock.advance(time.Second)
		msg, answer := `{"subscribe":{}}`, "snapshot"
		if i%2 == 1 {
			msg, answer = `{}`, "error"
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if f := readFrame(t, c); f.Type != answer {
			t.Fatalf("answer to message %d: %q, want %q", i, f.Type, answer)
		}
	}
	if n := h.b.CutOff(); n != 0 || h.b.Clients() != 1 {
		t.Errorf("CutOff() = %d, Clients() = %d; a client under its rate must stay", n, h.b.Clients())
	}
}

func TestMessageSizeCutsOff(t *testing.T) {
	h := newHarness(t, Options{ReadLimit: 1024})
	c := h.dial(t, nil)
	readFrame(t, c)
	// Within the limit: an error frame, and the client stays.
	if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 1024)); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Type != "error" {
		t.Fatalf("answer to 1024 bytes of nonsense: %q, want an error frame", f.Type)
	}
	if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 1025)); err != nil {
		t.Fatal(err)
	}
	err := readUntilClosed(t, c)
	var ce *websocket.CloseError
	if !errorsAs(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("connection ended with %v, want close 1009 (message too big)", err)
	}
	eventually(t, "the client to be gone", func() bool { return h.b.Clients() == 0 })
	if n, r := h.b.CutOff(), h.b.CutOffs(CutMessageSize); n != 1 || r != 1 {
		t.Errorf("CutOff() = %d, CutOffs(message_size) = %d; want 1, 1", n, r)
	}
}

// dialSmallBuffer connects a client whose socket receive buffer is fixed
// at 256 KiB (Linux would grow it to tens of MiB), so that a client that
// does not read stalls the server's writes after a few MiB. (Much smaller,
// and loopback's 64 KiB segments no longer fit: the kernel drops them and
// backs off for seconds.)
func dialSmallBuffer(t *testing.T, h *harness) *websocket.Conn {
	t.Helper()
	d := &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(256 << 10)
			}
			return c, err
		},
	}
	c, resp, err := d.Dial(h.url(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// bigHosts returns n host objects of about size bytes each.
func bigHosts(n, size int) [][]byte {
	hosts := make([][]byte, n)
	for i := range hosts {
		hosts[i] = fmt.Appendf(nil, `{"name":"h%04d","pad":%q}`, i, strings.Repeat("x", size))
	}
	return hosts
}

func TestWriteTimeoutIsCounted(t *testing.T) {
	// A snapshot of 16 MiB, far more than the kernel buffers between the
	// server and a client that never reads: the write must time out. It
	// fits the queue (a client may always hold one whole snapshot), so the
	// cut-off is the write timeout's, not the queue's.
	h := newHarness(t, Options{WriteTimeout: 200 * time.Millisecond, QueueBytes: 1024})
	hosts := bigHosts(128, 128<<10)
	h.hosts.Store(broadcast.HostsOf(hosts))
	dialSmallBuffer(t, h)
	eventually(t, "the client to be cut off", func() bool { return h.b.CutOff() == 1 })
	eventually(t, "the client to be gone", func() bool { return h.b.Clients() == 0 })
	if n := h.b.CutOffs(CutWriteTimeout); n != 1 {
		t.Errorf("CutOffs(write_timeout) = %d, want 1 (queue %d)", n, h.b.CutOffs(CutQueue))
	}
}

// liveClient returns the server side of the harness's only client, once
// the endpoint has registered it (a dial returns when the handshake is
// done, which can be before the server's handler has run).
func liveClient(t *testing.T, h *harness) *client {
	t.Helper()
	var c *client
	eventually(t, "the client to be registered", func() bool {
		h.b.mu.Lock()
		defer h.b.mu.Unlock()
		if len(h.b.live) > 1 {
			t.Fatalf("%d clients, want 1", len(h.b.live))
		}
		for x := range h.b.live {
			c = x
		}
		return c != nil
	})
	return c
}

func TestSubscribeFloodKeepsOneSnapshot(t *testing.T) {
	const subscribes = 300
	// 16 MiB snapshots and a client that does not read: the writer is
	// stuck in the first, which the sockets' buffers cannot hold (the
	// kernel autotunes a loopback connection's send buffer up to
	// tcp_wmem's 4 MiB: with 4 MiB snapshots the writer was often free
	// again and took the last snapshot and the error frame before the
	// check), and every further subscription must replace the snapshot
	// waiting instead of adding 16 MiB. The rate limit is off to test
	// this bound on its own.
	h := newHarness(t, Options{MessageRate: rate.Inf, WriteTimeout: time.Minute, QueueBytes: 64 << 10})
	hosts := bigHosts(1024, 16384)
	h.hosts.Store(broadcast.HostsOf(hosts))
	c := dialSmallBuffer(t, h)
	for i := range subscribes {
		sub := `{"subscribe":{"types":["alert"]}}`
		if i == subscribes-1 {
			sub = `{"subscribe":{"hosts":["h0007"]}}`
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
			t.Fatalf("subscribe %d: %v", i, err)
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Barrier: the actor has handled every message once the error frame
	// that answers the last one is queued.
	sc := liveClient(t, h)
	var snaps, entries, held int
	eventually(t, "the last message to be answered", func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		n := len(sc.queue)
		if n == sc.head || sc.queue[n-1].kind != itemError {
			return false
		}
		snaps, entries, held = 0, n-sc.head, sc.bytes
		for _, q := range sc.queue[sc.head:] {
			if q.kind == itemSnapshot {
				snaps++
			}
		}
		return true
	})
	full := len((&broadcast.Snapshot{Hosts: broadcast.HostsOf(hosts)}).Frame()) // a snapshot of every host
	if snaps != 1 || held > 64<<10+full {
		t.Fatalf("after %d subscriptions: %d snapshots waiting, %d entries, %d bytes; want 1 snapshot within %d bytes", subscribes, snaps, entries, held, 64<<10+full)
	}
	// The client reads at last: a few snapshots that were on their way,
	// then the one for its last subscription, then the error frame.
	got := 0
	var last frame
	for {
		f := readFrame(t, c)
		if f.Type == "error" {
			break
		}
		got++
		last = f
	}
	if names := snapshotHosts(t, last); !slices.Equal(names, []string{"h0007"}) {
		t.Errorf("last snapshot holds %v, want [h0007]", names)
	}
	if got > 4 {
		t.Errorf("received %d snapshots for %d subscriptions, want at most the few that were in the socket buffers", got, subscribes)
	}
	if n := h.b.CutOff(); n != 0 {
		t.Errorf("CutOff() = %d, want 0", n)
	}
	t.Logf("%d subscriptions, %d snapshots received", subscribes, got)
}

func TestLogLimiter(t *testing.T) {
	clock := newFakeClock()
	logs := &records{}
	log := slog.New(logs)
	l := newLogLimiter(clock.now)
	for range 3 {
		l.warn(log, "a", "A")
	}
	l.warn(log, "b", "B")
	clock.advance(logEvery - time.Nanosecond)
	l.warn(log, "a", "A")
	clock.advance(time.Nanosecond)
	l.warn(log, "a", "A", "k", 1)
	want := []string{"WARN A", "WARN B", "WARN A k=1 not_logged_before=3"}
	if got := logs.lines(); !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
