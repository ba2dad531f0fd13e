package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startAgentServers starts hbd-agent with the given servers entries and
// key, heartbeats every second and no plugins.
func startAgentServers(t *testing.T, name, keyPath string, servers []string, extra string) *proc {
	t.Helper()
	quoted := make([]string, len(servers))
	for i, s := range servers {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	cfg := fmt.Sprintf(`name = %q
servers = [%s]
key_file = %q
interval = "1s"
log_level = "debug"
%s
%s
`, name, strings.Join(quoted, ", "), keyPath, builtinPluginsOff, extra)
	path := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, bins.agent, nil, "-config", path)
}

// lastSeen returns the host's last_seen on d, or 0 if d does not list it.
func (d *daemon) lastSeen(name string) float64 {
	h, ok := d.hostQuiet(name)
	if !ok || h.LastSeen == nil {
		return 0
	}
	return *h.LastSeen
}

// The members of one cluster in one servers entry ("a;b;c") get an
// agent's datagrams one at a time: here three independent daemons stand
// for the members, since which one receives is what is tested. The agent
// sends only to the first; killed, the agent moves to the second within
// failover_after (2 s: two 1 s intervals) and stays there, the third
// getting nothing. An agent with the same daemons as separate entries
// sends to all of them.
func TestAgentClusterFailover(t *testing.T) {
	d1 := startDaemon(t, "")
	d2 := startDaemonKey(t, d1.keyPath, "")
	d3 := startDaemonKey(t, d1.keyPath, "")
	addr := func(d *daemon) string { return fmt.Sprintf("127.0.0.1:%d", d.udpPort) }
	entry := strings.Join([]string{addr(d1), addr(d2), addr(d3)}, ";")
	agent := startAgentServers(t, "member-one", d1.keyPath, []string{entry}, "")
	startAgentServers(t, "every-one", d1.keyPath, []string{addr(d1), addr(d2), addr(d3)}, "")

	// advanced waits until d has seen name's heartbeats for 2 s more
	// than it had at the call: the barrier after which a daemon that
	// would get them too has had them.
	advanced := func(d *daemon, name string) {
		t.Helper()
		var first float64
		waitFor(t, 15*time.Second, name+"'s heartbeats arriving for 2 s", func() bool {
			ls := d.lastSeen(name)
			if first == 0 {
				first = ls
			}
			return first > 0 && ls >= first+2
		})
	}
	advanced(d1, "member-one")
	for _, d := range []*daemon{d1, d2, d3} {
		waitFor(t, 15*time.Second, "the separate-entries agent on every daemon", func() bool { return d.lastSeen("every-one") > 0 })
	}
	if _, ok := d2.host(t, "member-one"); ok {
		t.Fatal("the second member got the agent's datagrams while the first answers")
	}
	if _, ok := d3.host(t, "member-one"); ok {
		t.Fatal("the third member got the agent's datagrams while the first answers")
	}

	_ = d1.proc.cmd.Process.Kill()
	<-d1.proc.done
	killed := time.Now()
	waitFor(t, 15*time.Second, "member-one on the second member", func() bool { return d2.lastSeen("member-one") > 0 })
	took := time.Since(killed)
	t.Logf("the agent moved to the second member %s after the first was killed (failover_after 2s)", took.Round(10*time.Millisecond))
	// The last ACK came at most one interval before the kill, so the
	// move is due within 2 s of it; 1.5 s more for a loaded machine.
	if took > 3500*time.Millisecond {
		t.Errorf("the agent moved %s after the kill, want within failover_after (2s) and a margin", took)
	}
	want := fmt.Sprintf("no ACK from cluster member %s over IPv4 for", addr(d1))
	waitFor(t, 5*time.Second, "the fail-over logged", func() bool {
		return strings.Contains(agent.out.String(), want) && strings.Contains(agent.out.String(), "failing over to "+addr(d2))
	})
	advanced(d2, "member-one")
	if _, ok := d3.host(t, "member-one"); ok {
		t.Fatal("the third member got the agent's datagrams after the move to the second")
	}
	if n := strings.Count(agent.out.String(), "failing over"); n != 1 {
		t.Fatalf("%d fail-overs logged, want 1:\n%s", n, agent.out.String())
	}
}
