package actors

import "math/bits"

// lossWindowSize is how many of the most recent heartbeat sequence numbers a
// connection's loss figure covers.
const lossWindowSize = 128

// lossWindow measures heartbeat loss on one connection from gaps in the
// agent's per-destination heartbeat counter (conn_seq). It remembers which of
// the last 128 expected heartbeats arrived, so late (reordered) heartbeats are
// not counted as lost, and the figure is over a fixed recent window rather
// than a decayed average the operator cannot interpret.
//
// It is 24 bytes, in every connection of every host: whether it has
// started is span > 0 rather than a flag of its own, which would round
// it up to 32.
type lossWindow struct {
	seen [2]uint64 // bit i set: heartbeat top-i arrived
	top  uint32    // highest conn_seq seen
	span uint32    // how many sequence numbers the window covers (≤ 128); 0: none seen yet
}

// started reports whether a heartbeat has been seen.
func (w *lossWindow) started() bool { return w.span > 0 }

// observe records the arrival of heartbeat seq.
func (w *lossWindow) observe(seq uint32) {
	if !w.started() {
		*w = lossWindow{top: seq, seen: [2]uint64{1, 0}, span: 1}
		return
	}
	switch {
	case seq > w.top:
		d := seq - w.top
		w.shift(d)
		w.seen[0] |= 1
		w.top = seq
		w.span = min(lossWindowSize, w.span+d)
	case seq < w.top:
		d := w.top - seq
		if d >= lossWindowSize {
			// The counter went back further than the window: the agent
			// restarted without a boot reaching us. Start over.
			*w = lossWindow{top: seq, seen: [2]uint64{1, 0}, span: 1}
			return
		}
		w.seen[d/64] |= 1 << (d % 64)
	}
}

func (w *lossWindow) shift(d uint32) {
	switch {
	case d >= 128:
		w.seen = [2]uint64{}
	case d >= 64:
		w.seen[1] = w.seen[0] << (d - 64)
		w.seen[0] = 0
	default:
		w.seen[1] = w.seen[1]<<d | w.seen[0]>>(64-d)
		w.seen[0] <<= d
	}
}

// lossPct returns the percentage of heartbeats missing in the window.
func (w *lossWindow) lossPct() float64 {
	if w.span == 0 {
		return 0
	}
	var got int
	if w.span >= 64 {
		got = bits.OnesCount64(w.seen[0])
		rest := w.span - 64
		if rest == 64 {
			got += bits.OnesCount64(w.seen[1])
		} else {
			got += bits.OnesCount64(w.seen[1] & (1<<rest - 1))
		}
	} else {
		got = bits.OnesCount64(w.seen[0] & (1<<w.span - 1))
	}
	return float64(int(w.span)-got) * 100 / float64(w.span)
}
