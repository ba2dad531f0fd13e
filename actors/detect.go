package actors

import (
	"path"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hbd-project/hbd/internal/phi"
)

// Detection is how one host's silent connections are detected: the fixed
// rule (DOWN after DownAfter missed intervals) and, when Adaptive, a phi
// accrual detector per connection (internal/phi) that makes a connection
// SUSPECT at SuspectPhi and DOWN at DownPhi once AcceptablePause has
// passed, never later than the fixed rule. Immutable once built: every
// host it applies to shares it.
type Detection struct {
	Adaptive   bool
	DownAfter  int     // missed intervals: the fixed rule and the adaptive ceiling; 0 = Config.DownAfter
	SuspectPhi float64 // φ at which a connection is SUSPECT
	DownPhi    float64 // φ, with AcceptablePause added to the mean, at which it is DOWN
	Window     int     // inter-arrival times used, 2..phi.Size
	MinSamples int     // fewer: the fixed rule alone
	// MinStd and AcceptablePause are in heartbeat intervals, so one
	// setting fits hosts with any interval.
	MinStd, AcceptablePause float64

	// overloaded, when set, is the daemon's load watch (load.go): while
	// it is true the detector stands aside (the fixed rule applies) and
	// learns nothing. Nil: never (tests that build a host by hand).
	overloaded *atomic.Bool
}

// HostDetection is a Detection for the hosts whose name matches Match
// (path.Match syntax).
type HostDetection struct {
	Match string
	Detection
}

// Liveness is the daemon's detection settings: Default, or the first of
// Hosts whose glob matches the host's name.
type Liveness struct {
	Default Detection
	Hosts   []HostDetection
}

// forHost returns the settings that apply to host: a pointer into l,
// shared by every host it applies to; nil for a nil l (the fixed rule).
func (l *Liveness) forHost(host string) *Detection {
	if l == nil {
		return nil
	}
	for i := range l.Hosts {
		if ok, _ := path.Match(l.Hosts[i].Match, host); ok {
			return &l.Hosts[i].Detection
		}
	}
	return &l.Default
}

// withDefaults is a copy of l with the DownAfter fields left 0 set to the
// daemon's down_after; nil for nil.
func (l *Liveness) withDefaults(downAfter int) *Liveness {
	if l == nil {
		return nil
	}
	c := &Liveness{Default: l.Default, Hosts: slices.Clone(l.Hosts)}
	if c.Default.DownAfter <= 0 {
		c.Default.DownAfter = downAfter
	}
	for i := range c.Hosts {
		if c.Hosts[i].DownAfter <= 0 {
			c.Hosts[i].DownAfter = downAfter
		}
	}
	return c
}

// watching is a copy of l whose detections stand aside while overloaded
// is true (see loadWatch); nil for nil.
func (l *Liveness) watching(overloaded *atomic.Bool) *Liveness {
	if l == nil {
		return nil
	}
	c := &Liveness{Default: l.Default, Hosts: slices.Clone(l.Hosts)}
	c.Default.overloaded = overloaded
	for i := range c.Hosts {
		c.Hosts[i].overloaded = overloaded
	}
	return c
}

// adaptive reports whether the host's connections use the phi detector.
func (h *hostState) adaptive() bool { return h.det != nil && h.det.Adaptive }

// standingAside reports whether the adaptive detector is off for now
// because the daemon is behind on ingest (loadWatch).
func (h *hostState) standingAside() bool {
	return h.det != nil && h.det.overloaded != nil && h.det.overloaded.Load()
}

// setDetection applies d (nil: the fixed rule with the hostEnv's
// down_after, already in h.downAfter) to the host.
func (h *hostState) setDetection(d *Detection) {
	h.det = d
	if d != nil && d.DownAfter > 0 {
		h.downAfter = uint16(d.DownAfter)
	}
}

// intervals scales a setting in heartbeat intervals to a duration.
func (h *hostState) intervals(x float64) time.Duration {
	return time.Duration(x * float64(h.interval))
}

// model is connection c's inter-arrival distribution, or false while the
// fixed rule alone applies (fixed detection, too little history, or the
// daemon behind on ingest).
func (h *hostState) model(c *conn) (phi.Model, bool) {
	if !h.adaptive() || c.win == nil || h.standingAside() {
		return phi.Model{}, false
	}
	return c.win.Model(phi.Params{Window: h.det.Window, MinSamples: h.det.MinSamples,
		MinStd: h.intervals(h.det.MinStd), AcceptablePause: h.intervals(h.det.AcceptablePause)}, h.interval)
}

// learn records the time since c's previous heartbeat in its window: only
// for a newer heartbeat (advanced: not a copy via another daemon address,
// not the first after the agent restarted) of a connection that was up,
// and not after a silence longer than the fixed rule allows, which is an
// outage (or the daemon's restart), not a sample of the host's timing;
// nor while the daemon is behind on ingest, when the gap is its own delay.
// The window is allocated with the first sample, so a fixed-rule host, or
// one that sent a single heartbeat, does not pay for it.
func (h *hostState) learn(c *conn, gap time.Duration, wasUp, advanced bool) {
	if !h.adaptive() || !wasUp || !advanced || gap <= 0 || gap > time.Duration(h.downAfter)*h.interval || h.standingAside() {
		return
	}
	if c.win == nil {
		c.win = new(phi.Window)
	}
	c.win.Add(gap, h.interval, h.det.Window)
}

// downAt is when connection c turns DOWN if nothing arrives: the fixed
// rule's deadline, or earlier where the detector's DOWN threshold is.
func (h *hostState) downAt(c *conn) time.Time {
	_, down := h.deadlines(c)
	return down
}

// lastDownAt is when the last of the host's connections still up turns
// DOWN if nothing arrives; zero when none is up.
func (h *hostState) lastDownAt() time.Time {
	var t time.Time
	for _, c := range h.conns {
		if c != nil && c.up {
			if d := h.downAt(c); d.After(t) {
				t = d
			}
		}
	}
	return t
}

// deadlines are when connection c turns SUSPECT (the zero time if it
// cannot: already SUSPECT, no model, or DOWN comes first) and DOWN if
// nothing arrives, from one reading of the window.
func (h *hostState) deadlines(c *conn) (suspect, down time.Time) {
	down = h.deadline(c)
	m, ok := h.model(c)
	if !ok {
		return time.Time{}, down
	}
	if t := c.lastSeen.Add(m.Shift(h.intervals(h.det.AcceptablePause)).Crossing(h.det.DownPhi)); t.Before(down) {
		down = t
	}
	if c.suspect {
		return time.Time{}, down
	}
	if t := c.lastSeen.Add(m.Crossing(h.det.SuspectPhi)); t.Before(down) {
		suspect = t
	}
	return suspect, down
}

// suspicion is c's φ at now, and false when there is no reading (fixed
// detection, too little history, or the connection is down).
func (h *hostState) suspicion(c *conn, now time.Time) (float64, bool) {
	if !c.up {
		return 0, false
	}
	m, ok := h.model(c)
	if !ok {
		return 0, false
	}
	return m.Phi(now.Sub(c.lastSeen)), true
}

// downPhi is the φ of the DOWN rule at now (acceptable pause included).
func (h *hostState) downPhi(c *conn, now time.Time) (float64, bool) {
	m, ok := h.model(c)
	if !ok {
		return 0, false
	}
	return m.Shift(h.intervals(h.det.AcceptablePause)).Phi(now.Sub(c.lastSeen)), true
}
