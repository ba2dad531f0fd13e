package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// checkLoad is Debian's check_load (monitoring-plugins-basic, installed
// by .ci/run).
const checkLoad = "/usr/lib/nagios/plugins/check_load"

// A real check_load run by a real agent with format = "nagios", with
// thresholds every load passes (WARNING at 0, CRITICAL at 1000): the
// daemon raises check_load.status WARNING with no rule, its text is the
// plugin's first line in the journal and the webhook, and the perfdata
// values are stored in the plugin's samples. The command is one string and
// the 1s interval has no timeout, as an operator writes them; a second
// [[exec]] runs a pipe with shell = true.
func TestNagiosCheckRaisesWarning(t *testing.T) {
	if _, err := os.Stat(checkLoad); err != nil {
		if isCI() {
			t.Fatalf("%s missing under CI (.ci/run installs monitoring-plugins-basic): %v", checkLoad, err)
		}
		t.Skipf("%s is not installed (apt-get install monitoring-plugins-basic): %v", checkLoad, err)
	}
	hook := newHookServer(t)
	d := startDaemon(t, fmt.Sprintf(`
[[notify]]
type = "webhook"
group = false
name = "ops-hook"
url = %q
min_level = "WARNING"
`, hook.url))
	startAgent(t, d, "web01", builtinPluginsOff+`
[[exec]]
name = "check_load"
command = "`+checkLoad+` -w 0,0,0 -c 1000,1000,1000"
format = "nagios"
interval = "1s"

[[exec]]
name = "piped"
command = "echo '{\"answer\": 42}' | cat"
shell = true
interval = "1s"
`)

	hostAlert := func() (alertJSON, bool) { return hostAlertAt(d, "web01", "check_load.status") }
	waitFor(t, 30*time.Second, "check_load.status WARNING", func() bool {
		a, ok := hostAlert()
		return ok && a.Level == "WARNING"
	})
	var withText struct {
		Alerts []struct {
			MetricPath string `json:"metric_path"`
			Text       string `json:"text"`
		} `json:"alerts"`
	}
	getJSON(t, d.http+"/api/0/hosts/web01/alerts", &withText)
	for _, a := range withText.Alerts {
		if a.MetricPath == "check_load.status" && !strings.HasPrefix(a.Text, "LOAD WARNING - ") {
			t.Errorf("check_load.status text %q, want check_load's output line", a.Text)
		}
	}
	var fa fleetAlerts
	waitFor(t, 20*time.Second, "the fleet's alerts", func() bool {
		getJSON(t, d.http+"/api/0/alerts", &fa)
		return len(fa.Alerts) > 0
	})
	if len(fa.Alerts) != 1 || fa.Alerts[0].MetricPath != "check_load.status" || fa.Alerts[0].Level != "WARNING" || fa.Alerts[0].Hostname != "web01" {
		t.Errorf("fleet alerts %+v, want check_load.status WARNING on web01", fa.Alerts)
	}

	waitFor(t, 20*time.Second, "the WARNING notification", func() bool { return len(hook.received()) >= 1 })
	n := hook.received()[0]
	msg, _ := n["message"].(string)
	if n["metric_path"] != "check_load.status" || n["level"] != "WARNING" || n["kind"] != "problem" ||
		!strings.HasPrefix(msg, "check_load.status OK -> WARNING: LOAD WARNING - ") || !strings.Contains(msg, "load average: ") {
		t.Errorf("notification %v, want the WARNING with check_load's text", n)
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "web01: check_load.status OK -> WARNING: LOAD WARNING - ") {
		t.Errorf("journal messages lack the check's transition with its text:\n%s", msgs)
	}

	var ps struct {
		Plugin  string `json:"plugin"`
		Samples []struct {
			Data struct {
				Status     int                           `json:"status"`
				StatusText string                        `json:"status_text"`
				Output     string                        `json:"output"`
				Perfdata   map[string]map[string]float64 `json:"perfdata"`
			} `json:"data"`
		} `json:"samples"`
	}
	getJSON(t, d.http+"/api/0/hosts/web01/plugins/check_load?limit=1", &ps)
	if len(ps.Samples) != 1 {
		t.Fatalf("check_load samples: %+v", ps)
	}
	s := ps.Samples[0].Data
	if s.Status != 1 || s.StatusText != "WARNING" || !strings.HasPrefix(s.Output, "LOAD WARNING") {
		t.Errorf("sample %+v, want status 1 WARNING with the output line", s)
	}
	for _, l := range []string{"load1", "load5", "load15"} {
		p, ok := s.Perfdata[l]
		if _, hasValue := p["value"]; !ok || !hasValue || p["warn"] != 0 || p["crit"] != 1000 || p["min"] != 0 {
			t.Errorf("perfdata %s = %v, want value, warn 0, crit 1000, min 0", l, p)
		}
	}

	var piped struct {
		Samples []struct {
			Data map[string]float64 `json:"data"`
		} `json:"samples"`
	}
	waitFor(t, 20*time.Second, "the shell = true plugin's sample", func() bool {
		getJSON(t, d.http+"/api/0/hosts/web01/plugins/piped?limit=1", &piped)
		return len(piped.Samples) == 1
	})
	if piped.Samples[0].Data["answer"] != 42 {
		t.Errorf("piped sample %v, want answer 42", piped.Samples[0].Data)
	}
}
