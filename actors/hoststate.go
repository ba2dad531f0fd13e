package actors

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/internal/phi"
	"github.com/hbd-project/hbd/internal/rttwin"
)

// HostState is a host's liveness as the API reports it.
type HostState uint8

// Host states. The zero value is UNKNOWN: declared in watchhosts, never heard from.
const (
	StateUnknown  HostState = iota
	StateUp                 // every connection is up
	StateDegraded           // some connections are down
	StateDown               // every connection is overdue
	StateStopped            // the agent announced a clean shutdown
	// StateSuspect: no connection is down, but the failure detector
	// suspects at least one (its heartbeats are later than this host's
	// own history makes likely). It does not page.
	StateSuspect
	// StateUnreachable: the host would be DOWN, but a host it depends on
	// (a parent) is DOWN too: the parent's page covers it.
	StateUnreachable
	numStates
)

// The values are persisted (internal/statefile): new states are appended.
var stateNames = [numStates]string{"UNKNOWN", "UP", "DEGRADED", "DOWN", "STOPPED", "SUSPECT", "UNREACHABLE"}

func (s HostState) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("HostState(%d)", uint8(s))
}

// AllStates lists every host state, for per-state counters.
func AllStates() []HostState {
	return []HostState{StateUnknown, StateUp, StateDegraded, StateDown, StateStopped, StateSuspect, StateUnreachable}
}

// family indexes a host's connections: one per address family.
type family uint8

const (
	famIPv4 family = iota
	famIPv6
	numFamilies
)

func (f family) String() string {
	if f == famIPv4 {
		return "ipv4"
	}
	return "ipv6"
}

func familyOf(a netip.AddrPort) family {
	if a.Addr().Unmap().Is4() {
		return famIPv4
	}
	return famIPv6
}

// conn is what the daemon knows of one address family's path from a host.
type conn struct {
	addr     netip.AddrPort
	lastSeen time.Time
	rtt      time.Duration // last round trip the agent reported
	srtt     time.Duration // smoothed: srtt = 7/8 srtt + 1/8 rtt
	loss     lossWindow
	// rtts are the RTTs of the last heartbeats, for quantiles and the
	// history of /rtt; nil until the first RTT, so a host that never
	// reports one (or only ever its first heartbeat) does not pay for it.
	rtts *rttwin.Window
	// win is the inter-arrival times of the last heartbeats, for the
	// adaptive detector (detect.go); nil until its first sample, and for
	// hosts on the fixed rule. The pointer moves conn from the 112-byte
	// size class to 128 (16 bytes per connection), the window itself is
	// 80 bytes once allocated: 96 bytes per connection in all.
	win     *phi.Window
	up      bool
	hasRTT  bool
	suspect bool // up, but the detector suspects it (SUSPECT)
}

// hostState is the liveness state machine of one host. It does no I/O and
// reads no clock: every method takes the time, so the rules are tested with
// plain values. Transitions are described in events, which the HostActor
// forwards to the journal. Owned by one HostActor; not safe for concurrent use.
type hostState struct {
	name string
	// det is how silent connections are detected (detect.go), shared by
	// the hosts it applies to; nil: the fixed rule alone.
	det      *Detection
	interval time.Duration // the agent's heartbeat interval, as it last told us
	conns    [numFamilies]*conn
	lastSeen time.Time

	agentVersion string
	lastBoot     time.Time // when the last boot event was recorded, to report each boot once

	// expectSince is when a declared host began to be expected (the
	// daemon's start, or its restore): one never heard from is overdue
	// down_after intervals later (overdue, below). Zero for dynamic hosts,
	// which exist only once they have reported.
	expectSince time.Time
	// stoppedAfter (0 = never) is how long a host may stay STOPPED before
	// its liveness alert warns; stoppedLong (below) is set once it has.
	stoppedAfter time.Duration
	unreported   time.Duration // the grace of a declared host; 0: down_after intervals

	// resumedAt is when the daemon restored this state after a restart:
	// a connection's deadline counts from it rather than from a last
	// heartbeat the daemon could not have seen the next of while it was
	// down. Zero for a host that was not restored.
	resumedAt time.Time

	events []stateEvent // transitions since the caller last drained them

	// The small fields, together so that they share a word.
	state     HostState
	ver       uint8
	dyn       bool // registered on first contact rather than declared in watchhosts
	stopped   bool
	flags     hostFlags
	downAfter uint16 // missed intervals before a connection is down (1..1000)
}

// hostFlags are yes/no facts of a host's state, packed in one byte so
// that the state (and the HostActor that holds it) keeps its size class.
type hostFlags uint8

const (
	flagOverdue     hostFlags = 1 << iota // declared, never heard from, and past its grace
	flagStoppedLong                       // STOPPED for longer than stopped_after
	// flagUnreachable: a parent of the host is DOWN (or UNREACHABLE), so
	// DOWN reads UNREACHABLE; set by the HostActor (deps.go).
	flagUnreachable
)

func (f hostFlags) has(x hostFlags) bool { return f&x != 0 }

func (f *hostFlags) set(x hostFlags, on bool) {
	if on {
		*f |= x
	} else {
		*f &^= x
	}
}

// stateEvent is one transition, with its journal kind.
type stateEvent struct {
	kind string // "state", "connection", "boot", "shutdown"
	msg  string
}

func newHostState(name string, dyn bool, interval time.Duration, downAfter int) *hostState {
	return &hostState{name: name, dyn: dyn, interval: interval, downAfter: uint16(downAfter)}
}

func (h *hostState) emit(kind, format string, args ...any) {
	h.events = append(h.events, stateEvent{kind: kind, msg: fmt.Sprintf(format, args...)})
}

// drainEvents returns the pending events and forgets them.
func (h *hostState) drainEvents() []stateEvent {
	ev := h.events
	h.events = nil
	return ev
}

// deadline is when connection c turns down if nothing arrives: down_after
// intervals after it was last seen, or after the daemon restored it.
func (h *hostState) deadline(c *conn) time.Time {
	t := c.lastSeen
	if h.resumedAt.After(t) {
		t = h.resumedAt
	}
	return t.Add(time.Duration(h.downAfter) * h.interval)
}

// contact records that a valid datagram arrived from addr at now.
func (h *hostState) contact(now time.Time, addr netip.AddrPort, interval time.Duration) *conn {
	if interval > 0 && interval != h.interval {
		h.interval = interval
		// Inter-arrival times at another interval say nothing of this one.
		for _, c := range h.conns {
			if c != nil && c.win != nil {
				c.win.Reset()
			}
		}
	}
	f := familyOf(addr)
	c := h.conns[f]
	switch {
	case c == nil:
		c = &conn{addr: addr}
		h.conns[f] = c
		if h.lastSeen.IsZero() {
			kind := "declared"
			if h.dyn {
				kind = "dynamic"
			}
			h.emit("connection", "first contact from %s (%s host)", addr, kind)
		} else {
			h.emit("connection", "%s connection from %s up", f, addr)
		}
	case c.addr != addr:
		h.emit("connection", "%s address changed from %s to %s", f, c.addr, addr)
		c.addr = addr
		if !c.up {
			h.emit("connection", "%s connection from %s up", f, addr)
		}
	case !c.up:
		h.emit("connection", "%s connection from %s up", f, addr)
	}
	// The end of SUSPECT is not journaled for the connection: the host's
	// "state SUSPECT -> UP" says it, and a lossy host goes in and out of
	// SUSPECT often enough that a fourth event per round would crowd the
	// journal.
	c.suspect = false
	c.up = true
	c.lastSeen = now
	h.lastSeen = now
	h.stopped = false
	h.flags.set(flagStoppedLong|flagOverdue, false)
	h.recompute()
	return c
}

// heartbeat applies a heartbeat: liveness, loss and the RTT the agent measured.
func (h *hostState) heartbeat(now time.Time, addr netip.AddrPort, interval time.Duration, connSeq uint32, rtt time.Duration) {
	var prev time.Time
	wasUp := false
	if c := h.conns[familyOf(addr)]; c != nil && (interval <= 0 || interval == h.interval) {
		prev, wasUp = c.lastSeen, c.up
	}
	c := h.contact(now, addr, interval)
	top, started := c.loss.top, c.loss.started()
	h.learn(c, now.Sub(prev), wasUp, started && connSeq > top)
	c.loss.observe(connSeq)
	c.noteRTT(now, rtt, connSeq, top, started)
	if rtt > 0 {
		c.rtt = rtt
		if !c.hasRTT {
			c.srtt = rtt
			c.hasRTT = true
		} else {
			c.srtt = (7*c.srtt + rtt) / 8
		}
	}
}

// noteRTT records a heartbeat with conn_seq seq in the connection's RTT
// window, given the loss window's top and started before it: a gap in
// conn_seq is recorded as missed heartbeats first, a late heartbeat fills
// the entry it was missing from.
func (c *conn) noteRTT(now time.Time, rtt time.Duration, seq, top uint32, started bool) {
	if c.rtts == nil {
		if rtt <= 0 {
			return
		}
		c.rtts = new(rttwin.Window)
	}
	switch {
	case started && seq == top:
		// The same heartbeat counted again, which loss ignores too.
	case started && seq < top && top-seq < lossWindowSize:
		c.rtts.Fill(int(top-seq), rtt)
	case started && seq > top:
		c.rtts.Add(now, rtt, int(min(seq-top-1, rttwin.Size)))
	default:
		c.rtts.Add(now, rtt, 0)
	}
}

// boot applies an agent's boot announcement. The agent sends one per
// destination address; the event is recorded once per boot.
func (h *hostState) boot(now time.Time, addr netip.AddrPort, interval time.Duration, agentVersion string) {
	c := h.contact(now, addr, interval)
	c.loss = lossWindow{} // the agent's counters start again
	if h.lastBoot.IsZero() || now.Sub(h.lastBoot) > h.interval {
		h.lastBoot = now
		h.emit("boot", "agent started (version %q, interval %s)", agentVersion, h.interval)
	}
	h.agentVersion = agentVersion
}

// shutdown applies a clean-shutdown announcement: the host is STOPPED, not
// DOWN, and its connections are no longer expected to send.
func (h *hostState) shutdown(now time.Time, addr netip.AddrPort, reason string) {
	h.lastSeen = now
	if c := h.conns[familyOf(addr)]; c != nil {
		c.lastSeen = now
	}
	if h.stopped {
		return
	}
	h.stopped = true
	h.flags.set(flagStoppedLong, false)
	if reason == "" {
		reason = "no reason given"
	}
	h.emit("shutdown", "agent stopped cleanly (%s)", reason)
	for _, c := range h.conns {
		if c != nil {
			c.up, c.suspect = false, false
		}
	}
	h.recompute()
}

// grace is how long a declared host may stay unheard from after the
// daemon starts expecting it.
func (h *hostState) grace() time.Duration {
	if h.unreported > 0 {
		return h.unreported
	}
	return time.Duration(h.downAfter) * h.interval
}

// check turns overdue connections down, marks a declared host that never
// reported within its grace, and one STOPPED for longer than stoppedAfter.
// Call it at nextDeadline().
func (h *hostState) check(now time.Time) {
	if h.neverHeard() && !h.flags.has(flagOverdue) && !now.Before(h.expectSince.Add(h.grace())) {
		h.flags.set(flagOverdue, true)
		h.emit("state", "declared host has not reported in the %s since the daemon started expecting it", now.Sub(h.expectSince).Round(time.Second))
	}
	if h.stopped && h.stoppedAfter > 0 && !h.flags.has(flagStoppedLong) && !now.Before(h.lastSeen.Add(h.stoppedAfter)) {
		h.flags.set(flagStoppedLong, true)
		h.emit("state", "STOPPED for %s (stopped_after %s)", now.Sub(h.lastSeen).Round(time.Second), h.stoppedAfter)
	}
	for f, c := range h.conns {
		if c == nil || !c.up {
			continue
		}
		sus, down := h.deadlines(c)
		if !now.Before(down) {
			c.up, c.suspect = false, false
			if p, ok := h.downPhi(c, now); ok && now.Before(h.deadline(c)) {
				h.emit("connection", "%s connection from %s down (no heartbeat for %s; phi %.2f >= down_phi %g after a pause of %s)",
					family(f), c.addr, now.Sub(c.lastSeen).Round(time.Millisecond), p, h.det.DownPhi, h.intervals(h.det.AcceptablePause).Round(time.Millisecond))
			} else {
				h.emit("connection", "%s connection from %s down (no heartbeat for %s)", family(f), c.addr, now.Sub(c.lastSeen).Round(time.Millisecond))
			}
			continue
		}
		if !sus.IsZero() && !now.Before(sus) {
			c.suspect = true
			p, _ := h.suspicion(c, now)
			h.emit("connection", "%s connection from %s suspect (no heartbeat for %s; phi %.2f >= suspect_phi %g)",
				family(f), c.addr, now.Sub(c.lastSeen).Round(time.Millisecond), p, h.det.SuspectPhi)
		}
	}
	h.recompute()
}

// neverHeard reports whether the host is declared and expected but has
// never sent anything.
func (h *hostState) neverHeard() bool {
	return !h.expectSince.IsZero() && !h.stopped && h.lastSeen.IsZero() && h.conns == [numFamilies]*conn{}
}

// nextDeadline is when something turns overdue if nothing arrives: the
// next up connection, a declared host's first report, or the end of a
// tolerated STOPPED time. The zero time if nothing is pending.
func (h *hostState) nextDeadline() time.Time {
	var next time.Time
	if h.neverHeard() && !h.flags.has(flagOverdue) {
		next = h.expectSince.Add(h.grace())
	}
	if h.stopped && h.stoppedAfter > 0 && !h.flags.has(flagStoppedLong) {
		if d := h.lastSeen.Add(h.stoppedAfter); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	for _, c := range h.conns {
		if c == nil || !c.up {
			continue
		}
		sus, down := h.deadlines(c)
		if next.IsZero() || down.Before(next) {
			next = down
		}
		if !sus.IsZero() && sus.Before(next) {
			next = sus
		}
	}
	return next
}

func (h *hostState) recompute() {
	s := h.derive()
	if s != h.state {
		h.emit("state", "state %s -> %s", h.state, s)
		h.state = s
	}
}

func (h *hostState) derive() HostState {
	if h.stopped {
		return StateStopped
	}
	var known, up, suspect int
	for _, c := range h.conns {
		if c == nil {
			continue
		}
		known++
		if c.up {
			up++
		}
		if c.suspect {
			suspect++
		}
	}
	switch {
	case known == 0:
		return StateUnknown
	case up == known && suspect > 0:
		// A suspect connection is up: it is SUSPECT only while no
		// connection is down (DEGRADED says more).
		return StateSuspect
	case up == known:
		return StateUp
	case up == 0 && h.flags.has(flagUnreachable):
		return StateUnreachable
	case up == 0:
		return StateDown
	default:
		return StateDegraded
	}
}
