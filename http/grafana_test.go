package http_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	hbdhttp "github.com/hbd-project/hbd/http"
)

// The Grafana dashboard in docs/grafana reads the fleet exposition: every
// metric name its PromQL (panels and the $host variable) mentions is one
// /metrics/fleet declares when fed a real agent's samples (the newest of
// each plugin in internal/samplestore's Linux fixture).
func TestGrafanaDashboardUsesEmittedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana/hbd-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("hbd-fleet.json: %v", err)
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid")
	}

	// What the exposition declares, fed a real agent's samples.
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{})
	c := client(t, ln, "127.0.0.1:40000", nil)
	d.heartbeat("web01")
	newest := map[string]string{}
	f, err := os.Open("../internal/samplestore/testdata/agent_linux.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 3)
		newest[fields[0]] = fields[2]
	}
	for plugin, data := range newest {
		d.sample("web01", plugin, data)
	}
	declared := map[string]bool{}
	eventually(t, "every plugin of web01 in the exposition", func() bool {
		body := string(c.get("/metrics/fleet").body)
		clear(declared)
		for _, line := range strings.Split(body, "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				declared[strings.Fields(name)[0]] = true
			}
		}
		return strings.Count(body, `hbd_plugin_sample_timestamp_seconds{host="web01"`) == len(newest)
	})

	name := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	check := func(where, expr string) int {
		n := 0
		for _, id := range name.FindAllString(expr, -1) {
			if !strings.HasPrefix(id, "hbd_") {
				continue
			}
			n++
			if !declared[id] {
				t.Errorf("%s: %s is not a metric /metrics/fleet emits (expr %s)", where, id, expr)
			}
		}
		return n
	}
	panels := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		panels++
		n := 0
		for _, tg := range p.Targets {
			n += check("panel "+p.Title, tg.Expr)
		}
		if n == 0 {
			t.Errorf("panel %q queries no hbd metric", p.Title)
		}
	}
	hostVar := false
	for _, v := range dash.Templating.List {
		if v.Name == "host" {
			hostVar = check("variable $host", string(v.Query)) > 0
		}
	}
	if !hostVar {
		t.Error("the dashboard has no $host variable over an hbd metric")
	}
	for _, want := range []string{"hbd_host_state", "hbd_alert_level", "hbd_host_rtt_seconds", "hbd_cpu_monitor_cpu_percent"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	if panels < 10 {
		t.Errorf("%d panels", panels)
	}
}
