package wire

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// ReplayWindowSize is how many sequence numbers below the highest one seen
// are still accepted (once each), to tolerate UDP reordering.
const ReplayWindowSize = 128

// ReplayWindow rejects duplicate and too-old sequence numbers with an
// IPsec-style sliding window (RFC 4303 §3.4.3) of ReplayWindowSize entries.
// It knows one sequence space; a host's senders each have their own, kept
// together by a [ReplayGuard].
//
// The zero value is ready to use and accepts any first sequence number. It is
// not safe for concurrent use.
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

// MaxInstances is how many sender instances a [ReplayGuard] keeps a window
// for: a host's running agent and a few one-shot runs (hbd-agent -silence)
// at once. Past it, the instance least recently accepted is forgotten.
const MaxInstances = 4

// MaxSeqJump is the furthest a sender instance's sequence number may move
// ahead of the highest one accepted from it. A real sender would have to
// lose 2^32 datagrams in a row to jump further; one that does is refused
// (ReasonSeqJump) instead of moving the window so far that every later
// datagram of the instance looks like a replay.
const MaxSeqJump = 1 << 32

// MaxLegacyLead bounds how far a version-1 sequence number may run ahead of
// its own datagram's timestamp when it also jumps by more than MaxSeqJump.
// Version-1 agents start their sequence at their boot time in unix ns, so
// a restarted one legitimately jumps by its downtime in ns; it never runs
// ahead of its own clock by more than the datagrams it sent, unless the
// clock is stepped back by more than this (about 18 minutes) between the
// agent's start and a jump. A sequence number near 2^64 is refused, so it
// cannot shut version-1 senders out for good.
const MaxLegacyLead = 1 << 40

// ReplayGuard is one host's replay protection: a [ReplayWindow] per sender
// instance, for up to MaxInstances instances (the version-1 senders, which
// have no instance, count as instance 0), so that a one-shot agent run
// cannot move the window of the agent that keeps running.
//
// When an instance must be forgotten to make room, the guard remembers its
// newest accepted timestamp in a floor: a datagram from an instance it has
// no window for is accepted only if it is stamped after the floor. Every
// datagram the forgotten instance had accepted is stamped at or before it,
// so none can be replayed. A window opened for an instance keeps the floor
// of its opening, so datagrams of an earlier life of the same instance stay
// out too. A sender that is still running simply comes back with its next
// datagram, which is newer.
//
// The zero value is ready to use. Check allocates only when a second
// instance sends: a host almost always has one sender, and a daemon keeps
// a guard per host, so the other windows are made when needed (the guard
// is 88 bytes rather than 272). Not safe for concurrent use; each host's
// owner (its HostActor) keeps one.
type ReplayGuard struct {
	first instanceSlot
	more  *[MaxInstances - 1]instanceSlot // the other instances' slots; nil until a second sends
	tick  uint64                          // bumped on every accepted datagram; orders slots by recency
	floor int64                           // newest timestamp accepted from an instance since forgotten
}

// slot returns slot i (i < MaxInstances), or nil if it was never made.
func (g *ReplayGuard) slot(i int) *instanceSlot {
	if i == 0 {
		return &g.first
	}
	if g.more == nil {
		return nil
	}
	return &g.more[i-1]
}

// instanceSlot is one sender instance's window; used == 0 marks it free.
type instanceSlot struct {
	id    uint64
	win   ReplayWindow
	last  int64  // newest timestamp accepted
	floor int64  // datagrams stamped at or before it are refused
	used  uint64 // the guard's tick at the last accepted datagram
}

// Eviction reports whether a sender instance was forgotten to make room
// for another, and which.
type Eviction struct {
	Evicted  bool
	Instance uint64
	Last     int64 // its newest accepted timestamp, now part of the floor
}

// Check reports whether a datagram of sender instance id with sequence
// number seq and timestamp sent (unix ns) is fresh, and if so records it:
// ReasonNone, or ReasonReplay or ReasonSeqJump. Call it only for datagrams
// whose MAC verified, so that forgeries cannot move the windows. When
// accepting meant forgetting another instance, ev reports it.
func (g *ReplayGuard) Check(id, seq uint64, sent int64) (r Reason, ev Eviction) {
	s := g.find(id)
	if s == nil {
		if sent <= g.floor {
			return ReasonReplay, ev
		}
		s, ev = g.open(id)
		s.win.Check(seq)
	} else {
		if sent <= s.floor {
			return ReasonReplay, ev
		}
		if top, _ := s.win.Highest(); seq > top && seq-top > MaxSeqJump && !(id == 0 && legacyLeadOK(seq, sent)) {
			return ReasonSeqJump, ev
		}
		if !s.win.Check(seq) {
			return ReasonReplay, ev
		}
	}
	g.tick++
	s.used = g.tick
	s.last = max(s.last, sent)
	return ReasonNone, ev
}

// legacyLeadOK reports whether seq is at most MaxLegacyLead ahead of sent.
// Exact for every input: the sum is taken where it cannot overflow.
func legacyLeadOK(seq uint64, sent int64) bool {
	if sent >= 0 {
		return seq <= uint64(sent)+MaxLegacyLead // < 2^63 + 2^40: fits
	}
	if sent < -MaxLegacyLead {
		return false
	}
	return seq <= uint64(sent+MaxLegacyLead)
}

func (g *ReplayGuard) find(id uint64) *instanceSlot {
	for i := 0; i < MaxInstances; i++ {
		s := g.slot(i)
		if s == nil {
			break
		}
		if s.used != 0 && s.id == id {
			return s
		}
	}
	return nil
}

// open takes a free slot for instance id, or the least recently used one,
// whose newest timestamp then joins the floor. The new window keeps the
// floor from before: the evicted instance's datagrams are not this one's.
func (g *ReplayGuard) open(id uint64) (*instanceSlot, Eviction) {
	if g.first.used != 0 && g.more == nil {
		g.more = new([MaxInstances - 1]instanceSlot)
	}
	victim := &g.first
	for i := 0; i < MaxInstances; i++ {
		s := g.slot(i)
		if s == nil {
			break
		}
		if s.used == 0 {
			victim = s
			break
		}
		if s.used < victim.used {
			victim = s
		}
	}
	var ev Eviction
	floor := g.floor
	if victim.used != 0 {
		ev = Eviction{Evicted: true, Instance: victim.id, Last: victim.last}
		g.floor = max(g.floor, victim.last)
	}
	*victim = instanceSlot{id: id, floor: floor}
	return victim, ev
}

// Instances returns how many sender instances the guard has a window for.
func (g *ReplayGuard) Instances() int {
	n := 0
	for i := 0; i < MaxInstances; i++ {
		if s := g.slot(i); s != nil && s.used != 0 {
			n++
		}
	}
	return n
}

// InstanceState is one sender instance's part of a [GuardState].
type InstanceState struct {
	Instance uint64 // 0: the version-1 senders
	Window   ReplayState
	Last     int64 // newest timestamp accepted
	Floor    int64 // datagrams stamped at or before it are refused
}

// GuardState is a ReplayGuard's complete state, for saving it across a
// daemon restart.
type GuardState struct {
	Instances []InstanceState // most recently accepted first
	Floor     int64           // newest timestamp accepted from a forgotten instance
}

// State returns the guard's state.
func (g *ReplayGuard) State() GuardState {
	slots := make([]*instanceSlot, 0, MaxInstances)
	for i := 0; i < MaxInstances; i++ {
		if s := g.slot(i); s != nil && s.used != 0 {
			slots = append(slots, s)
		}
	}
	slices.SortFunc(slots, func(a, b *instanceSlot) int { return cmp.Compare(b.used, a.used) })
	st := GuardState{Floor: g.floor}
	for _, s := range slots {
		st.Instances = append(st.Instances, InstanceState{Instance: s.id, Window: s.win.State(), Last: s.last, Floor: s.floor})
	}
	return st
}

// RestoreReplayGuard rebuilds a guard from its State. Instances beyond
// MaxInstances (a state written with a larger limit), uninitialised
// windows and repeated instances are forgotten, as Check would: their
// newest timestamps join the floor.
func RestoreReplayGuard(st GuardState) ReplayGuard {
	g := ReplayGuard{floor: st.Floor, tick: MaxInstances}
	n := 0
	for _, is := range st.Instances {
		if n == MaxInstances || !is.Window.Init || g.find(is.Instance) != nil {
			g.floor = max(g.floor, is.Last)
			continue
		}
		// Most recent first: the first gets the highest tick.
		if n == 1 {
			g.more = new([MaxInstances - 1]instanceSlot)
		}
		*g.slot(n) = instanceSlot{id: is.Instance, win: RestoreReplayWindow(is.Window), last: is.Last, floor: is.Floor, used: uint64(MaxInstances - n)}
		n++
	}
	return g
}

// NewInstance returns a sender instance id for a process started at start:
// its start time in unix ns with the low 16 bits random. The time makes
// ids of one host's successive processes distinct and readable in logs;
// the random bits keep two processes started within the same 65 µs apart
// (they collide with probability 2^-16). Never 0, which means version 1.
func NewInstance(start time.Time) uint64 {
	id := uint64(start.UnixNano())&^0xffff | uint64(rand.Uint32()&0xffff)
	if id == 0 {
		id = 1
	}
	return id
}
