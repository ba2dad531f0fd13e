package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// beatRTT sends a heartbeat with conn_seq connSeq reporting rtt, and
// waits until it is applied.
func (a *agent) beatRTT(connSeq uint32, rtt time.Duration) {
	a.t.Helper()
	before := a.s.Stats.AcceptedKind(wire.KindHeartbeat)
	a.send(wire.AppendHeartbeat(nil, wire.NewSigner(testKey), a.env(), wire.Heartbeat{IntervalMS: 10000, ConnSeq: connSeq, RTTMicros: uint32(rtt.Microseconds())}))
	eventually(a.t, "heartbeat accepted", func() bool { return a.s.Stats.AcceptedKind(wire.KindHeartbeat) > before })
	settle(a.s)
}

// The RTT windows are in the state files: a snapshot holds them whole,
// each delta the heartbeats added since the one before, and a daemon
// started from a copy of the files answers /rtt as the one that wrote
// them did at its last checkpoint.
func TestRTTWindowSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: dir})
	a := newTestAgent(t, s, clock, "h")
	a.instance = 1
	wrote := func() uint64 { return s.State.Snapshots.Load() + s.State.Deltas.Load() }
	step := func(connSeq uint32, rtt time.Duration) {
		t.Helper()
		a.beatRTT(connSeq, rtt)
		n := wrote()
		clock.Advance(10 * time.Second)
		eventually(t, "a checkpoint", func() bool { return wrote() > n })
	}
	for i := uint32(1); i <= 3; i++ {
		a.beatRTT(i, time.Duration(i)*time.Millisecond)
		clock.Advance(3 * time.Second)
	}
	step(4, 4*time.Millisecond) // the first checkpoint: a snapshot
	step(7, 7*time.Millisecond) // 5 and 6 lost
	step(6, 6*time.Millisecond) // 6 arrives late (fills its entry in memory; the next snapshot writes it)
	for i := uint32(8); i < 60; i++ {
		step(i, time.Duration(i)*time.Millisecond) // wraps the window
	}
	if s.State.Snapshots.Load() < 1 || s.State.Deltas.Load() < 10 {
		t.Fatalf("%d snapshots and %d deltas, want a snapshot and deltas after it", s.State.Snapshots.Load(), s.State.Deltas.Load())
	}
	want := answerer{t}.of(s.QueryRTT(context.Background(), "h"))
	if !strings.Contains(want, `"count":44`) || !strings.Contains(want, `"p50_ms":37.000`) {
		t.Fatalf("before the crash: %s", want)
	}
	a.beatRTT(60, time.Second) // after the last checkpoint: lost in the crash
	crashed := t.TempDir()
	copyDir(t, dir, crashed)

	s2 := startPersist(t, clock, persistOpts{dir: crashed})
	if got := (answerer{t}).of(s2.QueryRTT(context.Background(), "h")); got != want {
		t.Fatalf("after the crash:\n got %s\nwant %s", got, want)
	}

	// Heartbeats received at one instant (one 100 ms tick) and a gap,
	// across a snapshot and a delta.
	dir3 := t.TempDir()
	s3 := startPersist(t, clock, persistOpts{dir: dir3})
	b := newTestAgent(t, s3, clock, "g")
	b.instance = 2
	b.beatRTT(1, time.Millisecond)
	b.beatRTT(4, 4*time.Millisecond)
	n := s3.State.Snapshots.Load() + s3.State.Deltas.Load()
	clock.Advance(10 * time.Second)
	eventually(t, "g's snapshot", func() bool { return s3.State.Snapshots.Load()+s3.State.Deltas.Load() > n })
	b.beatRTT(5, 5*time.Millisecond)
	b.beatRTT(6, 6*time.Millisecond)
	n = s3.State.Snapshots.Load() + s3.State.Deltas.Load()
	clock.Advance(10 * time.Second)
	eventually(t, "g's delta", func() bool { return s3.State.Snapshots.Load()+s3.State.Deltas.Load() > n })
	want = answerer{t}.of(s3.QueryRTT(context.Background(), "g"))
	if !strings.Contains(want, `,1.000],[`) || !strings.Contains(want, `,null],[`) || !strings.Contains(want, `,6.000]]`) || !strings.Contains(want, `"count":4`) {
		t.Fatalf("g before the crash: %s", want)
	}
	crashed3 := t.TempDir()
	copyDir(t, dir3, crashed3)
	s4 := startPersist(t, clock, persistOpts{dir: crashed3})
	if got := (answerer{t}).of(s4.QueryRTT(context.Background(), "g")); got != want {
		t.Fatalf("g after the crash:\n got %s\nwant %s", got, want)
	}
}
