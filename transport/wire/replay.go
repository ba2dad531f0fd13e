package wire

import "time"

// ReplayWindowSize is how many sequence numbers below the highest one seen
// are still accepted (once each), to tolerate UDP reordering.
const ReplayWindowSize = 128

// ReplayWindow rejects duplicate and too-old sequence numbers with an
// IPsec-style sliding window (RFC 4303 §3.4.3) of ReplayWindowSize entries.
//
// The zero value is ready to use and accepts any first sequence number. It is
// not safe for concurrent use; each host's owner (its HostActor) keeps one.
type ReplayWindow struct {
	top  uint64    // highest sequence number accepted so far
	seen [2]uint64 // bit i of the 128-bit mask set = top-i accepted; bit 0 is top
	init bool      // whether top is meaningful
}

// Check reports whether seq is fresh, and if so records it. It returns false
// for a sequence number already accepted or ReplayWindowSize or more below
// the highest one accepted.
func (w *ReplayWindow) Check(seq uint64) bool {
	if !w.init {
		*w = ReplayWindow{top: seq, seen: [2]uint64{1, 0}, init: true}
		return true
	}
	if seq > w.top {
		w.shift(seq - w.top)
		w.top = seq
		w.seen[0] |= 1
		return true
	}
	d := w.top - seq
	if d >= ReplayWindowSize {
		return false
	}
	word, bit := d/64, uint64(1)<<(d%64)
	if w.seen[word]&bit != 0 {
		return false
	}
	w.seen[word] |= bit
	return true
}

// Highest returns the highest sequence number accepted, and false if none
// has been.
func (w *ReplayWindow) Highest() (uint64, bool) { return w.top, w.init }

// shift ages the 128-bit mask by n positions (n >= 1).
func (w *ReplayWindow) shift(n uint64) {
	lo, hi := w.seen[0], w.seen[1]
	switch {
	case n >= 128:
		lo, hi = 0, 0
	case n >= 64:
		hi, lo = lo<<(n-64), 0
	default:
		hi = hi<<n | lo>>(64-n)
		lo <<= n
	}
	w.seen[0], w.seen[1] = lo, hi
}

// ClockOK reports whether |msgTime - now| <= skew, both in unix nanoseconds.
// It is exact for any int64 inputs (no overflow) and false for a negative
// skew.
func ClockOK(msgTime, now int64, skew time.Duration) bool {
	if skew < 0 {
		return false
	}
	var d uint64
	// Subtracting in uint64 gives the true distance, which always fits.
	if msgTime >= now {
		d = uint64(msgTime) - uint64(now)
	} else {
		d = uint64(now) - uint64(msgTime)
	}
	return d <= uint64(skew)
}

// ReplayState is a ReplayWindow's complete state, for saving it across a
// daemon restart so that datagrams accepted before it stay replays after.
type ReplayState struct {
	Top  uint64
	Seen [2]uint64
	Init bool
}

// State returns the window's state.
func (w *ReplayWindow) State() ReplayState {
	return ReplayState{Top: w.top, Seen: w.seen, Init: w.init}
}

// RestoreReplayWindow rebuilds a window from its State.
func RestoreReplayWindow(s ReplayState) ReplayWindow {
	return ReplayWindow{top: s.Top, seen: s.Seen, init: s.Init}
}
