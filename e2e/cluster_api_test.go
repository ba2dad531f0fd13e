package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// apiMember is one member of a cluster started for the API tests: a real
// hbd on its own loopback address (127.0.0.11...), every member on the
// same ports (placement hashes the addresses; see the design memo).
type apiMember struct {
	*daemon
	ip     string
	remote string // advertised cluster address
}

// startAPICluster starts n members sharing one key, all at once (each
// waits a few seconds for the others' consensus), and waits for their APIs.
func startAPICluster(t *testing.T, n int, extra string) []*apiMember {
	t.Helper()
	ports := freePorts(t, 5) // http, ws, udp, remote, health
	keyDir := t.TempDir()
	keyPath := filepath.Join(keyDir, "hbd.key")
	if err := os.WriteFile(keyPath, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.%d:%d", 11+i, ports[4])))
	}
	var ms []*apiMember
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 11+i)
		dir := t.TempDir()
		m := &apiMember{ip: ip, remote: fmt.Sprintf("%s:%d", ip, ports[3]), daemon: &daemon{dir: dir, udpPort: ports[2],
			http: fmt.Sprintf("http://%s:%d", ip, ports[0]), keyPath: keyPath}}
		cfg := fmt.Sprintf(`hbd_host = %q
hbd_port = %d
ws_port = %d
udp_host = %q
udp_port = %d
data_dir = %q
key_file = %q
log_level = "debug"
%s
[cluster]
name = "e2e"
provider = "static"
listen = %q
health_listen = "%s:%d"
peers = [%s]
refresh = "1s"
fleet_every = "500ms"
`, ip, ports[0], ports[1], ip, ports[2], dir, keyPath, extra, m.remote, ip, ports[4], strings.Join(peers, ", "))
		m.cfgPath = filepath.Join(dir, "hbd.toml")
		if err := os.WriteFile(m.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		m.proc = start(t, bins.hbd, nil, "-config", m.cfgPath)
		ms = append(ms, m)
	}
	// A member's stop waits for the cluster's graceful leave (protoactor:
	// 2 s, then up to 10 s for the other members' streams to end); stop
	// them all at once, before each one's own cleanup looks.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, m := range ms {
			m.proc.stopWait = 20 * time.Second
			wg.Go(func() { _ = m.proc.stop() })
		}
		wg.Wait()
	})
	for _, m := range ms {
		waitFor(t, 30*time.Second, m.ip+"'s API up", func() bool {
			select {
			case <-m.proc.done:
				t.Fatalf("hbd on %s exited: %v\n%s", m.ip, m.proc.err, m.proc.out.String())
			default:
			}
			st, _ := getQuiet(m.http + "/api/0/hosts")
			return st == 200
		})
		key, err := wire.LoadKey(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		m.key = key
	}
	for _, m := range ms {
		waitFor(t, 20*time.Second, m.ip+" sees every member", func() bool {
			var c struct {
				Members []struct{ Address string } `json:"members"`
			}
			st, body := getQuiet(m.http + "/api/0/cluster")
			return st == 200 && json.Unmarshal(body, &c) == nil && len(c.Members) == n
		})
	}
	return ms
}

// heartbeat sends one heartbeat of host (interval 10 s) to m.
func (m *apiMember) heartbeat(t *testing.T, host string, seq uint64) {
	t.Helper()
	b, err := wire.AppendHeartbeat(nil, wire.NewSigner(m.key), wire.Envelope{Host: host, Seq: seq, Time: time.Now().UnixNano(), Instance: 0x1234_0000_0000_0001},
		wire.Heartbeat{IntervalMS: 10_000, ConnSeq: uint32(seq)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("%s:%d", m.ip, m.udpPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// listing is one member's /api/0/hosts: name -> state, the total header
// and the partial header.
func (m *apiMember) listing() (states map[string]string, total, partial string, ok bool) {
	resp, err := http.Get(m.http + "/api/0/hosts")
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
	ms := startAPICluster(t, 3, "")
	const hosts = 30
	for i := range hosts {
		ms[i%3].heartbeat(t, fmt.Sprintf("api-%02d", i), 1)
	}
	for _, m := range ms {
		waitFor(t, 30*time.Second, m.ip+" listing all hosts UP", func() bool {
			states, total, partial, ok := m.listing()
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
	// Pagination and the state filter count the whole cluster.
	for _, m := range ms {
		resp, err := http.Get(m.http + "/api/0/hosts?state=UP&limit=7&offset=28")
		if err != nil {
			t.Fatal(err)
		}
		var page []host
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != fmt.Sprint(hosts) || len(page) != 2 || page[0].Name != "api-28" {
			t.Fatalf("%s: page of UP hosts from 28: status %d, total %q, %d hosts", m.ip, resp.StatusCode, resp.Header.Get("X-Total-Count"), len(page))
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
				t.Fatalf("%s: /api/0/hosts/%s/rtt: %d %s", m.ip, name, st, body)
			}
			if first == "" {
				first = string(body)
			} else if string(body) != first {
				t.Fatalf("%s answers %s's rtt differently:\n%s\nvs\n%s", m.ip, name, body, first)
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

	stopped := ms[2]
	if err := stopped.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopped.proc.cmd.Process.Signal(syscall.SIGCONT) })
	for _, m := range ms[:2] {
		waitFor(t, 20*time.Second, m.ip+" marking its answers partial", func() bool {
			_, _, partial, ok := m.listing()
			return ok && strings.Contains(partial, stopped.remote)
		})
		var alerts struct {
			Partial bool     `json:"partial"`
			Missing []string `json:"missing"`
		}
		getJSON(t, m.http+"/api/0/alerts", &alerts)
		if !alerts.Partial || len(alerts.Missing) == 0 {
			t.Fatalf("%s: /api/0/alerts partial %v missing %v while %s is stopped", m.ip, alerts.Partial, alerts.Missing, stopped.remote)
		}
	}
	_ = stopped.proc.cmd.Process.Signal(syscall.SIGCONT)
}
