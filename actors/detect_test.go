package actors

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/clusterwire"
)

// adaptiveDefaults are the daemon's defaults ([liveness] in config).
var adaptiveDefaults = Detection{Adaptive: true, DownAfter: 3, SuspectPhi: 5, DownPhi: 8, Window: 32, MinSamples: 8, MinStd: 0.1, AcceptablePause: 1}

// warm sends n heartbeats on v4 every interval ±jitter (a fixed
// pattern), from t0, and returns the time of the last one and its seq.
func warm(h *hostState, interval time.Duration, n int, jitter []time.Duration) (time.Time, uint32) {
	at := t0
	for i := range n {
		if i > 0 {
			at = at.Add(interval + jitter[i%len(jitter)])
		}
		h.heartbeat(at, v4, interval, uint32(i+1), 0)
	}
	return at, uint32(n)
}

// TestHostStateAdaptive: a clean host that stops is SUSPECT within two
// intervals and DOWN well before the fixed rule's three, with the
// deadlines the actor's timer would fire at (nextDeadline) and no polling.
func TestHostStateAdaptive(t *testing.T) {
	const interval = 2 * time.Second
	d := adaptiveDefaults
	h := newHostState("web01", true, interval, 3)
	h.setDetection(&d)
	last, _ := warm(h, interval, 20, []time.Duration{0, 100 * time.Millisecond, -100 * time.Millisecond, 50 * time.Millisecond})
	h.drainEvents()
	if h.state != StateUp {
		t.Fatalf("%s, want UP", h.state)
	}
	sus := h.nextDeadline()
	if e := sus.Sub(last); e < interval || e > 2*interval {
		t.Fatalf("first deadline %s after the last heartbeat, want SUSPECT between 1 and 2 intervals", e)
	}
	h.check(sus.Add(-time.Nanosecond))
	if h.state != StateUp {
		t.Fatalf("just before the SUSPECT deadline: %s", h.state)
	}
	h.check(sus)
	if h.state != StateSuspect {
		t.Fatalf("at the SUSPECT deadline: %s, want SUSPECT", h.state)
	}
	if p, ok := h.suspicion(h.conns[famIPv4], sus); !ok || p < 3 {
		t.Fatalf("suspicion at the SUSPECT deadline %.2f (%v), want >= 3", p, ok)
	}
	// The summary (the API's host object, the stream's frame, the fleet
	// exposition) carries the state and the reading.
	sc := h.summaryAt(sus).Conns[0]
	if p, ok := sc.Suspicion.Phi(); sc.State() != "SUSPECT" || !ok || p < 3 {
		t.Fatalf("summary: connection %s, suspicion %.2f (%v); want SUSPECT, >= 3", sc.State(), p, ok)
	}
	if _, ok := h.summary().Conns[0].Suspicion.Phi(); ok {
		t.Fatal("a summary without a time has a reading")
	}
	down := h.nextDeadline()
	if e := down.Sub(last); e <= sus.Sub(last) || e >= 3*interval {
		t.Fatalf("DOWN %s after the last heartbeat, want after SUSPECT and before the fixed rule's %s", e, 3*interval)
	}
	h.check(down)
	if h.state != StateDown {
		t.Fatalf("at the DOWN deadline: %s, want DOWN", h.state)
	}
	ev := strings.Join(eventMsgs(h.drainEvents()), "\n")
	for _, want := range []string{"state UP -> SUSPECT", "state SUSPECT -> DOWN", "suspect (no heartbeat for", ">= suspect_phi 5)", ">= down_phi 8 after a pause of 2s"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
	// The silence was an outage: it is not learnt as an inter-arrival time.
	n := h.conns[famIPv4].win.Len()
	h.heartbeat(down.Add(time.Minute), v4, interval, 100, 0)
	if h.conns[famIPv4].win.Len() != n {
		t.Fatal("the gap of an outage was recorded as a sample")
	}
}

// TestHostStateSuspectRecovers: a late heartbeat ends SUSPECT, with an
// event, and the host is UP again; a suspect connection beside a down one
// is DEGRADED, not SUSPECT.
func TestHostStateSuspectRecovers(t *testing.T) {
	const interval = time.Second
	d := adaptiveDefaults
	h := newHostState("web01", true, interval, 3)
	h.setDetection(&d)
	last, seq := warm(h, interval, 10, []time.Duration{0})
	h.check(h.nextDeadline())
	if h.state != StateSuspect {
		t.Fatalf("%s, want SUSPECT", h.state)
	}
	h.heartbeat(last.Add(1500*time.Millisecond), v4, interval, seq+1, 0)
	if h.state != StateUp {
		t.Fatalf("after the late heartbeat: %s, want UP", h.state)
	}
	if ev := strings.Join(eventMsgs(h.drainEvents()), "\n"); strings.Contains(ev, "no longer suspect") || !strings.Contains(ev, "state SUSPECT -> UP") {
		t.Fatalf("events:\n%s", ev)
	}

	// An IPv6 connection that is down, and IPv4 suspect: DEGRADED.
	h.heartbeat(last.Add(1500*time.Millisecond), v6, interval, 1, 0)
	h.check(last.Add(1500*time.Millisecond + 3*interval))
	if h.state != StateDown {
		t.Fatalf("%s", h.state)
	}
	at := last.Add(10 * time.Second)
	for i := range 12 {
		h.heartbeat(at.Add(time.Duration(i)*interval), v4, interval, seq+uint32(10+i), 0)
	}
	h.heartbeat(at.Add(11*interval), v6, interval, 2, 0)
	h.check(at.Add(11*interval + 3*interval)) // v6 down (fixed rule: one heartbeat), v4 down too
	h.heartbeat(at.Add(20*interval), v4, interval, seq+40, 0)
	if h.state != StateDegraded {
		t.Fatalf("v4 up, v6 down: %s, want DEGRADED", h.state)
	}
}

// TestHostStateAdaptiveCeiling: whatever the detector learnt, a
// connection is DOWN by down_after intervals: a host whose heartbeats
// are erratic (a wide window) gets no more than the fixed rule, and a
// connection with too little history is on the fixed rule alone.
func TestHostStateAdaptiveCeiling(t *testing.T) {
	const interval = time.Second
	d := adaptiveDefaults
	d.MinSamples = 8
	h := newHostState("lossy", true, interval, 3)
	h.setDetection(&d)
	// 5 heartbeats: 4 samples, fewer than min_samples.
	last, _ := warm(h, interval, 5, []time.Duration{0})
	if got, want := h.nextDeadline(), last.Add(3*interval); !got.Equal(want) {
		t.Fatalf("deadline with 4 samples %s, want the fixed rule's %s", got, want)
	}
	if _, ok := h.suspicion(h.conns[famIPv4], last); ok {
		t.Fatal("a suspicion reading with fewer than min_samples samples")
	}

	h = newHostState("lossy", true, interval, 3)
	h.setDetection(&d)
	// Gaps of 1 s and 2.9 s (lost heartbeats, jitter): a wide distribution.
	last, _ = warm(h, interval, 30, []time.Duration{0, 1900 * time.Millisecond})
	m, _ := h.model(h.conns[famIPv4])
	if c := last.Add(m.Shift(interval).Crossing(8)); !c.After(last.Add(3 * interval)) {
		t.Fatalf("the detector's DOWN %s is not past the ceiling; pick wider gaps", c.Sub(last))
	}
	if got, want := h.downAt(h.conns[famIPv4]), last.Add(3*interval); !got.Equal(want) {
		t.Fatalf("DOWN at %s after the last heartbeat, want the ceiling of 3 intervals", got.Sub(last))
	}
	h.check(last.Add(3 * interval))
	if h.state != StateDown {
		t.Fatalf("at the ceiling: %s, want DOWN", h.state)
	}
	ev := strings.Join(eventMsgs(h.drainEvents()), "\n")
	if !strings.Contains(ev, "down (no heartbeat for 3s)") {
		t.Fatalf("the ceiling's DOWN should read like the fixed rule's:\n%s", ev)
	}

	// Per-host down_after (a [[liveness.hosts]] override) moves the ceiling.
	d6 := d
	d6.DownAfter = 6
	h = newHostState("branch", true, interval, 3)
	h.setDetection(&d6)
	if h.downAfter != 6 {
		t.Fatalf("down_after %d, want the override's 6", h.downAfter)
	}
}

// TestHostStateFixedHasNoSuspicion: the fixed rule learns nothing and
// allocates no window.
func TestHostStateFixedHasNoSuspicion(t *testing.T) {
	d := adaptiveDefaults
	d.Adaptive = false
	h := newHostState("web01", true, time.Second, 3)
	h.setDetection(&d)
	last, _ := warm(h, time.Second, 20, []time.Duration{0})
	if h.conns[famIPv4].win != nil {
		t.Fatal("a window was allocated on the fixed rule")
	}
	if got, want := h.nextDeadline(), last.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("deadline %s, want %s", got, want)
	}
}

func TestLivenessForHost(t *testing.T) {
	l := (&Liveness{Default: adaptiveDefaults, Hosts: []HostDetection{{Match: "branch-*", Detection: Detection{Adaptive: true, DownPhi: 9}}}}).withDefaults(5)
	if d := l.forHost("branch-1"); d.DownPhi != 9 || d.DownAfter != 5 {
		t.Fatalf("branch-1: %+v", d)
	}
	if d := l.forHost("web1"); d != &l.Default {
		t.Fatalf("web1: %+v, want the default", d)
	}
	var none *Liveness
	if none.forHost("x") != nil || none.withDefaults(3) != nil {
		t.Fatal("a nil Liveness is the fixed rule")
	}
}

// TestHeartbeatAdaptiveDoesNotAllocate: once a connection's window
// exists, learning from a heartbeat allocates nothing.
func TestHeartbeatAdaptiveDoesNotAllocate(t *testing.T) {
	d := adaptiveDefaults
	h := newHostState("web01", true, 10*time.Second, 3)
	h.setDetection(&d)
	now, seq := t0, uint32(1)
	h.heartbeat(now, v4, 10*time.Second, seq, 0)
	n := testing.AllocsPerRun(1000, func() {
		now = now.Add(10 * time.Second)
		seq++
		h.heartbeat(now, v4, 10*time.Second, seq, 0)
		h.drainEvents()
	})
	if n != 0 {
		t.Fatalf("a heartbeat allocates %v times", n)
	}
}

// BenchmarkHostStateHeartbeatAdaptive is BenchmarkHostStateHeartbeatRTT
// with the adaptive detector: learning the gap, and the deadlines the
// actor arms its timer with (nextDeadline, run after every heartbeat).
func BenchmarkHostStateHeartbeatAdaptive(b *testing.B) {
	d := adaptiveDefaults
	benchHeartbeat(b, &d)
}

// BenchmarkHostStateHeartbeatFixed is the same on the fixed rule, for the
// difference.
func BenchmarkHostStateHeartbeatFixed(b *testing.B) { benchHeartbeat(b, nil) }

// benchHeartbeat times a heartbeat and the deadlines after it, with the
// detection det (nil: the fixed rule).
func benchHeartbeat(b *testing.B, det *Detection) {
	h := newHostState("web01", true, 10*time.Second, 3)
	if det != nil {
		h.setDetection(det)
	}
	now := t0
	b.ReportAllocs()
	for i := range b.N {
		now = now.Add(10*time.Second + time.Duration(i%7)*time.Millisecond)
		h.heartbeat(now, v4, 10*time.Second, uint32(i+1), time.Duration(800+i%500)*time.Microsecond)
		h.nextDeadline()
		h.events = h.events[:0]
	}
}

// The host object of GET /api/0/hosts/{h} (the fleet summary's JSONAt)
// reads φ at the request; the summary's cached object, which the lists
// and the stream share, at the host's last heartbeat, when it is lowest.
func TestJSONAtReadsSuspicionNow(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), liveness: &Liveness{Default: adaptiveDefaults}})
	a := newTestAgent(t, s, clock, "h")
	for range 12 {
		a.beat()
		clock.Advance(10 * time.Second)
	}
	a.beat()
	clock.Advance(12 * time.Second) // late, not yet SUSPECT
	settle(s)
	phiOf := func(b []byte) float64 {
		t.Helper()
		var h struct {
			Connections []struct {
				State     string   `json:"state"`
				Suspicion *float64 `json:"suspicion"`
			} `json:"connections"`
		}
		if err := json.Unmarshal(b, &h); err != nil || len(h.Connections) != 1 || h.Connections[0].Suspicion == nil {
			t.Fatalf("host object %s: no suspicion reading (%v)", b, err)
		}
		if st := h.Connections[0].State; st != "UP" {
			t.Fatalf("connection %s 12 s after its last heartbeat, want UP", st)
		}
		return *h.Connections[0].Suspicion
	}
	sum := s.Fleet.Snapshot().Find("h")
	if sum == nil {
		t.Fatal("h is not in the fleet snapshot")
	}
	now, listed := phiOf(sum.JSONAt(s.Now())), phiOf(sum.JSON())
	if listed > 0.5 || now <= listed+0.5 {
		t.Errorf("suspicion now %.2f, in the fleet's summary %.2f: want the summary's near 0 (at the heartbeat) and now's above it", now, listed)
	}
	// At the summary's own time (the last heartbeat) it reads what the
	// summary published, from the model it kept.
	if at := phiOf(sum.JSONAt(sum.LastSeen)); at != listed {
		t.Errorf("suspicion at the last heartbeat %.2f, published %.2f", at, listed)
	}
	// Another cluster member's copy (through the fleet exchange's wire
	// format) reads the same, then and now.
	fh := fleetHost(sum)
	_, body, err := clusterwire.ParseHeader(clusterwire.AppendFleet(nil, &clusterwire.Fleet{Origin: "a:1", Hosts: []clusterwire.FleetHost{fh}}))
	if err != nil {
		t.Fatal(err)
	}
	f, err := clusterwire.DecodeFleet(body)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := remoteSummary(&f.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := phiOf(remote.JSON()); r != listed {
		t.Errorf("another member's copy: suspicion %.2f, published %.2f", r, listed)
	}
	if r := phiOf(remote.JSONAt(s.Now())); r != now {
		t.Errorf("another member's copy now: suspicion %.2f, the owner's %.2f", r, now)
	}
}

// TestJSONAtWithoutModel: a summary with no detector model (the fixed
// rule, or another cluster member's host) answers its cached object.
func TestJSONAtWithoutModel(t *testing.T) {
	h := newHostState("web01", true, 10*time.Second, 3)
	last, _ := warm(h, 10*time.Second, 20, []time.Duration{0})
	s := h.summaryAt(last)
	if a, b := s.JSONAt(last.Add(25*time.Second)), s.JSON(); &a[0] != &b[0] {
		t.Errorf("JSONAt of a fixed-rule host encoded %s anew, want JSON's bytes", a)
	}
}

// BenchmarkHostJSONAt is GET /api/0/hosts/{h}'s encoding for a host with
// two adaptive connections: JSONAt, which encodes the object with φ read
// now, against the cached object (JSON) that a fixed-rule host answers.
func BenchmarkHostJSONAt(b *testing.B) {
	const interval = 10 * time.Second
	d := adaptiveDefaults
	h := newHostState("web01.example.com", true, interval, 3)
	h.setDetection(&d)
	at := t0
	for i := range 20 {
		at = at.Add(interval + time.Duration(i%3)*50*time.Millisecond)
		h.heartbeat(at, v4, interval, uint32(i+1), 800*time.Microsecond)
		h.heartbeat(at, v6, interval, uint32(i+1), 900*time.Microsecond)
	}
	s := h.summaryAt(at)
	if s.models[0] == (connModel{}) || s.models[1] == (connModel{}) {
		b.Fatal("a connection without a model")
	}
	now := at.Add(4 * time.Second)
	b.Run("JSONAt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.JSONAt(now)
		}
	})
	b.Run("JSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.JSON()
		}
	})
}
