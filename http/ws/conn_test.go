package ws

import (
	"testing"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// newTestClient is a client with a queue and no connection: enough to drive
// the queue as the actor and the writer do.
func newTestClient(maxFrames, maxBytes int) *client {
	return &client{maxFrames: maxFrames, maxBytes: maxBytes, snap: -1, wake: make(chan struct{}, 1)}
}

func TestClientQueueBounds(t *testing.T) {
	type push struct {
		snapshot  bool
		size      int
		allowance int
		accepted  bool
	}
	tests := []struct {
		name      string
		maxFrames int
		maxBytes  int
		pushes    []push
	}{
		{"frame bound", 3, 1 << 20, []push{{false, 1, 0, true}, {false, 1, 0, true}, {false, 1, 0, true}, {false, 1, 0, false}}},
		{"byte bound", 100, 10, []push{{false, 4, 0, true}, {false, 4, 0, true}, {false, 3, 0, false}, {false, 2, 0, true}}},
		{"snapshot bytes count", 100, 10, []push{{true, 8, 0, true}, {false, 2, 0, true}, {false, 1, 0, false}}},
		{"snapshot over the bound", 100, 10, []push{{true, 11, 0, false}}},
		{"allowance for one fleet snapshot", 100, 10, []push{{true, 50, 50, true}, {false, 10, 50, true}, {false, 1, 50, false}}},
		{"snapshot counts as a frame", 2, 100, []push{{true, 5, 0, true}, {false, 1, 0, true}, {false, 1, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(tt.maxFrames, tt.maxBytes)
			c.baseline = true
			for i, p := range tt.pushes {
				var got bool
				if p.snapshot {
					got = c.EnqueueSnapshot(&broadcast.Snapshot{Filter: &broadcast.Filter{}, Size: p.size}, p.allowance)
				} else {
					got = c.enqueue(make([]byte, p.size), itemFrame, p.allowance)
				}
				if got != p.accepted {
					t.Fatalf("push %d %+v = %v, want %v", i, p, got, p.accepted)
				}
			}
		})
	}
}

func TestClientQueueOrderAndReuse(t *testing.T) {
	c := newTestClient(4, 1<<20)
	next := 0
	// Keep the queue partly full for many rounds, so that the written
	// prefix is reused, and check FIFO order and the byte count throughout.
	for round := range 100 {
		for c.enqueue([]byte{byte(round), byte(next)}, itemFrame, 0) {
			next++
		}
		frames, bytes := c.pending()
		if frames != 4 || bytes != 8 {
			t.Fatalf("round %d: pending = %d frames %d bytes, want 4, 8", round, frames, bytes)
		}
		for range 3 {
			q, st, ok := c.next()
			if st != stateOpen || !ok || q.frame == nil {
				t.Fatalf("round %d: next = %v, %v, %v", round, q, st, ok)
			}
		}
		if cap(c.queue) > 8 {
			t.Fatalf("round %d: queue grew to capacity %d with at most 4 waiting", round, cap(c.queue))
		}
	}
	var last byte
	for i := 0; ; i++ {
		q, _, ok := c.next()
		if !ok {
			break
		}
		if i > 0 && q.frame[1] != last+1 {
			t.Fatalf("frame %d out of order: %d after %d", i, q.frame[1], last)
		}
		last = q.frame[1]
	}
	if frames, bytes := c.pending(); frames != 0 || bytes != 0 {
		t.Errorf("pending after draining = %d, %d", frames, bytes)
	}
	c.markDead()
	if !c.enqueue([]byte("x"), itemFrame, 0) || !c.EnqueueSnapshot(&broadcast.Snapshot{Size: 1}, 0) {
		t.Error("a dead client must accept and drop entries, not ask to be cut off again")
	}
	if q, st, ok := c.next(); ok || st != stateDead {
		t.Errorf("next on a dead client = %v, %v, %v", q, st, ok)
	}
}

// drain pops every entry and describes it: "s<size>" for a snapshot,
// "e:<text>" for an error frame, the text of an event frame.
func drain(t *testing.T, c *client) []string {
	t.Helper()
	var got []string
	for {
		q, _, ok := c.next()
		if !ok {
			return got
		}
		switch q.kind {
		case itemSnapshot:
			got = append(got, "s"+string(rune('0'+q.size)))
		case itemError:
			got = append(got, "e:"+string(q.frame))
		case itemFrame:
			got = append(got, string(q.frame))
		default:
			t.Fatalf("next returned an entry of kind %d", q.kind)
		}
	}
}

func TestClientSnapshotReplaced(t *testing.T) {
	snap := func(c *client, size int) {
		t.Helper()
		if !c.EnqueueSnapshot(&broadcast.Snapshot{Filter: &broadcast.Filter{}, Size: size}, 0) {
			t.Fatalf("snapshot of %d bytes refused", size)
		}
	}
	frame := func(c *client, s string, kind itemKind) {
		t.Helper()
		if !c.enqueue([]byte(s), kind, 0) {
			t.Fatalf("frame %q refused", s)
		}
	}
	check := func(c *client, entries, bytes int, want ...string) {
		t.Helper()
		if e, b := c.pending(); e != entries || b != bytes {
			t.Errorf("pending = %d entries, %d bytes; want %d, %d", e, b, entries, bytes)
		}
		got := drain(t, c)
		if len(got) != len(want) {
			t.Fatalf("queue = %q, want %q", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("queue = %q, want %q", got, want)
			}
		}
	}

	t.Run("before the first snapshot", func(t *testing.T) {
		// The client has seen nothing: the new snapshot comes first, the
		// events queued behind the old one go, answers to it stay.
		c := newTestClient(100, 100)
		snap(c, 5)
		frame(c, "a", itemFrame)
		frame(c, "bad", itemError)
		frame(c, "b", itemFrame)
		snap(c, 7)
		check(c, 2, 7+3, "s7", "e:bad")
		if !c.baseline {
			t.Error("baseline not set after the writer took a snapshot")
		}
	})
	t.Run("after the first snapshot", func(t *testing.T) {
		// The old snapshot leaves a hole, the new one goes last: the
		// events between are older than it and still delivered.
		c := newTestClient(100, 100)
		c.baseline = true
		frame(c, "a", itemFrame)
		snap(c, 5)
		frame(c, "b", itemFrame)
		snap(c, 6)
		check(c, 4, 1+1+6, "a", "b", "s6")
	})
	t.Run("last in the queue", func(t *testing.T) {
		c := newTestClient(100, 100)
		c.baseline = true
		frame(c, "a", itemFrame)
		for i := range 1000 {
			snap(c, 1+i%9)
		}
		check(c, 2, 1+1+999%9, "a", "s"+string(rune('0'+1+999%9)))
	})
	t.Run("a flood leaves one snapshot", func(t *testing.T) {
		// Snapshots and events interleaved, the writer taking some now and
		// then: at no time is more than one snapshot waiting, and the
		// queue's byte count is always what it holds.
		c := newTestClient(1<<20, 1<<20)
		snap(c, 9)
		for i := range 5000 {
			frame(c, "x", itemFrame)
			snap(c, 1+i%9)
			if i%7 == 0 {
				c.next()
			}
			if i%100 == 0 {
				c.mu.Lock()
				snaps, bytes := 0, 0
				for _, q := range c.queue[c.head:] {
					if q.kind == itemSnapshot {
						snaps++
					}
					bytes += q.size
				}
				entries := len(c.queue) - c.head
				c.mu.Unlock()
				if snaps > 1 || bytes != c.bytes {
					t.Fatalf("after %d: %d snapshots waiting, %d bytes counted for %d held (%d entries)", i, snaps, c.bytes, bytes, entries)
				}
			}
		}
		got := drain(t, c)
		if n := len(got); n == 0 || got[n-1][0] != 's' {
			t.Fatalf("the last entry is %q, want the last snapshot", got[n-1])
		}
		for _, g := range got[:len(got)-1] {
			if g != "x" {
				t.Fatalf("an entry other than the last is %q", g)
			}
		}
	})
}
