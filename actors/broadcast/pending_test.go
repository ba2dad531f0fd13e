package broadcast

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// The pending queue keeps keys in order of first arrival, replaces a
// waiting key's frame in place, refuses a new key past its byte bound
// (never a replacement), and keeps its positions right across the
// compaction of a queue that never empties.
func TestPendingQueue(t *testing.T) {
	p := newPending()
	ev := func(host, frame string) *Event { return &Event{Type: "host", Host: host, Frame: []byte(frame)} }
	const limit = 1 << 20
	next := 0 // hosts put so far; host i's frame is "i" or "i'" once replaced
	for round := range 50 {
		for range 100 {
			if _, ok := p.put(ev(fmt.Sprint(next), fmt.Sprint(next)), limit); !ok {
				t.Fatal("put refused under the limit")
			}
			next++
		}
		// Replace the frame of the oldest waiting host; it keeps its turn.
		oldest := round * 60
		if replaced, ok := p.put(ev(fmt.Sprint(oldest), fmt.Sprint(oldest)+"'"), limit); !replaced || !ok {
			t.Fatalf("round %d: replacing host %d: replaced %v, ok %v", round, oldest, replaced, ok)
		}
		for i := range 60 {
			want := fmt.Sprint(oldest + i)
			if i == 0 {
				want += "'"
			}
			if e := p.pop(); e == nil || string(e.Frame) != want {
				t.Fatalf("round %d pop %d = %v, want %s", round, i, e, want)
			}
		}
	}
	if got, want := p.len(), 50*100-50*60; got != want {
		t.Fatalf("len = %d, want %d", got, want)
	}
	for e := p.pop(); e != nil; e = p.pop() {
	}
	if p.len() != 0 || p.bytes != 0 || len(p.slot) != 0 {
		t.Fatalf("drained queue: len %d, bytes %d, slots %d", p.len(), p.bytes, len(p.slot))
	}

	small := newPending()
	if _, ok := small.put(ev("a", "12345"), 8); !ok {
		t.Fatal("first frame refused")
	}
	if _, ok := small.put(ev("b", "1234"), 8); ok {
		t.Fatal("a new key past the bound was taken")
	}
	if replaced, ok := small.put(ev("a", "1234567"), 8); !replaced || !ok {
		t.Fatal("a replacement within the bound was refused")
	}
}

// With a fan-out budget, a flush hands out at most FanoutRate × Coalesce
// client frames, oldest key first; the rest waits, a newer frame of a
// waiting host taking its place, and goes out with the next flushes. A
// frame for two clients costs two.
func TestFanoutBudgetPacesHostFrames(t *testing.T) {
	for _, clients := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d clients", clients), func(t *testing.T) {
			// A window of an hour never ends on its own: the test ends it
			// with Flush. One frame a second makes a grant of 3,600 client
			// frames per window.
			_, b := startHub(t, Options{Coalesce: time.Hour, FanoutRate: 1})
			const grant, hosts = 3600, 5000
			perFlush := grant / clients
			conns := make([]*recordingConn, clients)
			for i := range conns {
				conns[i] = newRecordingConn(1 << 20)
				conns[i].events = make(chan string, 1<<16)
				b.Register(conns[i], nil)
				recv(t, conns[i].events, "the snapshot")
			}
			for i := range hosts {
				b.Publish(&Event{Type: "host", Host: fmt.Sprintf("h%04d", i), Frame: fmt.Appendf(nil, "h%04d", i)})
			}
			b.Flush()
			expect := func(want ...string) {
				t.Helper()
				for _, c := range conns {
					for _, w := range want {
						if got := recv(t, c.events, w); got != w {
							t.Fatalf("got %q, want %q", got, w)
						}
					}
				}
			}
			var first []string
			for i := range perFlush {
				first = append(first, fmt.Sprintf("h%04d", i))
			}
			expect(first...)
			// The flush has been handled; an alert published now goes out at
			// once, so it comes next only if the flush sent nothing more.
			b.Publish(&Event{Type: "alert", Host: "h0000", Frame: []byte("mark")})
			expect("mark")
			if got, want := b.Pending(), hosts-perFlush; got != want {
				t.Fatalf("Pending() = %d, want %d", got, want)
			}
			// A newer frame of a waiting host replaces it in its turn; a host
			// already sent queues again at the end.
			waiting := fmt.Sprintf("h%04d", perFlush+1)
			b.Publish(&Event{Type: "host", Host: waiting, Frame: []byte(waiting + "'")})
			b.Publish(&Event{Type: "host", Host: "h0000", Frame: []byte("h0000'")})
			var rest []string
			for i := perFlush; i < hosts; i++ {
				w := fmt.Sprintf("h%04d", i)
				if w == waiting {
					w += "'"
				}
				rest = append(rest, w)
			}
			rest = append(rest, "h0000'")
			for sent := 0; sent < len(rest); sent += perFlush {
				b.Flush()
				expect(rest[sent:min(sent+perFlush, len(rest))]...)
			}
			b.Publish(&Event{Type: "alert", Host: "h0000", Frame: []byte("mark2")})
			expect("mark2")
			if n := b.Pending(); n != 0 {
				t.Fatalf("Pending() = %d after the last flush, want 0", n)
			}
		})
	}
}

// While ingest is behind, each flush halves the stream's share of the
// budget, down to 1/64; once it is not, the share grows back by 1/32 a
// flush.
func TestFanoutShareYieldsToIngest(t *testing.T) {
	var behind atomic.Bool
	behind.Store(true)
	// One frame a second over an hour's window: 3,600 client frames a
	// flush at full share.
	_, b := startHub(t, Options{Coalesce: time.Hour, FanoutRate: 1, Behind: behind.Load})
	c := newRecordingConn(1 << 20)
	c.events = make(chan string, 1<<16)
	b.Register(c, nil)
	recv(t, c.events, "the snapshot")
	for i := range 10000 {
		b.Publish(&Event{Type: "host", Host: fmt.Sprintf("h%04d", i), Frame: fmt.Appendf(nil, "h%04d", i)})
	}
	next := 0
	flush := func(want int, share float64) {
		t.Helper()
		b.Flush()
		for range want {
			w := fmt.Sprintf("h%04d", next)
			if got := recv(t, c.events, w); got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
			next++
		}
		// An alert goes out at once: it comes next only if the flush sent
		// no more than want.
		b.Publish(&Event{Type: "alert", Host: "x", Frame: []byte("mark")})
		if got := recv(t, c.events, "mark"); got != "mark" {
			t.Fatalf("after %d frames got %q, want the mark", want, got)
		}
		if got := b.Share(); got < share-0.001 || got > share+0.001 {
			t.Fatalf("Share() = %v, want %v", got, share)
		}
	}
	// Each alert costs one client frame of the next grant.
	flush(1800, 0.5)
	flush(900-1, 0.25)
	flush(450-1, 0.125)
	// The grant is truncated to whole frames.
	grant := func(share float64) int { return int(3600 * share) }
	for _, s := range []float64{1.0 / 16, 1.0 / 32, 1.0 / 64, 1.0 / 64} {
		flush(grant(s)-1, s)
	}
	behind.Store(false)
	flush(grant(3.0/64)-1, 3.0/64)
}
