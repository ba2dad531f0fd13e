package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// metric returns the value of one series of the daemon's /metrics, e.g.
// `hbd_datagrams_dropped_total{reason="replay"}`; the test fails if it is
// not there.
func (d *daemon) metric(t *testing.T, series string) float64 {
	t.Helper()
	_, body := get(t, d.http+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no series %s", series)
	return 0
}

// A one-shot run (hbd-agent -silence) next to the running agent of the
// same host: it has a sender instance of its own, so the daemon does not
// take the running agent's later datagrams for replays, and the host stays
// UP. (With one replay window per host, the one-shot run's sequence, which
// started at its later start time, moved the window past the running agent
// and the host went DOWN.)
func TestOneShotRunBesideRunningAgent(t *testing.T) {
	d := startDaemon(t, "down_after = 3")
	startAgent(t, d, "web01", builtinPluginsOff)
	waitFor(t, 20*time.Second, "web01 UP on both families", func() bool {
		h, ok := d.host(t, "web01")
		return ok && h.State == "UP" && len(h.Connections) == 2
	})

	cfg := filepath.Join(t.TempDir(), "oneshot.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("name = \"web01\"\nservers = [\"127.0.0.1:%d\", \"[::1]:%d\"]\nkey_file = %q\n",
		d.udpPort, d.udpPort, d.keyPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins.agent, "-config", cfg, "-silence", "1m", "-comment", "one-shot beside the agent").CombinedOutput()
	if err != nil {
		t.Fatalf("hbd-agent -silence: %v\n%s", err, out)
	}
	var list struct {
		Silences []map[string]any `json:"silences"`
	}
	waitFor(t, 10*time.Second, "the one-shot run's silence listed", func() bool {
		getJSON(t, d.http+"/api/0/silences", &list)
		return len(list.Silences) == 1
	})
	if s := list.Silences[0]; s["host"] != "web01" || s["origin"] != "agent" || s["comment"] != "one-shot beside the agent" {
		t.Errorf("silence %v", s)
	}

	// The running agent goes on: three more heartbeats to each address
	// are accepted after the one-shot run, and none of its datagrams is
	// taken for a replay.
	const beats = `hbd_datagrams_accepted_total{kind="heartbeat"}`
	after := d.metric(t, beats)
	waitFor(t, 20*time.Second, "six more heartbeats accepted", func() bool { return d.metric(t, beats) >= after+6 })
	for _, reason := range []string{"replay", "seq_jump"} {
		if n := d.metric(t, `hbd_datagrams_dropped_total{reason="`+reason+`"}`); n != 0 {
			t.Errorf("%v datagrams dropped as %s", n, reason)
		}
	}
	h, _ := d.host(t, "web01")
	if h.State != "UP" || len(h.Connections) != 2 || h.Ver == nil || *h.Ver != 2 {
		t.Errorf("web01 after the one-shot run: %+v, want UP on two connections, protocol version 2", h)
	}
	for _, c := range h.Connections {
		if c.State != "UP" {
			t.Errorf("connection %+v is not UP", c)
		}
	}
}

// ack reads the daemon's ACK to the sender's last heartbeat and checks it
// the way an agent of protocol version ver would: version, signature and
// the acknowledged sequence number.
func (s *sender) ack(ver uint8) {
	s.t.Helper()
	buf := make([]byte, wire.MaxSmall)
	if err := s.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		s.t.Fatal(err)
	}
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("no ACK: %v", err)
	}
	b := buf[:n]
	h, err := wire.Parse(b)
	if err != nil || !s.sg.Verify(b) {
		s.t.Fatalf("ACK does not parse or verify: %v", err)
	}
	if h.Kind != wire.KindAck || h.Version != ver || (ver == 1) != (h.Instance == 0) || string(h.Host) != s.host {
		s.t.Fatalf("ACK header %+v, want an ack of version %d for %s", h, ver, s.host)
	}
	if ver == 1 && b[2] != 1 {
		s.t.Fatalf("ACK version byte %d: a version-1 agent drops anything but 1", b[2])
	}
	a, err := wire.DecodeAck(&h)
	if err != nil || a.Seq != s.seq {
		s.t.Fatalf("ACK %+v, %v: want seq %d", a, err, s.seq)
	}
}

// An agent of protocol version 1 (no sender instance) still works against
// this daemon: its datagrams are accepted, its ACKs are of version 1, the
// log says what an old agent means; and it keeps working while a version-2
// process of the same host sends too.
func TestVersion1AgentStillAccepted(t *testing.T) {
	d := startDaemon(t, "")
	old := newSender(t, d, "legacy01", d.key, false)
	if e := old.env(); e.Instance != 0 {
		t.Fatalf("the harness sender is not version 1: %+v", e)
	}
	old.seq-- // env() counted one
	old.heartbeat(time.Second, 1)
	old.ack(1)
	waitFor(t, 10*time.Second, "legacy01 UP with protocol version 1", func() bool {
		h, ok := d.host(t, "legacy01")
		return ok && h.State == "UP" && h.Ver != nil && *h.Ver == 1
	})
	waitFor(t, 10*time.Second, "the log's word on version 1", func() bool {
		out := d.proc.out.String()
		return strings.Contains(out, "agents of protocol version 1 are reporting") && strings.Contains(out, "first_host=legacy01")
	})

	// A version-2 process of the same host, started later with a sequence
	// from 1: both are accepted, each answered in its own version.
	v2 := newSender(t, d, "legacy01", d.key, true)
	v2.instance, v2.seq = wire.NewInstance(time.Now()), 0
	for i := range uint32(3) {
		v2.heartbeat(time.Second, i+1)
		v2.ack(2)
		old.heartbeat(time.Second, i+2)
		old.ack(1)
	}
	if n := d.metric(t, `hbd_datagrams_dropped_total{reason="replay"}`); n != 0 {
		t.Errorf("%v datagrams dropped as replays", n)
	}
	if n := d.metric(t, `hbd_datagrams_accepted_total{kind="heartbeat"}`); n != 7 {
		t.Errorf("%v heartbeats accepted, want 7", n)
	}
}
