package agent

import (
	"testing"
	"time"
)

// The watch warns at the fourth heartbeat after three unanswered ones,
// once per outage, and reports the outage's length when an ACK ends it.
func TestAckWatch(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w ackWatch

	// An ACK for every heartbeat: never a warning.
	for s := 0; s < 50; s += 10 {
		if _, warn := w.sent(at(s)); warn {
			t.Fatalf("warned at %d s with every heartbeat answered", s)
		}
		if _, resumed := w.acked(at(s)); resumed {
			t.Fatalf("resumed at %d s without an outage", s)
		}
	}
	// From 50 s on, nothing comes back.
	for s := 50; s < 80; s += 10 {
		if _, warn := w.sent(at(s)); warn {
			t.Fatalf("warned at %d s, after %d unanswered heartbeats", s, (s-50)/10)
		}
	}
	silent, warn := w.sent(at(80))
	if !warn || silent != 30*time.Second {
		t.Fatalf("fourth heartbeat: warn %v silent %s, want a warning for 30s", warn, silent)
	}
	for s := 90; s < 200; s += 10 {
		if _, warn := w.sent(at(s)); warn {
			t.Fatalf("warned again at %d s in the same outage", s)
		}
	}
	outage, resumed := w.acked(at(200))
	if !resumed || outage != 150*time.Second {
		t.Fatalf("ACK at 200 s: resumed %v after %s, want after 150s", resumed, outage)
	}
	// A second outage is reported again.
	for s := 210; s < 240; s += 10 {
		w.sent(at(s))
	}
	if silent, warn := w.sent(at(240)); !warn || silent != 30*time.Second {
		t.Fatalf("second outage: warn %v silent %s", warn, silent)
	}
	// Two lost ACKs and then one: nothing to report.
	w.acked(at(241))
	w.sent(at(250))
	w.sent(at(260))
	if _, resumed := w.acked(at(265)); resumed {
		t.Fatal("resumed reported for an outage that was never warned about")
	}
}

func TestRoundDuration(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{3*time.Second + 14*time.Millisecond, 3 * time.Second},
		{649 * time.Millisecond, 600 * time.Millisecond},
		{42*time.Second + 600*time.Millisecond, 43 * time.Second},
	} {
		if got := roundDuration(c.in); got != c.want {
			t.Errorf("roundDuration(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
