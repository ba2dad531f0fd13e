// Package rttwin keeps the round trips of a connection's recent heartbeats:
// a fixed window of the last [Size] heartbeats, each with the RTT its
// agent reported (or none: the heartbeat never arrived, or carried no
// measurement) and when it was received, from which the quantiles are read.
//
// A daemon keeps one per connection of every host, so the window is one
// flat value of 320 bytes (a Go size class) with no pointers: the RTTs in
// µs as uint32 kept in sorted order, a ring of one byte per heartbeat that
// points into them, and a ring of 16-bit receive-time steps. Keeping the
// values sorted as they arrive costs a binary search and a move of at most
// 176 bytes per heartbeat; it makes a quantile a lookup when it is read,
// with no sort, and nothing allocates after the window itself.
//
// Not safe for concurrent use: a window is owned by its host's actor.
package rttwin

import (
	"iter"
	"slices"
	"time"
)

// Size is how many heartbeats a window covers: as many as fit the 320-byte
// size class with their timestamps.
const Size = 44

// Tick is the resolution of the stored receive times. A step between two
// heartbeats is stored in 16 bits of ticks, so steps up to MaxStep fit;
// the agent's interval is at most an hour.
const Tick = 100 * time.Millisecond

// MaxStep is the longest time between two heartbeats the window spans:
// after a longer silence the older entries are forgotten, since their
// times could not be told.
const MaxStep = 65535 * Tick

// none marks a heartbeat without an RTT in the ring of ranks, which holds
// a place in sorted plus one: so the zero value is empty, and the loops
// that move places can run over the whole ring without telling used
// slots from free ones.
const none = 0

// Window is the last Size heartbeats of one connection. The zero value is
// empty and ready to use.
type Window struct {
	// last is the receive time of the newest entry, unix ms. Times are
	// kept on a grid of Ticks from the first entry's: each step is
	// rounded against the previous entry's stored time, never its exact
	// one, so rounding errors do not add up along the window.
	last   int64
	sorted [Size]uint32 // sorted[:nv]: the RTTs in the window (µs), ascending
	step   [Size]uint16 // ring: Ticks since the previous entry (the oldest's is unused)
	rank   [Size]uint8  // ring: the entry's place in sorted plus one, or none
	head   uint8        // ring index of the oldest entry
	n      uint8        // entries in the window
	nv     uint8        // entries with an RTT
	// fresh is how many entries were added since the caller last took
	// them (Take): a checkpoint's delta writes only those.
	fresh uint8
}

// Add records a heartbeat received at t with rtt (0: none), after missed
// heartbeats that never arrived: those are recorded without an RTT at
// times spread evenly between the previous entry and t. A t before the
// previous entry counts as the same time.
func (w *Window) Add(t time.Time, rtt time.Duration, missed int) {
	ms := t.UnixMilli()
	if w.n == 0 {
		w.last = ms
		w.push(0, micros(rtt))
		return
	}
	ticks := max(0, (ms-w.last+int64(Tick/time.Millisecond)/2)/int64(Tick/time.Millisecond))
	if ticks > int64(MaxStep/Tick) {
		*w = Window{last: ms, fresh: Size}
		w.push(0, micros(rtt))
		return
	}
	missed = min(missed, Size-1)
	var done int64
	for i := 1; i <= missed; i++ {
		at := ticks * int64(i) / int64(missed+1)
		w.push(uint16(at-done), 0)
		done = at
	}
	w.push(uint16(ticks-done), micros(rtt))
	w.last += ticks * int64(Tick/time.Millisecond)
}

// Fill sets the RTT of the entry back heartbeats before the newest (0:
// the newest), if it has none: a heartbeat that arrived late, after its
// successors, was first recorded as missed. It reports whether it did.
// The entry does not count as added (Take): a checkpoint's delta does not
// carry it, the next whole window does.
func (w *Window) Fill(back int, rtt time.Duration) bool {
	us := micros(rtt)
	if back < 0 || back >= int(w.n) || us == 0 {
		return false
	}
	i := w.index(int(w.n) - 1 - back)
	if w.rank[i] != none {
		return false
	}
	w.rank[i] = w.insert(us)
	return true
}

// micros is rtt in µs for the window: 0 for none, at least 1 otherwise,
// and at most what a uint32 holds.
func micros(rtt time.Duration) uint32 {
	switch {
	case rtt <= 0:
		return 0
	case rtt < time.Microsecond:
		return 1
	case rtt/time.Microsecond >= 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(rtt / time.Microsecond)
}

// index is the ring index of the i-th entry, oldest first.
func (w *Window) index(i int) int { return (int(w.head) + i) % Size }

// push appends an entry step Ticks after the previous one, evicting the
// oldest when full.
func (w *Window) push(step uint16, us uint32) {
	if w.n == Size {
		w.remove(w.rank[w.head])
		w.rank[w.head] = none
		w.head = uint8((int(w.head) + 1) % Size)
		w.n--
	}
	i := w.index(int(w.n))
	w.n++
	w.step[i] = step
	w.rank[i] = none
	if us != 0 {
		w.rank[i] = w.insert(us)
	}
	w.fresh = min(Size, w.fresh+1)
}

// insert puts us into sorted and returns its rank (place plus one),
// moving the ranks after it up.
func (w *Window) insert(us uint32) uint8 {
	pos := upperBound(w.sorted[:w.nv], us)
	copy(w.sorted[pos+1:w.nv+1], w.sorted[pos:w.nv])
	w.sorted[pos] = us
	w.nv++
	p := uint8(pos)
	for j, r := range w.rank {
		w.rank[j] = r + b2u(r > p) // r-1 >= pos: move up; branch-free, as the places are random
	}
	return uint8(pos + 1)
}

// remove takes the value of rank r out of sorted, moving the ranks after
// it down. r may be none.
func (w *Window) remove(r uint8) {
	if r == none {
		return
	}
	copy(w.sorted[r-1:w.nv-1], w.sorted[r:w.nv])
	w.nv--
	for j, x := range w.rank {
		w.rank[j] = x - b2u(x > r)
	}
}

// b2u is 1 for true, compiled to a flag move rather than a branch.
func b2u(b bool) uint8 {
	var u uint8
	if b {
		u = 1
	}
	return u
}

// upperBound is the first index of s (sorted) holding more than v.
func upperBound(s []uint32, v uint32) int {
	i, _ := slices.BinarySearchFunc(s, v, func(e, t uint32) int {
		if e <= t {
			return -1
		}
		return 1
	})
	return i
}

// Len is how many heartbeats the window holds; Count how many of them
// have an RTT.
func (w *Window) Len() int   { return int(w.n) }
func (w *Window) Count() int { return int(w.nv) }

// Quantile is the nearest-rank q-th percentile (0 < q ≤ 100) of the RTTs
// in the window, and false when it holds none: the smallest RTT that at
// least q % of them do not exceed. With Size entries p99 is the largest.
func (w *Window) Quantile(q int) (time.Duration, bool) {
	if w.nv == 0 || q <= 0 {
		return 0, false
	}
	rank := (min(q, 100)*int(w.nv) + 99) / 100 // ⌈q·n/100⌉, 1-based
	return time.Duration(w.sorted[rank-1]) * time.Microsecond, true
}

// Quantiles is p50, p95 and p99 in µs, 0 when the window holds no RTT:
// what a host entry shows.
func (w *Window) Quantiles() [3]uint32 {
	var out [3]uint32
	for i, q := range [3]int{50, 95, 99} {
		if d, ok := w.Quantile(q); ok {
			out[i] = uint32(d / time.Microsecond)
		}
	}
	return out
}

// Entry is one heartbeat of the window.
type Entry struct {
	UnixMilli int64  // when it was received (for a missed one, estimated)
	Micros    uint32 // its RTT; 0: none (missed, or no measurement)
}

// All yields the entries, oldest first.
func (w *Window) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		t := w.last
		for i := 1; i < int(w.n); i++ {
			t -= int64(w.step[w.index(i)]) * int64(Tick/time.Millisecond)
		}
		for i := range int(w.n) {
			j := w.index(i)
			if i > 0 {
				t += int64(w.step[j]) * int64(Tick/time.Millisecond)
			}
			e := Entry{UnixMilli: t}
			if r := w.rank[j]; r != none {
				e.Micros = w.sorted[r-1]
			}
			if !yield(e) {
				return
			}
		}
	}
}

// Take returns the entries added since the last call (all of them: every
// entry), oldest first, and forgets that they were: what a checkpoint
// writes, a delta or whole. whole is true when they are all the window
// holds (a reader replaces rather than appends).
func (w *Window) Take(all bool) (entries []Entry, whole bool) {
	k := int(w.fresh)
	if all {
		k = Size
	}
	w.fresh = 0
	if k == 0 || w.n == 0 {
		return nil, all
	}
	whole = k >= int(w.n)
	skip := max(0, int(w.n)-k)
	entries = make([]Entry, 0, int(w.n)-skip)
	i := 0
	for e := range w.All() {
		if i >= skip {
			entries = append(entries, e)
		}
		i++
	}
	return entries, whole
}

// Restore appends saved entries, oldest first, as Add would have: each
// at its time with no missed heartbeats before it.
func (w *Window) Restore(entries []Entry) {
	for _, e := range entries {
		w.Add(time.UnixMilli(e.UnixMilli), time.Duration(e.Micros)*time.Microsecond, 0)
	}
	w.fresh = 0
}
