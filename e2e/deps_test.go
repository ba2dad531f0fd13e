package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// beater sends every host's heartbeat once per interval, from its own
// goroutine, while the host is alive: the harness's stand-in for a fleet
// of agents that can all be killed at the same instant.
type beater struct {
	hosts    []*beatHost
	interval time.Duration
	stop     chan struct{}
	done     sync.WaitGroup
}

type beatHost struct {
	s     *sender
	alive atomic.Bool
	conn  uint32
}

func startBeater(t *testing.T, d *daemon, interval time.Duration, names ...string) *beater {
	t.Helper()
	b := &beater{interval: interval, stop: make(chan struct{})}
	for i, n := range names {
		h := &beatHost{s: newSender(t, d, n, d.key, false)}
		h.s.instance = uint64(i + 1)
		h.alive.Store(true)
		b.hosts = append(b.hosts, h)
	}
	b.done.Add(1)
	go b.run(t)
	t.Cleanup(b.close)
	return b
}

func (b *beater) run(t *testing.T) {
	defer b.done.Done()
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	for {
		for _, h := range b.hosts {
			if !h.alive.Load() {
				continue
			}
			h.conn++
			msg, err := wire.AppendHeartbeat(nil, h.s.sg, h.s.env(), wire.Heartbeat{IntervalMS: uint32(b.interval.Milliseconds()), ConnSeq: h.conn})
			if err == nil {
				_, err = h.s.conn.WriteToUDPAddrPort(msg, h.s.dst)
			}
			if err != nil {
				t.Errorf("heartbeat of %s: %v", h.s.host, err)
			}
		}
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
	}
}

// kill stops the hosts from i to j (exclusive) at once; revive starts them again.
func (b *beater) kill(i, j int)   { b.set(i, j, false) }
func (b *beater) revive(i, j int) { b.set(i, j, true) }

func (b *beater) set(i, j int, alive bool) {
	for _, h := range b.hosts[i:j] {
		h.alive.Store(alive)
	}
}

func (b *beater) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.done.Wait()
}

// statesOf maps each host of /api/0/hosts to its state.
func statesOf(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	var hs []host
	getJSON(t, d.http+"/api/0/hosts", &hs)
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		out[h.Name] = h.State
	}
	return out
}

// A switch and its 20 hosts die at the same instant (the hosts' senders
// and the switch's stop together; some hosts cross their deadline before
// the switch). A real webhook receiver gets exactly one page, the
// switch's, saying 20 hosts depend on it; the API shows the 20 hosts
// UNREACHABLE. They come back together: one recovery, the switch's. Then
// one host dies while the switch is UP: it pages on its own, as before.
func TestParentAndChildrenKilledTogether(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`down_after = 3

[alerting]
group_wait = "1s"

[[dependencies]]
hosts = ["rack1-*"]
parents = ["rack1-sw"]

[[notify]]
type = "webhook"
url = %q
`, hook.url))
	names := []string{"rack1-sw"}
	for i := range 20 {
		names = append(names, fmt.Sprintf("rack1-h%02d", i))
	}
	b := startBeater(t, d, time.Second, names...)
	waitFor(t, 20*time.Second, "every host UP", func() bool {
		st := statesOf(t, d)
		for _, n := range names {
			if st[n] != "UP" {
				return false
			}
		}
		return true
	})

	b.kill(0, len(names))
	waitFor(t, 30*time.Second, "the switch's page", func() bool { return len(hook.received()) > 0 })
	waitFor(t, 30*time.Second, "20 hosts UNREACHABLE, the switch DOWN", func() bool {
		st := statesOf(t, d)
		n := 0
		for _, name := range names[1:] {
			if st[name] == "UNREACHABLE" {
				n++
			}
		}
		return n == 20 && st["rack1-sw"] == "DOWN"
	})
	page := hook.received()[0]
	if page["host"] != "rack1-sw" || page["kind"] != "problem" || page["level"] != "CRITICAL" || page["dependents"] != float64(20) {
		t.Fatalf("page %v", page)
	}
	if hs, _ := page["dependent_hosts"].([]any); len(hs) != 5 || hs[0] != "rack1-h00" ||
		!strings.Contains(page["message"].(string), "20 hosts depend on it") {
		t.Errorf("page names %v, message %q", page["dependent_hosts"], page["message"])
	}
	var fleet fleetAlerts
	getJSON(t, d.http+"/api/0/alerts", &fleet)
	if fleet.Summary.Critical != 1 || fleet.Summary.Warning != 20 {
		t.Errorf("alerts summary %+v: want the switch CRITICAL, its hosts WARNING", fleet.Summary)
	}

	// Back together. The switch's recovery is the barrier: the channel's
	// queue is first in, first out, so a host's page would be before it.
	b.revive(0, len(names))
	waitFor(t, 30*time.Second, "the switch's recovery", func() bool { return len(hook.received()) >= 2 })
	waitFor(t, 20*time.Second, "every host UP again", func() bool {
		st := statesOf(t, d)
		for _, n := range names {
			if st[n] != "UP" {
				return false
			}
		}
		return true
	})
	if got := hook.summary(); got != "problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Fatalf("notifications %q, want the switch's page and recovery only", got)
	}
	if r := hook.received()[1]; r["host"] != "rack1-sw" {
		t.Errorf("recovery %v", r)
	}

	// One host dies while its switch is UP: DOWN, and its page (held one
	// switch interval for the switch's state) goes out.
	b.kill(1, 2)
	waitFor(t, 30*time.Second, "rack1-h00's page", func() bool { return len(hook.received()) >= 3 })
	if p := hook.received()[2]; p["host"] != "rack1-h00" || p["kind"] != "problem" || p["level"] != "CRITICAL" {
		t.Errorf("page %v", p)
	}
	if st := statesOf(t, d)["rack1-h00"]; st != "DOWN" {
		t.Errorf("rack1-h00 is %s, want DOWN", st)
	}
}

// A real hbd-agent declares its parent in its config; killed (-9) at the
// same instant as the parent, it is UNREACHABLE and the parent's page is
// the only one, counting it. The parent comes back, the agent does not:
// after the settle it is DOWN and pages on its own.
func TestAgentDeclaredParent(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`[alerting]
group_wait = "1s"

[[notify]]
type = "webhook"
url = %q
`, hook.url))
	b := startBeater(t, d, time.Second, "core-sw")
	app := startAgent(t, d, "app1", `parents = ["core-sw"]`)
	waitFor(t, 20*time.Second, "the agent's declaration in the journal", func() bool {
		return strings.Contains(d.messages(t), "agent declared its parents: core-sw")
	})
	waitFor(t, 20*time.Second, "both UP", func() bool {
		st := statesOf(t, d)
		return st["app1"] == "UP" && st["core-sw"] == "UP"
	})
	_ = app.cmd.Process.Kill()
	b.kill(0, 1)
	waitFor(t, 30*time.Second, "app1 UNREACHABLE behind core-sw DOWN", func() bool {
		st := statesOf(t, d)
		return st["app1"] == "UNREACHABLE" && st["core-sw"] == "DOWN"
	})
	waitFor(t, 30*time.Second, "core-sw's page", func() bool { return len(hook.received()) > 0 })
	b.revive(0, 1)
	waitFor(t, 30*time.Second, "app1's own page", func() bool { return len(hook.received()) >= 3 })
	got := hook.received()
	if got[0]["host"] != "core-sw" || got[0]["dependents"] != float64(1) || got[1]["host"] != "core-sw" || got[1]["kind"] != "recovery" ||
		got[2]["host"] != "app1" || got[2]["kind"] != "problem" || got[2]["level"] != "CRITICAL" {
		t.Fatalf("notifications %v, want core-sw's page and recovery, then app1's page", got)
	}
	if st := statesOf(t, d)["app1"]; st != "DOWN" {
		t.Errorf("app1 is %s, want DOWN", st)
	}
}
