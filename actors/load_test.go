package actors

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load watch turns on at the first tick that finds ingest behind (a
// backlog, or the readers finding full batches), stays on until ingest
// has kept up for loadSettle, counts the time and logs both ends.
func TestLoadWatch(t *testing.T) {
	clk := newFakeClock(t0)
	st := NewStats()
	var logs lockedBuffer
	w := newLoadWatch(st, clk, slog.New(slog.NewTextHandler(&logs, nil)))
	w.start()
	defer w.stop()
	step := func(n int) {
		for range n {
			clk.Advance(loadTick)
		}
	}

	// A backlog under the bound, and reads that mostly find the socket
	// short of a batch: keeping up.
	st.Backlog.Store(ingestBehind)
	st.Reads.Add(100)
	st.FullBatches.Add(fullReadsBehind)
	step(4)
	if st.IngestBehind.Load() {
		t.Fatal("overloaded while keeping up")
	}

	// The backlog past the bound: on at the next tick.
	st.Backlog.Store(ingestBehind + 1)
	step(1)
	if !st.IngestBehind.Load() {
		t.Fatal("not overloaded with the backlog past the bound")
	}
	// Caught up: still on for the settle, then off.
	st.Backlog.Store(0)
	step(int(loadSettle/loadTick) - 1)
	if !st.IngestBehind.Load() {
		t.Fatal("off before ingest kept up for the settle")
	}
	step(1)
	if st.IngestBehind.Load() {
		t.Fatal("still overloaded after the settle")
	}
	if got := time.Duration(st.IngestBehindNanos.Load()); got != loadSettle {
		t.Errorf("time behind %s, want %s (the spell, its settle included)", got, loadSettle)
	}

	// The readers short of CPU: most reads find a whole batch.
	st.Reads.Add(2 * fullReadsBehind)
	st.FullBatches.Add(fullReadsBehind + 1)
	step(1)
	if !st.IngestBehind.Load() {
		t.Fatal("not overloaded with the readers finding full batches")
	}
	step(int(loadSettle / loadTick))
	if st.IngestBehind.Load() {
		t.Fatal("still overloaded after the settle")
	}
	// Where the sockets tell how long datagrams waited, that decides:
	// full reads with short waits are keeping up, a long wait is behind.
	st.NoteWait(waitBehind / 4)
	st.Reads.Add(2 * fullReadsBehind)
	st.FullBatches.Add(2 * fullReadsBehind)
	step(1)
	if st.IngestBehind.Load() || st.IngestBehindNow.Load() {
		t.Fatal("behind with full reads but short waits in the socket")
	}
	if got := time.Duration(st.IngestWait.Load()); got != waitBehind/4 {
		t.Errorf("IngestWait %s, want %s", got, waitBehind/4)
	}
	st.NoteWait(waitBehind + time.Millisecond)
	st.NoteWait(time.Millisecond) // the longest counts
	step(1)
	if !st.IngestBehind.Load() || !st.IngestBehindNow.Load() {
		t.Fatal("not behind after a datagram waited past waitBehind")
	}
	step(1)
	if !st.IngestBehind.Load() || st.IngestBehindNow.Load() {
		t.Fatalf("the next look: overloaded %v (want true: the settle), behind now %v (want false)", st.IngestBehind.Load(), st.IngestBehindNow.Load())
	}
	step(int(loadSettle / loadTick))
	if st.IngestBehind.Load() {
		t.Fatal("still overloaded after the settle")
	}
	out := logs.String()
	if n := strings.Count(out, "ingest is behind"); n != 1 {
		t.Errorf("the start logged %d times within a minute, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "ingest caught up"); n != 3 {
		t.Errorf("the end logged %d times, want 3:\n%s", n, out)
	}

	// After stop, nothing more is looked at.
	w.stop()
	st.Backlog.Store(ingestBehind + 1)
	step(2)
	if st.IngestBehind.Load() {
		t.Error("a stopped watch still looks")
	}
}

// While the daemon is behind the adaptive detector stands aside: the
// fixed rule's deadline applies, nothing turns SUSPECT, no reading is
// given and no gap is learnt; once it has caught up the detector is back
// with the window it had.
func TestDetectorStandsAsideWhileOverloaded(t *testing.T) {
	const interval = 2 * time.Second
	d := adaptiveDefaults
	l := (&Liveness{Default: d}).watching(new(atomic.Bool))
	h := newHostState("web01", true, interval, 3)
	h.setDetection(l.forHost("web01"))
	last, seq := warm(h, interval, 20, []time.Duration{0, 100 * time.Millisecond, -100 * time.Millisecond, 50 * time.Millisecond})
	h.drainEvents()
	c := h.conns[famIPv4]
	adaptiveNext := h.nextDeadline()
	if adaptiveNext.Sub(last) >= interval*2 {
		t.Fatalf("the detector's first deadline %s after the last heartbeat, want within 2 intervals", adaptiveNext.Sub(last))
	}

	l.Default.overloaded.Store(true)
	fixed := last.Add(3 * interval)
	if got := h.nextDeadline(); !got.Equal(fixed) {
		t.Fatalf("overloaded: next deadline %s after the last heartbeat, want the fixed rule's %s", got.Sub(last), fixed.Sub(last))
	}
	h.check(adaptiveNext)
	if h.state != StateUp || c.suspect {
		t.Fatalf("overloaded, at the detector's deadline: %s (suspect %v), want UP", h.state, c.suspect)
	}
	if _, ok := h.suspicion(c, adaptiveNext); ok {
		t.Error("a reading while the detector stands aside")
	}
	n := c.win.Len()
	h.heartbeat(last.Add(interval+700*time.Millisecond), v4, interval, seq+1, 0)
	if c.win.Len() != n {
		t.Errorf("a gap learnt while overloaded: window %d, want %d", c.win.Len(), n)
	}

	l.Default.overloaded.Store(false)
	if got := h.nextDeadline(); !got.Before(h.lastSeen.Add(2 * interval)) {
		t.Errorf("caught up: next deadline %s after the last heartbeat, want the detector's again", got.Sub(h.lastSeen))
	}
	h.heartbeat(h.lastSeen.Add(interval), v4, interval, seq+2, 0)
	if c.win.Len() != n+1 {
		t.Errorf("caught up: window %d, want %d", c.win.Len(), n+1)
	}
}

// The daemon's hosts read the load watch's verdict: a started System's
// detections stand aside on Stats.IngestBehind.
func TestSystemDetectionsFollowTheLoadWatch(t *testing.T) {
	d := adaptiveDefaults
	s := startPersist(t, newFakeClock(t0), persistOpts{dir: t.TempDir(),
		liveness: &Liveness{Default: d, Hosts: []HostDetection{{Match: "db*", Detection: d}}}})
	for _, host := range []string{"web01", "db01"} {
		if got := s.env.liveness.forHost(host).overloaded; got != &s.Stats.IngestBehind {
			t.Errorf("%s's detection reads %p, want Stats.IngestBehind (%p)", host, got, &s.Stats.IngestBehind)
		}
	}
}
