package actors

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// lines returns the decoded JSON log lines whose msg is msg.
func (l *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, b := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// A datagram signed with another key is dropped, and its source (address,
// claimed host, reason) is logged once a minute by the daemon's clock and
// listed by Rejected; a replay found by the HostActor is listed too.
func TestRejectedSourceLoggedAndListed(t *testing.T) {
	clock := newFakeClock(time.Now())
	var logs lockedBuffer
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := Start(Config{
		Listener: ingest.Config{Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys(key, nil), AcceptDynamic: true, MaxClockSkew: time.Hour},
		Clock:    clock, PublishEvery: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(s.UDPAddrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	from := conn.LocalAddr().String()
	forged := wire.NewSigner([]byte("another key, not the daemon's!!!"))
	seq := uint64(0)
	send := func(sg *wire.Signer, host string) []byte {
		t.Helper()
		seq++
		b, err := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: host, Seq: seq, Time: clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: uint32(seq)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The source is noted before the drop is counted, so the counter is
	// the barrier for the log.
	dropped := func(r wire.Reason, n uint64) {
		t.Helper()
		eventually(t, "drops counted", func() bool { return s.Stats.Dropped(r) == n })
	}

	send(forged, "wrongkey")
	send(forged, "wrongkey")
	dropped(wire.ReasonBadMAC, 2)
	lines := logs.lines(t, "rejected datagrams")
	if len(lines) != 1 || lines[0]["source"] != from || lines[0]["host"] != "wrongkey" || lines[0]["reason"] != "bad_mac" {
		t.Fatalf("log lines %v, want one for %s host wrongkey reason bad_mac", lines, from)
	}
	clock.Advance(59 * time.Second)
	send(forged, "wrongkey")
	dropped(wire.ReasonBadMAC, 3)
	if n := len(logs.lines(t, "rejected datagrams")); n != 1 {
		t.Fatalf("%d lines 59 s after the first, want still 1", n)
	}
	clock.Advance(time.Second)
	send(forged, "wrongkey")
	dropped(wire.ReasonBadMAC, 4)
	lines = logs.lines(t, "rejected datagrams")
	if len(lines) != 2 || lines[1]["datagrams"] != 3.0 || lines[1]["total"] != 4.0 {
		t.Fatalf("a minute after the first: %v, want a second line with datagrams 3, total 4", lines)
	}

	// A valid heartbeat sent twice: the copy is a replay.
	hb := send(wire.NewSigner(key), "h1")
	if _, err := conn.Write(hb); err != nil {
		t.Fatal(err)
	}
	dropped(wire.ReasonReplay, 1)
	// Both valid datagrams were taken by the actors (the first through the
	// registry, which spawned the host): nothing is left in the backlog
	// that [limits] ingest_backlog bounds.
	if n := s.Stats.Backlog.Load(); n != 0 {
		t.Errorf("ingest backlog = %d after the actors took every message, want 0", n)
	}
	top := s.Rejected.Top(10)
	if len(top) != 2 {
		t.Fatalf("Top = %+v, want the bad_mac and the replay source", top)
	}
	if top[0].Addr.String() != from || top[0].Host != "wrongkey" || top[0].Reason != wire.ReasonBadMAC || top[0].Count != 4 || !top[0].LastSeen.Equal(clock.Now()) {
		t.Errorf("Top[0] = %+v, want %s wrongkey bad_mac 4 at %s", top[0], from, clock.Now())
	}
	if top[1].Host != "h1" || top[1].Reason != wire.ReasonReplay || top[1].Count != 1 {
		t.Errorf("Top[1] = %+v, want h1 replay 1", top[1])
	}
}
