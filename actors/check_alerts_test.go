package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// checkSample is a check result as the agent writes it for [[exec]]
// format = "nagios".
func checkSample(status int, text, output string) string {
	return `{"status":` + string(rune('0'+status)) + `,"status_text":"` + text + `","output":"` + output +
		`","perfdata":{"load1":{"value":2.39,"warn":0,"crit":1000,"min":0}}}`
}

func (h *hookRecorder) lastMsg() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) == 0 {
		return ""
	}
	return h.msgs[len(h.msgs)-1]
}

// A check result raises "<plugin>.status" at the check's level with no
// rule, its output line as the text of every transition, and recovers.
// A rule on its perfdata works beside it; a rule on the status path does
// not fight the check.
func TestCheckResultRaisesItsOwnAlert(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	one := 1.0
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL, rules: []alert.Rule{
		{Metric: "check_load.perfdata.load1.value", Op: alert.OpGT, Warning: &one},
		{Metric: "check_load.status", Op: alert.OpGT, Warning: &one}, // would say OK at 1: the check wins
	}})
	a := newTestAgent(t, s, clock, "web01")
	a.beat()

	a.sample("check_load", checkSample(1, "WARNING", "LOAD WARNING - total load average: 2.39, 3.14, 2.34"))
	eventually(t, "the check's page and the perfdata rule's", func() bool {
		return hook.gotSorted() == "problem:check_load.perfdata.load1.value:WARNING problem:check_load.status:WARNING"
	})
	if got := alertsOf(t, s, "web01"); !strings.Contains(got, `"metric_path":"check_load.status","level":"WARNING"`) ||
		!strings.Contains(got, `"text":"LOAD WARNING - total load average: 2.39, 3.14, 2.34"`) {
		t.Fatalf("alerts: %s", got)
	}
	for _, m := range hook.msgs {
		if strings.HasPrefix(m, "check_load.status") && m != "check_load.status OK -> WARNING: LOAD WARNING - total load average: 2.39, 3.14, 2.34" {
			t.Errorf("message %q, want the transition and the check's text", m)
		}
	}

	clock.Advance(time.Minute)
	a.sample("check_load", checkSample(2, "CRITICAL", "LOAD CRITICAL - load average: 9.1"))
	eventually(t, "the escalation", func() bool { return strings.HasSuffix(hook.got(), "problem:check_load.status:CRITICAL") })
	if m := hook.lastMsg(); m != "check_load.status WARNING -> CRITICAL: LOAD CRITICAL - load average: 9.1" {
		t.Errorf("escalation message %q", m)
	}

	clock.Advance(time.Minute)
	a.sample("check_load", checkSample(0, "OK", "LOAD OK - load average: 0.1"))
	eventually(t, "the recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:check_load.status:OK") })
	if m := hook.lastMsg(); m != "check_load.status recovered: CRITICAL -> OK: LOAD OK - load average: 0.1" {
		t.Errorf("recovery message %q", m)
	}
	if n := s.Stats.ChecksInvalid.Load(); n != 0 {
		t.Errorf("ChecksInvalid = %d for valid results", n)
	}
	// The API's text is the newest output, also while the level holds.
	clock.Advance(time.Minute)
	a.sample("check_load", checkSample(0, "OK", "LOAD OK - load average: 0.2"))
	if got := alertsOf(t, s, "web01"); !strings.Contains(got, `"text":"LOAD OK - load average: 0.2"`) {
		t.Errorf("alerts after a second OK: %s", got)
	}
	// A rule's alert on a path ending in .status is no check's.
	if got := alertsOf(t, s, "web01"); strings.Count(got, `"text"`) != 1 {
		t.Errorf("only the check's alert has a text: %s", got)
	}
}

// A forged or broken check result is UNKNOWN with a bounded text and is
// counted; a JSON plugin's own "status" key is no check result.
func TestCheckResultInvalid(t *testing.T) {
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), hook: hook.URL})
	a := newTestAgent(t, s, clock, "web01")
	a.beat()

	a.sample("web", `{"status":200,"ok":true}`)
	a.sample("job", `{"status":"running","status_text":"busy"}`)
	a.sample("check_x", `{"status":7,"status_text":"OK","output":"`+strings.Repeat("x", 5000)+`"}`)
	eventually(t, "the UNKNOWN page", func() bool { return hook.got() == "problem:check_x.status:UNKNOWN" })
	if m := hook.lastMsg(); !strings.HasPrefix(m, `check_x.status OK -> UNKNOWN: invalid check result: status 7 with status_text "OK"`) {
		t.Errorf("message %q", m)
	}
	if n := s.Stats.ChecksInvalid.Load(); n != 1 {
		t.Errorf("ChecksInvalid = %d, want 1", n)
	}

	clock.Advance(time.Minute)
	a.sample("check_x", `{"status":2,"status_text":"CRITICAL","output":"`+strings.Repeat("y", 5000)+"\\u0000\\n"+`"}`)
	eventually(t, "the CRITICAL page", func() bool { return strings.HasSuffix(hook.got(), "problem:check_x.status:CRITICAL") })
	m := hook.lastMsg()
	text := strings.TrimPrefix(m, "check_x.status UNKNOWN -> CRITICAL: ")
	if len(text) > alert.MaxCheckText || strings.ContainsAny(text, "\x00\n") || !strings.HasPrefix(text, "yyy") {
		t.Errorf("text of a forged output: %d bytes, %q...", len(text), text[:min(len(text), 40)])
	}
	got := alertsOf(t, s, "web01")
	if strings.Contains(got, "web.status") || strings.Contains(got, "job.status") {
		t.Errorf("a JSON plugin's status key raised an alert: %s", got)
	}
}
