package actors

import (
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// newInstance is a version-2 agent process of host name, started now.
func newInstance(t *testing.T, s *System, clock *fakeClock, name string) *agent {
	a := newTestAgent(t, s, clock, name)
	a.instance, a.seq = wire.NewInstance(clock.Now()), 0
	return a
}

// resend sends datagrams again, as an attacker replaying them would, and
// waits until the daemon has dropped every one as a replay.
func resend(t *testing.T, s *System, ds ...[]byte) {
	t.Helper()
	before := s.Stats.Dropped(wire.ReasonReplay)
	for _, d := range ds {
		sendUDP(t, s.UDPAddrs()[0], d)
	}
	eventually(t, "replays dropped", func() bool { return s.Stats.Dropped(wire.ReasonReplay) == before+uint64(len(ds)) })
}

// A one-shot run next to the running agent, both of version 2, and a
// version-1 sender of the same host: each has its own window, none makes
// the daemon refuse the others, and every window survives a restart.
func TestReplayWindowsPerInstance(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: dir})
	running := newInstance(t, s, clock, "h")
	running.beat()
	clock.Advance(time.Hour)
	oneShot := newInstance(t, s, clock, "h") // started an hour later, counts from 1 too
	oneShot.beat()
	running.beat()
	legacy := newTestAgent(t, s, clock, "h") // version 1: sequence from its boot time
	legacy.beat()
	running.beat()
	oneShot.beat()
	if n := s.Stats.Dropped(wire.ReasonReplay); n != 0 {
		t.Fatalf("%d datagrams dropped as replays", n)
	}
	resend(t, s, running.sent[1], oneShot.sent[0], legacy.sent[0])

	s.Stop()
	clock.Advance(5 * time.Second)
	s = startPersist(t, clock, persistOpts{dir: dir})
	for _, a := range []*agent{running, oneShot, legacy} {
		a.s = s
	}
	// Datagrams from before the restart are refused (the restart floor
	// alone would see to that); copies stamped after it, with the same
	// instance and sequence number, are refused only if every instance's
	// window came back.
	resend(t, s, running.sent[len(running.sent)-1], oneShot.sent[1], legacy.sent[0])
	for _, a := range []*agent{running, oneShot, legacy} {
		restamped, err := wire.AppendHeartbeat(nil, wire.NewSigner(testKey),
			wire.Envelope{Host: "h", Seq: a.seq, Time: clock.Now().UnixNano(), Instance: a.instance}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 99})
		if err != nil {
			t.Fatal(err)
		}
		resend(t, s, restamped)
	}
	running.beat()
	oneShot.beat()
	legacy.beat()
	if st := stateOf(s, "h"); st != StateUp {
		t.Fatalf("h is %s, want UP", st)
	}
}

// More processes of one host than it keeps windows for: the least recently
// heard one is forgotten (counted), its datagrams stay replays, and it
// comes back with its next one. A sequence jump is refused as seq_jump.
func TestReplayInstanceEvictionAndJump(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir()})
	first := newInstance(t, s, clock, "h")
	first.beat()
	for range wire.MaxInstances {
		clock.Advance(time.Second)
		newInstance(t, s, clock, "h").beat()
	}
	if n := s.Stats.ReplayEvictions.Load(); n != 1 {
		t.Fatalf("evictions = %d, want 1", n)
	}
	resend(t, s, first.sent[0])
	clock.Advance(time.Second)
	first.beat() // still running: back, at the cost of another's window

	jump, err := wire.AppendHeartbeat(nil, wire.NewSigner(testKey),
		wire.Envelope{Host: "h", Seq: first.seq + wire.MaxSeqJump + 1, Time: clock.Now().UnixNano(), Instance: first.instance}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	sendUDP(t, s.UDPAddrs()[0], jump)
	eventually(t, "jump dropped", func() bool { return s.Stats.Dropped(wire.ReasonSeqJump) == 1 })
	first.beat() // the window did not move
	if n := s.Stats.Dropped(wire.ReasonReplay); n != 1 {
		t.Fatalf("%d replays dropped, want 1", n)
	}
}
