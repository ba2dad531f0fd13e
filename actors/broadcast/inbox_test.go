package broadcast

import (
	"fmt"
	"testing"
	"time"
)

// gateConn is a connection whose first Enqueue waits for its gate: the hub
// stays inside that call, and what is published meanwhile waits in the
// inbox.
type gateConn struct {
	*recordingConn
	entered chan struct{}
	gate    chan struct{}
	once    bool
}

func (c *gateConn) Enqueue(frame []byte, allowance int) bool {
	if !c.once {
		c.once = true // only the hub's goroutine calls it
		close(c.entered)
		<-c.gate
	}
	return c.recordingConn.Enqueue(frame, allowance)
}

// A hub that is behind its publishers holds one frame per host and plugin
// (the newest, in the place of the first), keeps alert and message frames
// within the inbox's bytes and counts what it drops, never drops a
// connection's control messages, and delivers in order once it catches up.
func TestInboxBoundsAHubThatIsBehind(t *testing.T) {
	const limit = 4096
	_, b := startHub(t, Options{Coalesce: time.Millisecond, InboxBytes: limit})
	c := &gateConn{recordingConn: newRecordingConn(1 << 20), entered: make(chan struct{}), gate: make(chan struct{})}
	c.events = make(chan string, 1<<16)
	b.Register(c, nil)
	recv(t, c.events, "the snapshot")

	b.Publish(&Event{Type: "alert", Host: "h0", Frame: []byte("first")})
	<-c.entered // the hub is delivering "first" and waits

	// 10,000 frames of 10 hosts × (host, cpu plugin): 20 slots.
	for i := range 10000 {
		h := fmt.Sprintf("h%d", i%10)
		b.Publish(&Event{Type: "host", Host: h, Frame: exact("host-%s-%05d", h, i)})
		b.Publish(&Event{Type: "plugin", Host: h, Key: "cpu", Frame: exact("cpu-%s-%05d", h, i)})
	}
	// Alert frames until the inbox is full: the 20 slots hold 10 host
	// frames of 13 bytes and 10 plugin frames of 12; the rest of the 4,096
	// bytes holds 256 alerts of 15 bytes.
	const fit = (limit - 10*13 - 10*12) / 15
	for i := range 1000 {
		b.Publish(&Event{Type: "alert", Host: "h1", Frame: exact("alert-h1-%06d", i)})
	}
	late := newRecordingConn(1 << 20)
	b.Register(late, nil) // a control message: kept though the inbox is full

	if got, want := b.Conflated(), uint64(2*10000-20); got != want {
		t.Errorf("Conflated() = %d, want %d", got, want)
	}
	if got, want := b.Dropped(), uint64(1000-fit); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
	close(c.gate)

	var want []string
	want = append(want, "first")
	for i := range 10 {
		h := fmt.Sprintf("h%d", i)
		want = append(want, fmt.Sprintf("host-%s-%05d", h, 9990+i), fmt.Sprintf("cpu-%s-%05d", h, 9990+i))
	}
	for i := range fit {
		want = append(want, fmt.Sprintf("alert-h1-%06d", i))
	}
	// The coalescing window reorders nothing among host and plugin frames;
	// alerts go at once, ahead of the window's flush. So compare as sets
	// of host/plugin frames and as a sequence of alerts.
	got := map[string]bool{}
	var alerts []string
	for range len(want) {
		e := recv(t, c.events, "a frame after the gate opened")
		if len(e) > 6 && e[:6] == "alert-" {
			alerts = append(alerts, e)
		}
		got[e] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("frame %q was not delivered", w)
		}
	}
	if len(alerts) != fit || alerts[0] != "alert-h1-000000" || alerts[fit-1] != fmt.Sprintf("alert-h1-%06d", fit-1) {
		t.Errorf("alerts delivered %d (first %q), want %d in order", len(alerts), alerts[:min(1, len(alerts))], fit)
	}
	if s := recv(t, late.events, "the late client's snapshot"); s[:9] != "snapshot:" {
		t.Errorf("the client registered while the inbox was full got %q first, want its snapshot", s)
	}
}

// exact formats a frame whose buffer is exactly its length, so that the
// bounds, which count a frame's capacity, count what the test expects.
func exact(format string, args ...any) []byte {
	b := fmt.Appendf(nil, format, args...)
	return b[:len(b):len(b)]
}

// The bounds count what a frame holds in memory, its buffer's capacity,
// not its length: a 1-byte frame in a 64-byte buffer costs 64.
func TestInboxCountsTheFramesBuffer(t *testing.T) {
	in := newInbox(false, 200)
	for i := range 4 {
		_, dropped := in.put(&Event{Type: "alert", Host: "h", Frame: make([]byte, 1, 64)})
		if wantDrop := i == 3; dropped != wantDrop {
			t.Errorf("put %d of a 1-byte frame in a 64-byte buffer: dropped = %v, want %v (bound 200)", i, dropped, wantDrop)
		}
	}
}

// With coalescing off every frame is kept, in order, up to the bound.
func TestInboxWithoutCoalescingKeepsEveryFrame(t *testing.T) {
	in := newInbox(false, 100)
	for i := range 12 {
		post, dropped := in.put(&Event{Type: "host", Host: "h", Frame: exact("%09d", i)}) // 9 bytes
		if wantPost := i == 0; post != wantPost {
			t.Errorf("put %d: post = %v, want %v (one drain message per batch)", i, post, wantPost)
		}
		if wantDrop := i >= 11; dropped != wantDrop {
			t.Errorf("put %d: dropped = %v, want %v", i, dropped, wantDrop)
		}
	}
	if in.putControl(&unregister{}) {
		t.Error("a control message posted a second drain for the same batch")
	}
	items := in.take(nil)
	if len(items) != 12 || items[11].ctl == nil || string(items[10].e.Frame) != "000000010" {
		t.Fatalf("took %d items, want 11 frames in order and the control message", len(items))
	}
	if post, _ := in.put(&Event{Type: "host", Host: "h", Frame: []byte("x")}); !post {
		t.Error("the first put after take did not ask for a drain")
	}
	if in.conflated.Load() != 0 || in.dropped.Load() != 1 {
		t.Errorf("conflated %d, dropped %d; want 0 and 1", in.conflated.Load(), in.dropped.Load())
	}
}
