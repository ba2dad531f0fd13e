package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors/member"
	"github.com/hbd-project/hbd/transport/wire"
)

// heartbeat sends one heartbeat of host (interval 10 s) to member i.
func (c *cluster) heartbeat(t *testing.T, i int, host string, seq uint64) {
	t.Helper()
	b, err := wire.AppendHeartbeat(nil, wire.NewSigner(c.members[i].key), wire.Envelope{Host: host, Seq: seq, Time: time.Now().UnixNano(), Instance: 0x1234_0000_0000_0001},
		wire.Heartbeat{IntervalMS: 10_000, ConnSeq: uint32(seq)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.udp(i))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// listing is one member's /api/0/hosts: name -> state, the total header
// and the partial header.
func listing(d *daemon) (states map[string]string, total, partial string, ok bool) {
	resp, err := http.Get(d.http + "/api/0/hosts")
	if err != nil {
		return nil, "", "", false
	}
	defer resp.Body.Close()
	var hs []host
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&hs) != nil {
		return nil, "", "", false
	}
	states = map[string]string{}
	for _, h := range hs {
		states[h.Name] = h.State
	}
	return states, resp.Header.Get("X-Total-Count"), resp.Header.Get("X-Hbd-Partial"), true
}

// One API, any node: hosts reported to different members are listed by
// every member with the same states and X-Total-Count; a per-host route
// asked of a member that does not own the host is answered (by the
// owner); a member stopped with SIGSTOP makes the others mark their
// answers partial, naming it.
func TestClusterAPIAnyNode(t *testing.T) {
	c := startCluster(t, 3, "")
	ms := c.members
	const hosts = 30
	for i := range hosts {
		c.heartbeat(t, i%3, fmt.Sprintf("api-%02d", i), 1)
	}
	for _, m := range ms {
		waitFor(t, 30*time.Second, m.http+" listing all hosts UP", func() bool {
			states, total, partial, ok := listing(m)
			if !ok || len(states) != hosts || total != fmt.Sprint(hosts) || partial != "" {
				return false
			}
			for _, st := range states {
				if st != "UP" {
					return false
				}
			}
			return true
		})
	}
	// The WebSocket of one member starts from every member's hosts and
	// streams the changes of a host another member owns.
	ws := dialWS(t, strings.Replace(ms[0].http, "http://", "ws://", 1)+"/hbd")
	var snap struct {
		Hosts []host `json:"hosts"`
	}
	mustUnmarshal(t, next(t, ws, "snapshot").Data, &snap)
	if len(snap.Hosts) != hosts {
		t.Fatalf("%s's WebSocket snapshot has %d hosts, want %d", ms[0].http, len(snap.Hosts), hosts)
	}
	place := member.NewPlacement(1, c.remote(0), []string{c.remote(0), c.remote(1), c.remote(2)}, nil, 0)
	elsewhere := "api-elsewhere-0"
	for i := 1; place.Owner(elsewhere) == c.remote(0); i++ {
		elsewhere = fmt.Sprintf("api-elsewhere-%d", i)
	}
	c.heartbeat(t, 1, elsewhere, 1)
	if err := ws.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		var f frame
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("no host frame of %s (owned by %s) on %s's WebSocket: %v", elsewhere, place.Owner(elsewhere), ms[0].http, err)
		}
		var h host
		if f.Type == "host" && json.Unmarshal(f.Data, &h) == nil && h.Name == elsewhere && h.State == "UP" {
			break
		}
	}
	const all = hosts + 1
	for _, m := range ms {
		waitFor(t, 15*time.Second, m.http+" listing "+elsewhere, func() bool {
			states, total, _, ok := listing(m)
			return ok && states[elsewhere] == "UP" && total == fmt.Sprint(all)
		})
	}

	// Pagination and the state filter count the whole cluster.
	for _, m := range ms {
		resp, err := http.Get(m.http + "/api/0/hosts?state=UP&limit=7&offset=28")
		if err != nil {
			t.Fatal(err)
		}
		var page []host
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != fmt.Sprint(all) || len(page) != 3 || page[0].Name != "api-28" {
			t.Fatalf("%s: page of UP hosts from 28: status %d, total %q, %d hosts", m.http, resp.StatusCode, resp.Header.Get("X-Total-Count"), len(page))
		}
	}
	// Every member answers every host's RTT route the same: at least two
	// of the three are not its owner.
	for i := range 3 {
		name := fmt.Sprintf("api-%02d", i)
		var first string
		for _, m := range ms {
			st, body := get(t, m.http+"/api/0/hosts/"+name+"/rtt")
			if st != 200 {
				t.Fatalf("%s: /api/0/hosts/%s/rtt: %d %s", m.http, name, st, body)
			}
			if first == "" {
				first = string(body)
			} else if string(body) != first {
				t.Fatalf("%s answers %s's rtt differently:\n%s\nvs\n%s", m.http, name, body, first)
			}
		}
	}
	if st, body := get(t, ms[1].http+"/api/0/hosts/no-such-host/rtt"); st != 404 {
		t.Fatalf("an unknown host's rtt: %d %s", st, body)
	}

	if _, body := get(t, ms[0].http+"/metrics"); !strings.Contains(string(body), `hbd_cluster_fleet_frames_total{direction="in"}`) ||
		strings.Contains(string(body), `hbd_cluster_fleet_frames_total{direction="in"} 0`+"\n") {
		t.Fatalf("/metrics has no fleet frames received:\n%s", body)
	}

	stopped, stoppedAddr := ms[2], c.remote(2)
	if err := stopped.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopped.proc.cmd.Process.Signal(syscall.SIGCONT) })
	for _, m := range ms[:2] {
		waitFor(t, 20*time.Second, m.http+" marking its answers partial", func() bool {
			_, _, partial, ok := listing(m)
			return ok && strings.Contains(partial, stoppedAddr)
		})
		var alerts struct {
			Partial bool     `json:"partial"`
			Missing []string `json:"missing"`
		}
		getJSON(t, m.http+"/api/0/alerts", &alerts)
		if !alerts.Partial || len(alerts.Missing) == 0 {
			t.Fatalf("%s: /api/0/alerts partial %v missing %v while %s is stopped", m.http, alerts.Partial, alerts.Missing, stoppedAddr)
		}
	}
	_ = stopped.proc.cmd.Process.Signal(syscall.SIGCONT)
}
