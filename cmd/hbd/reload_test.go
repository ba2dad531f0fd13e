package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hbd-project/hbd/config"
)

// Every key of hbd.toml has a deliberate reload class, and the table names
// no key that does not exist: a key added to config.Daemon fails here
// until someone decides whether a reload may change it.
func TestEveryKeyIsClassified(t *testing.T) {
	d := config.DefaultDaemon()
	seen := map[string]bool{}
	walkKeys(reflect.ValueOf(&d).Elem(), reflect.ValueOf(&d).Elem(), "", func(key string, _, _ reflect.Value) {
		seen[key] = true
		k, ok := reloadKeys[key]
		if !ok {
			t.Errorf("key %s is not in reloadKeys: decide whether a reload applies it", key)
		}
		if !k.reload && k.why == "" {
			t.Errorf("key %s needs a restart without saying why", key)
		}
	})
	for key := range reloadKeys {
		if !seen[key] {
			t.Errorf("reloadKeys names %s, which config.Daemon does not have", key)
		}
	}
	if len(seen) < 60 {
		t.Errorf("only %d keys walked", len(seen))
	}
}

func parse(t *testing.T, text string) *config.Daemon {
	t.Helper()
	cfg, err := config.ParseDaemon("hbd.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const baseConfig = `hbd_port = 51100
log_level = "info"
watchhosts = ["a", "b"]

[[threshold]]
metric = "cpu_monitor.cpu_percent"
warning = 80.0

[[threshold]]
metric = "disk_monitor.*.percent"
critical = 95.0

[[notify]]
type = "webhook"
name = "ops"
url = "http://127.0.0.1:51101/hook"

[limits]
silences_total = 100
`

// The diff names each changed key once, classified: reloadable keys with
// what changed (rules by metric, hosts by count), the others as needing a
// restart; a rule that only moved down the file is no change.
func TestDiffConfig(t *testing.T) {
	old := parse(t, baseConfig)
	next := parse(t, strings.NewReplacer(
		`hbd_port = 51100`, `hbd_port = 51102`,
		`log_level = "info"`, "log_level = \"debug\"\n\n# a comment that moves every table down",
		`watchhosts = ["a", "b"]`, `watchhosts = ["b", "c", "d"]`,
		`warning = 80.0`, `warning = 70.0`,
		`silences_total = 100`, "silences_total = 50\nplugins_per_host = 10",
	).Replace(baseConfig)+`
[[threshold]]
metric = "memory_monitor.percent"
warning = 90.0
`)
	got := map[string]keyChange{}
	var keys []string
	for _, c := range diffConfig(old, next) {
		got[c.key] = c
		keys = append(keys, c.key)
	}
	want := []string{"hbd_port", "watchhosts", "log_level", "threshold", "limits.plugins_per_host", "limits.silences_total"}
	if !slices.Equal(keys, want) {
		t.Fatalf("changed keys %v, want %v", keys, want)
	}
	for key, restart := range map[string]bool{"hbd_port": true, "limits.plugins_per_host": true, "watchhosts": false, "log_level": false, "threshold": false, "limits.silences_total": false} {
		if got[key].restart != restart {
			t.Errorf("%s: restart = %v, want %v", key, got[key].restart, restart)
		}
	}
	for key, what := range map[string]string{
		"threshold":  "1 added, 1 changed",
		"watchhosts": "2 added, 1 removed",
		"log_level":  `"info" -> "debug"`,
		"hbd_port":   "51100 -> 51102",
	} {
		if got[key].what != what {
			t.Errorf("%s: %q, want %q", key, got[key].what, what)
		}
	}
	if _, ok := got["notify"]; ok {
		t.Error("notify reported changed: only its line moved")
	}

	// Nothing changed: nothing reported.
	if d := diffConfig(old, parse(t, baseConfig)); len(d) != 0 {
		t.Errorf("the same config differs: %+v", d)
	}
	// A removed rule.
	fewer := parse(t, strings.Replace(baseConfig, "[[threshold]]\nmetric = \"disk_monitor.*.percent\"\ncritical = 95.0\n", "", 1))
	if d := diffConfig(old, fewer); len(d) != 1 || d[0].key != "threshold" || d[0].what != "1 removed" {
		t.Errorf("removed rule: %+v", d)
	}
}

// [[maintenance]] windows reload in place, counted by name like channels.
func TestDiffConfigMaintenance(t *testing.T) {
	const window = `
[[maintenance]]
name = "%s"
hosts = "db*"
schedule = "%s"
`
	old := parse(t, baseConfig+fmt.Sprintf(window, "patching", "Sat 02:00-04:00"))
	next := parse(t, baseConfig+fmt.Sprintf(window, "patching", "Sun 02:00-04:00")+fmt.Sprintf(window, "backups", "* 03:00-03:30"))
	d := diffConfig(old, next)
	if len(d) != 1 || d[0].key != "maintenance" || d[0].restart || d[0].what != "1 added, 1 changed" {
		t.Errorf("diff %+v, want maintenance reloadable: 1 added, 1 changed", d)
	}
}

// A key that needs a restart is put back to the value in force, so the
// config the daemon keeps is what runs, and the next reload reports it
// again until the restart.
func TestRevert(t *testing.T) {
	old := parse(t, baseConfig)
	next := parse(t, strings.Replace(strings.Replace(baseConfig, "51100", "51102", 1), `silences_total = 100`, "silences_total = 100\n[api]\nrate = 5.0", 1))
	revert(next, old, "hbd_port")
	revert(next, old, "api.rate")
	if next.HBDPort != 51100 || next.API.Rate != old.API.Rate {
		t.Errorf("after revert: hbd_port %d, api.rate %v", next.HBDPort, next.API.Rate)
	}
	if d := diffConfig(old, next); len(d) != 0 {
		t.Errorf("still differs: %+v", d)
	}
}

// The reload metrics start as a successful load at the start and follow
// each result.
func TestReloadStats(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	s := newReloadStats(start)
	s.record(false, start.Add(time.Minute))
	if v := gaugeValue(t, s.successful); v != 0 {
		t.Errorf("successful after a failure = %v", v)
	}
	if v := gaugeValue(t, s.lastOK); v != 1_800_000_000 {
		t.Errorf("last success after a failure = %v, want the start", v)
	}
	s.record(true, start.Add(2*time.Minute))
	if v := gaugeValue(t, s.successful); v != 1 {
		t.Errorf("successful after a success = %v", v)
	}
	if v := gaugeValue(t, s.lastOK); v != 1_800_000_120 {
		t.Errorf("last success = %v", v)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
