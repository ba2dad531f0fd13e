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
	if p.len() != 0 || p.q.bytes != 0 || len(p.slot) != 0 {
		t.Fatalf("drained queue: len %d, bytes %d, slots %d", p.len(), p.q.bytes, len(p.slot))
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

// eventually polls cond until it holds; the deadline only turns a hang
// into a failure.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// budgetHub is a hub whose window never ends on its own (an hour): the
// test ends windows with Flush. One frame a second over an hour makes a
// grant of 3,600 client frames per window at full share.
func budgetHub(t *testing.T, clients int, behind func() bool) (*Broadcaster, []*recordingConn) {
	t.Helper()
	return budgetHubFiltered(t, clients, nil, behind)
}

// budgetHubFiltered is budgetHub with every client subscribed with f.
func budgetHubFiltered(t *testing.T, clients int, f *Filter, behind func() bool) (*Broadcaster, []*recordingConn) {
	t.Helper()
	_, b := startHub(t, Options{Coalesce: time.Hour, FanoutRate: 1, Behind: behind})
	conns := make([]*recordingConn, clients)
	for i := range conns {
		conns[i] = newRecordingConn(1 << 20)
		conns[i].events = make(chan string, 1<<16)
		b.Register(conns[i], f)
		recv(t, conns[i].events, "the snapshot")
	}
	return b, conns
}

// expect checks that every connection receives want, in order.
func expect(t *testing.T, conns []*recordingConn, want ...string) {
	t.Helper()
	for _, c := range conns {
		for _, w := range want {
			if got := recv(t, c.events, w); got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		}
	}
}

// With a fan-out budget, a flush hands out at most FanoutRate × Coalesce
// client frames: alert and message frames first, in order, then host and
// plugin frames, oldest key first; the rest waits, a newer frame of a
// waiting host taking its place, and goes out with the next flushes. A
// frame for two filtered clients costs two; for any number of clients
// that take everything, one (they share the flush's batch). An alert
// published after a flush comes first in the next one, so it also shows
// that the flush before sent no more than its grant.
func TestFanoutBudgetPacesFrames(t *testing.T) {
	const grant, hosts = 3600, 5000
	filtered, err := NewFilter(nil, []string{"host", "alert"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		clients, perFlush int
		f                 *Filter
	}{{1, grant, nil}, {2, grant, nil}, {3, grant, nil}, {2, grant / 2, filtered}} {
		t.Run(fmt.Sprintf("%d clients, filtered %v", tc.clients, tc.f != nil), func(t *testing.T) {
			b, conns := budgetHubFiltered(t, tc.clients, tc.f, nil)
			perFlush := tc.perFlush
			name := func(i int) string { return fmt.Sprintf("h%04d", i) }
			for i := range hosts {
				b.Publish(&Event{Type: "host", Host: name(i), Frame: []byte(name(i))})
			}
			b.Flush()
			var want []string
			for i := range perFlush {
				want = append(want, name(i))
			}
			expect(t, conns, want...)
			eventually(t, "the pending count", func() bool { return b.Pending() == hosts-perFlush })

			// A newer frame of a waiting host replaces it in its turn; a host
			// already sent queues again at the end.
			waiting := name(perFlush + 1)
			b.Publish(&Event{Type: "host", Host: waiting, Frame: []byte(waiting + "'")})
			b.Publish(&Event{Type: "host", Host: "h0000", Frame: []byte("h0000'")})
			var rest []string
			for i := perFlush; i < hosts; i++ {
				w := name(i)
				if w == waiting {
					w += "'"
				}
				rest = append(rest, w)
			}
			rest = append(rest, "h0000'")
			for sent, flush := 0, 0; sent < len(rest); flush++ {
				mark := fmt.Sprintf("mark%d", flush)
				b.Publish(&Event{Type: "alert", Host: "h0000", Frame: []byte(mark)})
				b.Flush()
				n := min(perFlush-1, len(rest)-sent) // the mark took one frame per client
				expect(t, conns, append([]string{mark}, rest[sent:sent+n]...)...)
				sent += n
			}
			b.Publish(&Event{Type: "alert", Host: "h0000", Frame: []byte("last")})
			b.Flush()
			expect(t, conns, "last")
			eventually(t, "nothing pending", func() bool { return b.Pending() == 0 })
		})
	}
}

// While ingest is behind, each flush halves the stream's share of the
// budget, down to 1/64; once it is not, the share grows back by 1/32 a
// flush.
func TestFanoutShareYieldsToIngest(t *testing.T) {
	var behind atomic.Bool
	behind.Store(true)
	b, conns := budgetHub(t, 1, behind.Load)
	for i := range 10000 {
		b.Publish(&Event{Type: "host", Host: fmt.Sprintf("h%04d", i), Frame: exact("h%04d", i)})
	}
	next, flushes := 0, 0
	flush := func(share float64) {
		t.Helper()
		// Every flush but the first starts with the mark published before
		// it, which takes one frame of its grant; the grant is truncated
		// to whole frames.
		want := int(3600 * share)
		var frames []string
		if flushes > 0 {
			mark := fmt.Sprintf("mark%d", flushes)
			b.Publish(&Event{Type: "alert", Host: "x", Frame: []byte(mark)})
			frames = append(frames, mark)
			want--
		}
		flushes++
		b.Flush()
		for range want {
			frames = append(frames, fmt.Sprintf("h%04d", next))
			next++
		}
		expect(t, conns, frames...)
		if got := b.Share(); got < share-0.001 || got > share+0.001 {
			t.Fatalf("Share() = %v, want %v", got, share)
		}
	}
	for _, s := range []float64{1.0 / 2, 1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32, 1.0 / 64, 1.0 / 64} {
		flush(s)
	}
	behind.Store(false)
	flush(3.0 / 64)
	// The last flush sent no more than its grant: the next mark comes
	// before any host.
	b.Publish(&Event{Type: "alert", Host: "x", Frame: []byte("end")})
	b.Flush()
	expect(t, conns, "end", fmt.Sprintf("h%04d", next))
}

// One flush hands the clients that take everything one shared batch, in
// the order the frames went out, framed once for all of them; a filtered
// client gets its frames one by one, as before.
func TestFlushSharesOneBatch(t *testing.T) {
	_, b := startHub(t, Options{Coalesce: time.Hour, FanoutRate: 1})
	a1, a2, db := newRecordingConn(100), newRecordingConn(100), newRecordingConn(100)
	for _, c := range []*recordingConn{a1, a2} {
		b.Register(c, nil)
		recv(t, c.events, "the snapshot")
	}
	dbOnly, err := NewFilter([]string{"db*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Register(db, dbOnly)
	recv(t, db.events, "the snapshot")

	b.Publish(&Event{Type: "alert", Host: "web01", Frame: []byte("alert web01")})
	b.Publish(&Event{Type: "host", Host: "web01", Frame: []byte("web01")})
	b.Publish(&Event{Type: "host", Host: "db01", Frame: []byte("db01")})
	b.Flush()
	expect(t, []*recordingConn{a1, a2}, "alert web01", "web01", "db01")
	expect(t, []*recordingConn{db}, "db01")
	eventually(t, "one batch", func() bool { return b.Batches() == 1 })

	// Framed builds once, whoever asks first, and hands everyone the same.
	batch := &Batch{}
	batch.add([]byte("a"))
	batch.add([]byte("bc"))
	calls := 0
	frame := func(dst, p []byte) []byte { calls++; return append(append(dst, '|'), p...) }
	x, y := batch.Framed(frame), batch.Framed(frame)
	if string(x) != "|a|bc" || &x[0] != &y[0] || calls != 2 || batch.Len() != 2 || batch.Size() != 3 {
		t.Fatalf("framed %q (shared %v), %d frame calls, len %d, size %d; want |a|bc built once", x, &x[0] == &y[0], calls, batch.Len(), batch.Size())
	}
}
