package actors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// alertsOf is the host's /alerts body; a synchronous query, so it is also
// a barrier: every message sent to the host before it has been processed.
func alertsOf(t *testing.T, s *System, host string) string {
	t.Helper()
	return answerer{t}.of(s.QueryAlerts(context.Background(), host))
}

// startGrouped starts a System whose one webhook channel groups by g.
func startGrouped(t *testing.T, g Grouping) (*System, *hookRecorder, *fakeClock) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	return startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, grouping: g}), hook, clock
}

// A dynamic host pages when it dies, with the defaults (alert_dynamic off
// narrows only threshold rules).
func TestDynamicHostPagesWithoutAlertDynamic(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, noAlertDynamic: true})
	a := newTestAgent(t, s, clock, "dyn")
	a.beat()
	clock.Advance(30 * time.Second)
	eventually(t, "the page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	hook.mu.Lock()
	msg := hook.msgs[0]
	hook.mu.Unlock()
	if !strings.Contains(msg, "host DOWN") {
		t.Errorf("message %q does not say why", msg)
	}
}

// A declared host that never reports raises its alert down_after
// intervals after the daemon started, not before.
func TestDeclaredHostNeverHeardPagesAfterGrace(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, watch: []string{"ghost"}})
	// The grace counts from the sockets' opening, not from whenever
	// ghost's actor starts: the clock moves on before it may have.
	clock.Advance(29 * time.Second)
	settle(s)
	if got := alertsOf(t, s, "ghost"); strings.Contains(got, "CRITICAL") {
		t.Fatalf("alert before the grace: %s", got)
	}
	clock.Advance(time.Second)
	eventually(t, "the page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	if got := alertsOf(t, s, "ghost"); !strings.Contains(got, `"level":"CRITICAL"`) {
		t.Fatalf("alerts %s", got)
	}
	eventually(t, "ghost published", func() bool { return stateOf(s, "ghost") != 255 })
	if st := stateOf(s, "ghost"); st != StateUnknown {
		t.Errorf("ghost is %s, want UNKNOWN (never heard from)", st)
	}
	// It reports at last: recovery.
	a := newTestAgent(t, s, clock, "ghost")
	a.beat()
	eventually(t, "the recovery", func() bool { return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK" })
}

// A STOPPED host raises nothing, unless it stays stopped longer than
// stopped_after: then its heartbeat alert warns, and clears when it is back.
func TestStoppedHostWarnsAfterStoppedAfter(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, stoppedAfter: time.Hour})
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.shutdown()
	clock.Advance(time.Hour - time.Second)
	if got := alertsOf(t, s, "h"); !strings.Contains(got, `"level":"OK"`) {
		t.Fatalf("alert before stopped_after: %s", got)
	}
	clock.Advance(time.Second)
	eventually(t, "the warning", func() bool { return hook.got() == "problem:heartbeat:WARNING" })
	a.beat()
	eventually(t, "the recovery", func() bool { return hook.got() == "problem:heartbeat:WARNING recovery:heartbeat:OK" })
}

// Hosts that die together page as one notification listing them; when
// they come back, one recovery. Each host's alert counts the page.
func TestOutagePagesAsOneGroup(t *testing.T) {
	s, hook, clock := startGrouped(t, Grouping{Wait: 30 * time.Second, OutageFraction: 0.2, OutageMinHosts: 100})
	var agents []*agent
	for i := range 5 {
		a := newTestAgent(t, s, clock, fmt.Sprintf("rack-%d", i))
		a.beat()
		agents = append(agents, a)
	}
	clock.Advance(30 * time.Second) // all DOWN: the group opens
	settle(s)
	clock.Advance(30 * time.Second) // the group's wait is over
	eventually(t, "one grouped page", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	hook.mu.Lock()
	body := hook.bodies[0]
	hook.mu.Unlock()
	if body["group_size"] != float64(5) || len(body["hosts"].([]any)) != 5 || len(body["alerts"].([]any)) != 5 {
		t.Fatalf("grouped body %v", body)
	}
	if body["host"] != "5 hosts" || !strings.Contains(body["message"].(string), "rack-0") {
		t.Errorf("grouped body %v", body)
	}
	eventually(t, "each alert counts the page", func() bool {
		for _, a := range agents {
			if !strings.Contains(alertsOf(t, s, a.name), `"notification_count":1`) {
				return false
			}
		}
		return true
	})
	for _, a := range agents {
		a.beat()
	}
	clock.Advance(30 * time.Second)
	eventually(t, "one grouped recovery", func() bool { return hook.got() == "problem:heartbeat:CRITICAL recovery:heartbeat:OK" })
}

// A problem that clears within the group wait is not sent, and neither is
// its recovery.
func TestBlipWithinGroupWaitSendsNothing(t *testing.T) {
	s, hook, clock := startGrouped(t, Grouping{Wait: 30 * time.Second})
	blip, later := newTestAgent(t, s, clock, "blip"), newTestAgent(t, s, clock, "later")
	blip.beat()
	clock.Advance(10 * time.Second)
	later.beat()
	clock.Advance(20 * time.Second) // blip DOWN
	settle(s)
	blip.beat() // back within the wait
	clock.Advance(10 * time.Second)
	blip.beat()
	clock.Advance(20 * time.Second) // later DOWN; blip's groups are due
	settle(s)
	clock.Advance(30 * time.Second) // later's group is due: its page is the barrier
	eventually(t, "later's page", func() bool { return len(hook.got()) > 0 })
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.posts) != 1 || hook.bodies[0]["host"] != "later" {
		t.Fatalf("posts %v, bodies %v: want only later's page", hook.posts, hook.bodies)
	}
}

// When most of the fleet stops reporting at once, the channels get one
// mass-outage notification that says whether ingest still receives.
func TestMassOutageIsOneNotification(t *testing.T) {
	s, hook, clock := startGrouped(t, Grouping{Wait: 30 * time.Second, OutageFraction: 0.2, OutageMinHosts: 5})
	var alive []*agent
	for i := range 12 {
		a := newTestAgent(t, s, clock, fmt.Sprintf("h%02d", i))
		a.beat()
		if i >= 10 {
			alive = append(alive, a)
		}
	}
	for range 3 {
		clock.Advance(10 * time.Second)
		for _, a := range alive {
			a.beat()
		}
	}
	settle(s) // ten DOWN, two UP: the group opens
	eventually(t, "ten DOWN published", func() bool { return s.Fleet.Snapshot().CountByState(StateDown) == 10 })
	clock.Advance(10 * time.Second)
	for _, a := range alive {
		a.beat() // ingest still receives
	}
	clock.Advance(20 * time.Second)
	eventually(t, "one notification", func() bool { return hook.got() == "problem:heartbeat:CRITICAL" })
	hook.mu.Lock()
	body := hook.bodies[0]
	hook.mu.Unlock()
	msg := body["message"].(string)
	if !strings.HasPrefix(msg, "mass outage: 10 of 12 hosts stopped reporting within 30s") || !strings.Contains(msg, "still receives") {
		t.Errorf("message %q", msg)
	}
	o, _ := body["outage"].(map[string]any)
	if o == nil || o["hosts"] != float64(10) || o["ingest_receiving"] != true {
		t.Errorf("outage %v", body["outage"])
	}
}

// A level that rises again within the group wait is one page at the level
// it reached, from where it started: a dying host is DEGRADED for the
// moment between its addresses' deadlines, then DOWN, and pages once.
func TestEscalationWithinGroupWaitIsOnePage(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, grouping: Grouping{Wait: 30 * time.Second},
		rules: []alert.Rule{{Metric: "cpu_monitor.cpu_percent", Op: alert.OpGT, Warning: ptr(80.0), Critical: ptr(90.0)}}})
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.sample("cpu_monitor", `{"cpu_percent":85}`)
	clock.Advance(time.Second)
	a.sample("cpu_monitor", `{"cpu_percent":95}`)
	clock.Advance(30 * time.Second)
	eventually(t, "the page", func() bool { return hook.got() != "" })
	settle(s)
	eventually(t, "counted", func() bool {
		return strings.Contains(alertsOf(t, s, "h"), `"notification_count":1`)
	})
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.posts) != 1 || hook.posts[0] != "problem:cpu_monitor.cpu_percent:CRITICAL" || hook.bodies[0]["prev_level"] != "OK" {
		t.Fatalf("posts %v %v", hook.posts, hook.bodies)
	}
	if msg := hook.msgs[0]; !strings.HasPrefix(msg, "cpu_monitor.cpu_percent OK -> CRITICAL") {
		t.Errorf("message %q", msg)
	}
}
