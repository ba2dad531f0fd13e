package actors

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// feed hands m to the actors as a UDP reader does for a host it has not
// cached yet: through the registry actor, which spawns the host's actor on
// first contact. Tests drive HostActors this way without sockets or
// signing; a message built here sends no ACK.
func (s *System) feed(m ingest.Message) {
	s.actors.Root.Send(s.Registry.pid, m)
}

// header is a message header for host, as a reader fills it: seq and sent
// are the agent's, recv the daemon's clock.
func header(host string, seq uint64, recv time.Time, from netip.AddrPort) ingest.Header {
	return ingest.Header{Host: host, Version: wire.Version, Instance: 1, Seq: seq, Sent: recv.UnixNano(), Recv: recv, From: from}
}

// Messages fed straight to the actors take the same path as datagrams:
// a new host is registered, boots, goes UP, stores a sample, is silenced,
// stops; a replayed sequence number is dropped and counted.
func TestFeedMessagesWithoutSockets(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s, _ := startTestSystem(t, clock)
	v4, v6 := netip.MustParseAddrPort("10.0.0.7:41234"), netip.MustParseAddrPort("[2001:db8::7]:41235")
	now := clock.Now()
	s.feed(&ingest.Boot{Header: header("fed", 1, now, v4), Interval: 10 * time.Second, AgentVersion: "9.9.9"})
	s.feed(&ingest.Heartbeat{Header: header("fed", 2, now, v4), Interval: 10 * time.Second, ConnSeq: 1, RTT: time.Millisecond})
	s.feed(&ingest.Heartbeat{Header: header("fed", 3, now, v6), Interval: 10 * time.Second, ConnSeq: 1})
	s.feed(&ingest.Sample{Header: header("fed", 4, now, v4), Plugin: []byte("cpu_monitor"), Data: []byte(`{"cpu_percent":45.2}`)})
	s.feed(&ingest.Silence{Header: header("fed", 5, now, v4), Metric: "cpu_monitor.*", For: time.Hour, Comment: "maintenance"})
	eventually(t, "five messages applied", func() bool { return s.Stats.Accepted.Load() == 5 })
	settle(s)
	if st := stateOf(s, "fed"); st != StateUp {
		t.Fatalf("state %s after boot and heartbeats on both families, want UP", st)
	}
	if js := hostJSON(s, "fed"); !strings.Contains(js, `"address":"[2001:db8::7]:41235"`) || !strings.Contains(js, `"address":"10.0.0.7:41234"`) || !strings.Contains(js, `"dyn":true`) {
		t.Errorf("host JSON lacks a connection or dyn: %s", js)
	}
	if got := pluginsOf(t, s, "fed"); got["cpu_monitor"] != 1 {
		t.Errorf("plugins %v, want cpu_monitor with 1 sample", got)
	}
	if sils := s.Silences.List(); len(sils) != 1 || sils[0].Host != "fed" || sils[0].Comment != "maintenance" {
		t.Errorf("silences %+v, want the agent's one", sils)
	}

	s.feed(&ingest.Heartbeat{Header: header("fed", 3, now, v6), Interval: 10 * time.Second, ConnSeq: 2})
	eventually(t, "replay dropped", func() bool { return s.Stats.Dropped(wire.ReasonReplay) == 1 })
	s.feed(&ingest.Shutdown{Header: header("fed", 6, now, v4), Reason: "test"})
	eventually(t, "STOPPED", func() bool { return stateOf(s, "fed") == StateStopped })
	if n := s.Stats.Accepted.Load(); n != 6 {
		t.Errorf("accepted %d, want 6 (the replay is not)", n)
	}
}
