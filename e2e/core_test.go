package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// A real agent reports to a real daemon over IPv4 and IPv6: the host shows
// two connections with RTTs, its plugin samples are served newest first,
// and every endpoint has the seed's shape.
func TestAgentReportsOverBothFamilies(t *testing.T) {
	d := startDaemon(t, "")
	script := filepath.Join(t.TempDir(), "custom.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"queue_depth\": 42, \"nested\": {\"ok\": true}}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, d, "web01", fmt.Sprintf(`
[plugins.cpu_monitor]
interval = "1s"
[plugins.memory_monitor]
interval = "1s"
[plugins.disk_monitor]
enabled = false
[plugins.network_monitor]
enabled = false
[[exec]]
name = "custom"
command = [%q]
interval = "1s"
timeout = "500ms"
`, script))

	var h host
	waitFor(t, 20*time.Second, "web01 UP on ipv4 and ipv6 with RTTs", func() bool {
		var ok bool
		h, ok = d.host(t, "web01")
		if !ok || h.State != "UP" || len(h.Connections) != 2 {
			return false
		}
		for _, c := range h.Connections {
			if c.RTTMs == nil {
				return false
			}
		}
		return true
	})
	if h.Dyn != true {
		t.Errorf("dyn = false for a host not in watchhosts")
	}
	if h.Ver == nil || *h.Ver != wire.Version {
		t.Errorf("ver = %v, want %d", h.Ver, wire.Version)
	}
	if h.LastSeen == nil || time.Since(time.Unix(int64(*h.LastSeen), 0)) > time.Minute {
		t.Errorf("last_seen = %v, want about now", h.LastSeen)
	}
	fams := map[string]connection{}
	for _, c := range h.Connections {
		fams[c.Family] = c
	}
	if !strings.HasPrefix(fams["ipv4"].Address, "127.0.0.1:") || !strings.HasPrefix(fams["ipv6"].Address, "[::1]:") {
		t.Errorf("connections %+v, want one ipv4 from 127.0.0.1 and one ipv6 from [::1]", h.Connections)
	}
	for fam, c := range fams {
		if c.State != "UP" || *c.RTTMs <= 0 || *c.RTTMs > 1000 || c.RTTSmoothedMs == nil || c.LossPct == nil || c.LastSeen == nil {
			t.Errorf("%s connection %+v: want UP with 0 < rtt < 1 s, smoothed RTT, loss and last_seen", fam, c)
		}
	}

	// The seed's raw JSON keys, checked on the wire rather than through our structs.
	_, raw := get(t, d.http+"/api/0/hosts")
	var rawHosts []map[string]any
	if err := json.Unmarshal(raw, &rawHosts); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "dyn", "ver", "connections", "state", "last_seen"} {
		if _, ok := rawHosts[0][k]; !ok {
			t.Errorf("/api/0/hosts entry lacks %q: %s", k, raw)
		}
	}

	waitFor(t, 20*time.Second, "three cpu samples and the custom plugin", func() bool {
		var p struct {
			SampleCount int `json:"sample_count"`
		}
		getJSON(t, d.http+"/api/0/hosts/web01/plugins/cpu_monitor?limit=3", &p)
		st, _ := get(t, d.http+"/api/0/hosts/web01/plugins/custom")
		return p.SampleCount == 3 && st == 200
	})

	var all struct {
		Hostname string `json:"hostname"`
		Plugins  map[string]struct {
			Timestamp   float64        `json:"timestamp"`
			Data        map[string]any `json:"data"`
			SampleCount int            `json:"sample_count"`
		} `json:"plugins"`
	}
	getJSON(t, d.http+"/api/0/hosts/web01/plugins", &all)
	if all.Hostname != "web01" {
		t.Errorf("hostname %q", all.Hostname)
	}
	for _, p := range []string{"cpu_monitor", "memory_monitor", "custom"} {
		if _, ok := all.Plugins[p]; !ok {
			t.Errorf("plugins lack %s: %+v", p, all.Plugins)
		}
	}
	if _, ok := all.Plugins["disk_monitor"]; ok {
		t.Errorf("disabled disk_monitor sent samples")
	}
	cpu := all.Plugins["cpu_monitor"]
	for _, k := range []string{"cpu_percent", "load_1min", "load_5min", "load_15min"} {
		if _, ok := cpu.Data[k]; !ok {
			t.Errorf("cpu_monitor data lacks %s: %v", k, cpu.Data)
		}
	}
	if cpu.SampleCount < 3 || cpu.Timestamp < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("cpu_monitor sample_count %d timestamp %f", cpu.SampleCount, cpu.Timestamp)
	}
	if got := all.Plugins["custom"].Data["queue_depth"]; got != 42.0 {
		t.Errorf("custom plugin queue_depth = %v, want 42 (the value the script printed)", got)
	}

	var one struct {
		Hostname string `json:"hostname"`
		Plugin   string `json:"plugin"`
		Samples  []struct {
			Timestamp float64        `json:"timestamp"`
			Data      map[string]any `json:"data"`
		} `json:"samples"`
		SampleCount int `json:"sample_count"`
	}
	getJSON(t, d.http+"/api/0/hosts/web01/plugins/cpu_monitor?limit=2", &one)
	if one.Hostname != "web01" || one.Plugin != "cpu_monitor" || len(one.Samples) != 2 || one.SampleCount != 2 {
		t.Fatalf("limit=2 answer: %+v", one)
	}
	if one.Samples[0].Timestamp <= one.Samples[1].Timestamp {
		t.Errorf("samples not newest first: %f then %f", one.Samples[0].Timestamp, one.Samples[1].Timestamp)
	}
	// Without ?limit= the answer holds the newest 10 (or all, if fewer are stored).
	var def struct {
		Samples []json.RawMessage `json:"samples"`
		Stored  int               `json:"stored"`
	}
	getJSON(t, d.http+"/api/0/hosts/web01/plugins/cpu_monitor", &def)
	if def.Stored < 3 || len(def.Samples) != min(10, def.Stored) {
		t.Errorf("default limit returned %d samples of %d stored, want min(10, stored)", len(def.Samples), def.Stored)
	}

	msgs := d.messages(t)
	if !strings.Contains(msgs, "web01: first contact from") || !strings.Contains(msgs, "web01: agent started") {
		t.Errorf("messages lack first contact and boot:\n%s", msgs)
	}
	if strings.Contains(msgs, "heartbeat received") {
		t.Errorf("messages must not record every heartbeat:\n%s", msgs)
	}
	var seedMsgs []map[string]any
	getJSON(t, d.http+"/api/0/messages?limit=1", &seedMsgs)
	if len(seedMsgs) != 1 {
		t.Fatalf("messages?limit=1 returned %d", len(seedMsgs))
	}
	for _, k := range []string{"time", "host", "msg"} {
		if _, ok := seedMsgs[0][k]; !ok {
			t.Errorf("message lacks %q: %v", k, seedMsgs[0])
		}
	}
}

func TestAPIErrors(t *testing.T) {
	d := startDaemon(t, "")
	s := newSender(t, d, "known", d.key, false)
	s.heartbeat(time.Second, 1)
	s.sample("cpu_monitor", `{"cpu_percent": 1}`)
	waitFor(t, 10*time.Second, "host known listed with its sample", func() bool {
		st, _ := get(t, d.http+"/api/0/hosts/known/plugins/cpu_monitor")
		_, listed := d.host(t, "known")
		return st == 200 && listed
	})
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/0/hosts/known/plugins/cpu_monitor?limit=abc", 400, "invalid limit 'abc'"},
		{"/api/0/hosts/known/plugins/cpu_monitor?limit=-1", 400, "invalid limit '-1'"},
		{"/api/0/hosts/known/plugins/cpu_monitor?limit=0", 400, "invalid limit '0'"},
		{"/api/0/hosts/known/plugins/cpu_monitor?limit=99999999999999999999", 400, "invalid limit"},
		{"/api/0/messages?limit=abc", 400, "invalid limit 'abc'"},
		{"/api/0/messages?limit=1001", 400, "invalid limit '1001'"},
		{"/api/0/hosts?limit=0", 400, "invalid limit '0'"},
		{"/api/0/hosts?offset=-5", 400, "invalid offset '-5'"},
		{"/api/0/hosts?state=SLEEPY", 400, "invalid state 'SLEEPY'"},
		{"/api/0/hosts/unknown-host/plugins", 404, "Host 'unknown-host' not found"},
		{"/api/0/hosts/unknown-host/plugins/cpu_monitor", 404, "Host 'unknown-host' not found"},
		{"/api/0/hosts/unknown-host", 404, "Host 'unknown-host' not found"},
		{"/api/0/hosts/known/plugins/nope", 404, "Plugin 'nope' not found for host 'known'"},
		{"/api/0/hosts/bad%20name/plugins", 404, "Host 'bad name' not found"},
		{"/api/0/nothing", 404, "no such path"},
		{"/api/1/hosts", 404, "no such path"},
	} {
		status, body := get(t, d.http+tc.path)
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s: body %q is not a JSON error: %v", tc.path, body, err)
			continue
		}
		if status != tc.status || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.path, status, e.Error, tc.status, tc.msg)
		}
	}
	// The bad requests changed nothing.
	var one struct {
		SampleCount int `json:"sample_count"`
	}
	getJSON(t, d.http+"/api/0/hosts/known/plugins/cpu_monitor?limit=5", &one)
	if one.SampleCount != 1 {
		t.Errorf("sample_count %d after bad requests, want 1", one.SampleCount)
	}
	// Pagination: a page of one.
	var page []host
	getJSON(t, d.http+"/api/0/hosts?limit=1&offset=0", &page)
	if len(page) != 1 || page[0].Name != "known" {
		t.Errorf("page %+v", page)
	}
	getJSON(t, d.http+"/api/0/hosts?offset=1", &page)
	if len(page) != 0 {
		t.Errorf("offset past the end returned %d hosts", len(page))
	}
}

// Forged, replayed, garbage and unknown-host datagrams are dropped, counted
// by reason, and change nothing.
func TestBadDatagramsChangeNothing(t *testing.T) {
	d := startDaemon(t, `watchhosts = ["good"]
accept_dynamic = false`)
	good := newSender(t, d, "good", d.key, false)
	hb := good.heartbeat(time.Second, 1)
	smp := good.sample("cpu_monitor", `{"cpu_percent": 10}`)
	waitFor(t, 10*time.Second, "good host UP with its sample stored", func() bool {
		st, _ := get(t, d.http+"/api/0/hosts/good/plugins/cpu_monitor")
		h, _ := d.host(t, "good")
		return st == 200 && h.State == "UP"
	})
	before := d.stats(t)
	_, plugBefore := get(t, d.http+"/api/0/hosts/good/plugins")
	hostsBefore := len(mustHosts(t, d))

	// Replays of both datagrams.
	good.send(hb)
	good.send(smp)
	// Forged: signed with another key, for a known and an unknown host.
	wrongKey := make([]byte, 32)
	forged := newSender(t, d, "good", wrongKey, false)
	forged.sample("cpu_monitor", `{"cpu_percent": 99}`)
	forgedNew := newSender(t, d, "intruder", wrongKey, true)
	forgedNew.heartbeat(time.Second, 1)
	// A flipped bit in a valid datagram.
	flipped := append([]byte(nil), smp...)
	flipped[len(flipped)-40] ^= 0x01
	good.send(flipped)
	// Garbage and truncation.
	good.send([]byte("hello, is this the heartbeat daemon?"))
	good.send(hb[:10])
	// Correctly signed, but a host not in watchhosts with accept_dynamic off.
	stranger := newSender(t, d, "stranger", d.key, false)
	stranger.heartbeat(time.Second, 1)
	// A timestamp an hour old, correctly signed.
	old, err := wire.AppendHeartbeat(nil, good.sg, wire.Envelope{Host: "good", Seq: good.seq + 1000, Time: time.Now().Add(-time.Hour).UnixNano()}, wire.Heartbeat{IntervalMS: 1000, ConnSeq: 9})
	if err != nil {
		t.Fatal(err)
	}
	good.send(old)

	want := map[string]uint64{"replay": 2, "bad_mac": 3, "bad_magic": 1, "truncated": 1, "unknown_host": 1, "clock_skew": 1}
	var after stats
	waitFor(t, 10*time.Second, "every bad datagram counted", func() bool {
		after = d.stats(t)
		return after.Received-before.Received == 9
	})
	waitFor(t, 10*time.Second, "drop counters", func() bool {
		after = d.stats(t)
		for r, n := range want {
			if after.Dropped[r]-before.Dropped[r] != n {
				return false
			}
		}
		return true
	})
	if after.Accepted != before.Accepted {
		t.Errorf("accepted went from %d to %d: a bad datagram was applied", before.Accepted, after.Accepted)
	}
	if _, plugAfter := get(t, d.http+"/api/0/hosts/good/plugins"); string(plugAfter) != string(plugBefore) {
		t.Errorf("plugin data changed:\nbefore %s\nafter  %s", plugBefore, plugAfter)
	}
	if n := len(mustHosts(t, d)); n != hostsBefore {
		t.Errorf("%d hosts after bad datagrams, want %d", n, hostsBefore)
	}
	if msgs := d.messages(t); strings.Contains(msgs, "intruder") || strings.Contains(msgs, "stranger") {
		t.Errorf("rejected hosts appear in messages:\n%s", msgs)
	}
}

func mustHosts(t *testing.T, d *daemon) []host {
	var hs []host
	getJSON(t, d.http+"/api/0/hosts", &hs)
	return hs
}

// A host that falls silent turns DOWN on time with no further traffic; a
// declared host never heard from is UNKNOWN.
func TestHostTurnsDownOnTime(t *testing.T) {
	d := startDaemon(t, `watchhosts = ["quiet", "never"]
down_after = 2`)
	s := newSender(t, d, "quiet", d.key, false)
	s.heartbeat(time.Second, 1)
	sentAt := time.Now()
	waitFor(t, 10*time.Second, "quiet UP", func() bool {
		h, _ := d.host(t, "quiet")
		return h.State == "UP"
	})
	if h, _ := d.host(t, "never"); h.State != "UNKNOWN" || h.Dyn {
		t.Errorf("declared, silent host: %+v, want UNKNOWN and dyn false", h)
	}
	waitFor(t, 10*time.Second, "quiet DOWN", func() bool {
		h, _ := d.host(t, "quiet")
		return h.State == "DOWN"
	})
	// down_after 2 × interval 1 s: DOWN at 2 s, seen within the fleet
	// index's publish delay and our polling. Generous bounds: this checks
	// the daemon acts on time by itself, not scheduler precision.
	if el := time.Since(sentAt); el < 2*time.Second || el > 6*time.Second {
		t.Errorf("turned DOWN after %s, want about 2 s", el)
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "quiet: state UP -> DOWN") || !strings.Contains(msgs, "down (no heartbeat for 2") {
		t.Errorf("messages lack the DOWN transition:\n%s", msgs)
	}
}

// A clean agent shutdown makes the host STOPPED, and it stays STOPPED past
// the deadline that would otherwise make it DOWN.
func TestCleanShutdownIsStopped(t *testing.T) {
	d := startDaemon(t, `down_after = 1`)
	a := startAgent(t, d, "db01", builtinPluginsOff)
	waitFor(t, 15*time.Second, "db01 UP", func() bool {
		h, _ := d.host(t, "db01")
		return h.State == "UP"
	})
	if err := a.stop(); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	waitFor(t, 10*time.Second, "db01 STOPPED", func() bool {
		h, _ := d.host(t, "db01")
		return h.State == "STOPPED"
	})
	// Wait past down_after × interval (1 s) with margin; it must not turn DOWN.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if h, _ := d.host(t, "db01"); h.State != "STOPPED" {
			t.Fatalf("after a clean shutdown the host became %s", h.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "db01: agent stopped cleanly") {
		t.Errorf("messages lack the shutdown:\n%s", msgs)
	}
}

// The agent keeps running while the daemon is down, and reports once it is up.
func TestAgentSurvivesDaemonOutage(t *testing.T) {
	d := startDaemon(t, "")
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
	a := startAgent(t, d, "patient", `
[plugins.cpu_monitor]
enabled = false
[plugins.disk_monitor]
enabled = false
[plugins.network_monitor]
enabled = false
[plugins.memory_monitor]
interval = "1s"
`)
	time.Sleep(1500 * time.Millisecond) // let it send into the void a while
	select {
	case <-a.done:
		t.Fatalf("agent exited while the daemon was down: %v", a.err)
	default:
	}
	// Same ports, same data dir (same key): the daemon comes back.
	d2 := start(t, bins.hbd, nil, "-config", filepath.Join(d.dir, "hbd.toml"))
	_ = d2
	waitFor(t, 20*time.Second, "patient UP after the daemon returned", func() bool {
		h, ok := d.hostQuiet("patient")
		return ok && h.State == "UP"
	})
	waitFor(t, 20*time.Second, "memory sample after the outage", func() bool {
		st, _ := getQuiet(d.http + "/api/0/hosts/patient/plugins/memory_monitor")
		return st == 200
	})
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("hbd_port = 50004\nhistory = 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("hbd_port = 70000\nhistory = 50\nhbd_prot = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins.hbd, "-check-config", "-config", good).CombinedOutput()
	if err != nil {
		t.Fatalf("good config: %v: %s", err, out)
	}
	out, err = exec.Command(bins.hbd, "-check-config", "-config", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("bad config: exit %v, want 1: %s", err, out)
	}
	for _, want := range []string{"bad.toml:1: hbd_port", "bad.toml:3: hbd_prot: unknown key"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAgentOnce(t *testing.T) {
	out, err := exec.Command(bins.agent, "-once").Output()
	if err != nil {
		t.Fatalf("hbd-agent -once: %v", err)
	}
	var all map[string]map[string]any
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("-once output is not a JSON object of plugins: %v\n%s", err, out)
	}
	for _, p := range []string{"cpu_monitor", "memory_monitor", "disk_monitor", "network_monitor"} {
		if len(all[p]) == 0 {
			t.Errorf("-once lacks %s: %s", p, out)
		}
	}
	if pct, ok := all["memory_monitor"]["percent"].(float64); !ok || pct <= 0 || pct > 100 {
		t.Errorf("memory_monitor.percent = %v", all["memory_monitor"]["percent"])
	}
}
