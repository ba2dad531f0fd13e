package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pages returns the webhook notifications about the heartbeat alert.
func (h *hookServer) pages(kind string) []map[string]any {
	var out []map[string]any
	for _, m := range h.received() {
		if m["metric_path"] == "heartbeat" && m["kind"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// listed reports whether notification m names host, alone or in its group.
func listed(m map[string]any, host string) bool {
	if m["host"] == host {
		return true
	}
	hosts, _ := m["hosts"].([]any)
	for _, h := range hosts {
		if h == host {
			return true
		}
	}
	return false
}

// With the defaults plus one [[notify]], every way a host can die pages,
// once: a real agent that registered itself and is killed with SIGKILL,
// and a declared host that never reports.
func TestEveryDeadHostPagesOnce(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`watchhosts = ["ghost"]
down_after = 2

[alerting]
group_wait = "1s"
unreported_after = "4s"

[[notify]]
type = "webhook"
url = %q
`, hook.url))
	agent := startAgent(t, d, "dyn-1", builtinPluginsOff)
	waitFor(t, 20*time.Second, "dyn-1 UP", func() bool { h, ok := d.host(t, "dyn-1"); return ok && h.State == "UP" })
	_ = agent.cmd.Process.Kill() // no clean shutdown: it just dies
	<-agent.done
	waitFor(t, 30*time.Second, "dyn-1 and ghost paged", func() bool {
		var dyn, ghost bool
		for _, m := range hook.pages("problem") {
			dyn = dyn || listed(m, "dyn-1")
			ghost = ghost || listed(m, "ghost")
		}
		return dyn && ghost
	})
	if h, _ := d.host(t, "ghost"); h.State != "UNKNOWN" {
		t.Errorf("ghost is %s, want UNKNOWN", h.State)
	}
	// Once each: the alerts were notified, and more time changes nothing.
	// The API's notification counts are the barrier.
	waitFor(t, 10*time.Second, "both alerts count their page", func() bool {
		var fa fleetAlerts
		getJSON(t, d.http+"/api/0/alerts", &fa)
		n := 0
		for _, a := range fa.Alerts {
			if a.MetricPath == "heartbeat" && a.Level == "CRITICAL" && a.NotificationCount == 1 {
				n++
			}
		}
		return n == 2
	})
	count := map[string]int{}
	for _, m := range hook.pages("problem") {
		for _, h := range []string{"dyn-1", "ghost"} {
			if listed(m, h) {
				count[h]++
			}
		}
	}
	if count["dyn-1"] != 1 || count["ghost"] != 1 {
		t.Fatalf("pages per host %v, want one each: %s", count, hook.summary())
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "declared host has not reported") {
		t.Errorf("journal does not say why ghost is CRITICAL: %s", msgs)
	}
}

// 50 hosts that stop together page as one notification listing them
// (at most two, if the group's wait splits them).
func TestFiftyHostsDownPageAsOne(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`down_after = 2

[alerting]
group_wait = "3s"
outage_min_hosts = 1000

[[notify]]
type = "webhook"
url = %q
`, hook.url))
	beatThenStop(t, d, "rack-%02d", 50)
	waitFor(t, 10*time.Second, "50 hosts UP", func() bool { return d.stats(t).Hosts == 50 })
	// They all stop now: DOWN about two seconds later.
	waitFor(t, 30*time.Second, "every host listed in a page", func() bool {
		n := 0
		for _, m := range hook.pages("problem") {
			if size, ok := m["group_size"].(float64); ok {
				n += int(size)
			} else {
				n++
			}
		}
		return n == 50
	})
	pages := hook.pages("problem")
	if len(pages) > 2 {
		t.Fatalf("%d notifications for 50 hosts, want at most 2: %s", len(pages), hook.summary())
	}
	if len(pages[0]["hosts"].([]any)) == 0 || !strings.Contains(pages[0]["message"].(string), "rack-") {
		t.Errorf("the group does not list its hosts: %v", pages[0])
	}
}

// When the whole fleet goes silent at once, the channels get one
// mass-outage notification, which says the daemon received nothing.
func TestWholeFleetSilentIsOneMassOutage(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`down_after = 2

[alerting]
group_wait = "3s"

[[notify]]
type = "webhook"
url = %q
`, hook.url))
	beatThenStop(t, d, "node-%02d", 20)
	waitFor(t, 10*time.Second, "20 hosts", func() bool { return d.stats(t).Hosts == 20 })
	waitFor(t, 30*time.Second, "a notification for the fleet", func() bool { return len(hook.pages("problem")) > 0 })
	var fa fleetAlerts
	waitFor(t, 10*time.Second, "every host CRITICAL", func() bool {
		getJSON(t, d.http+"/api/0/alerts?level=CRITICAL", &fa)
		return fa.Summary.Critical == 20
	})
	pages := hook.pages("problem")
	if len(pages) != 1 {
		t.Fatalf("%d notifications, want one mass outage: %s", len(pages), hook.summary())
	}
	msg := pages[0]["message"].(string)
	if !strings.HasPrefix(msg, "mass outage: 20 of 20 hosts") || !strings.Contains(msg, "received nothing") {
		t.Errorf("message %q", msg)
	}
}

// beatThenStop registers n hosts named after format with three rounds of
// heartbeats at a real fleet's pace (1 s interval), then stops them all
// at once, as a rack losing power would.
func beatThenStop(t *testing.T, d *daemon, format string, n int) {
	t.Helper()
	var senders []*sender
	for i := range n {
		senders = append(senders, newSender(t, d, fmt.Sprintf(format, i), d.key, false))
	}
	for range 3 {
		for i, s := range senders {
			s.heartbeat(time.Second, uint32(i))
		}
		time.Sleep(500 * time.Millisecond) // the heartbeat pace, not a wait for a result
	}
}
