package alert

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func fp64(f float64) *float64 { return &f }

func nan() float64 { return math.NaN() }

func inf() float64 { return math.Inf(1) }

func mustCompile(t testing.TB, rules ...Rule) *Rules {
	t.Helper()
	rs, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rs
}

func TestCompileErrors(t *testing.T) {
	ok := Rule{Metric: "cpu_monitor.cpu_percent", Warning: fp64(80), Critical: fp64(90), Op: OpGT}
	with := func(f func(*Rule)) Rule { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name  string
		rule  Rule
		field string
		text  string
	}{
		{"empty metric", with(func(r *Rule) { r.Metric = "" }), "metric", "empty metric"},
		{"plugin only", with(func(r *Rule) { r.Metric = "cpu_monitor" }), "metric", "names no value"},
		{"empty segment", with(func(r *Rule) { r.Metric = "cpu_monitor..x" }), "metric", "empty segment"},
		{"leading dot", with(func(r *Rule) { r.Metric = ".cpu" }), "metric", "empty segment"},
		{"trailing dot", with(func(r *Rule) { r.Metric = "cpu." }), "metric", "empty segment"},
		{"star plugin", with(func(r *Rule) { r.Metric = "*.cpu_percent" }), "metric", "plugin name"},
		{"partial star", with(func(r *Rule) { r.Metric = "disk_monitor./h*.percent" }), "metric", "whole segment"},
		{"no thresholds", with(func(r *Rule) { r.Warning, r.Critical = nil, nil }), "warning", "set warning, critical or both"},
		{"no operator", with(func(r *Rule) { r.Op = 0 }), "operator", "unknown operator"},
		{"bad operator", with(func(r *Rule) { r.Op = 99 }), "operator", "unknown operator"},
		{"NaN warning", with(func(r *Rule) { r.Warning = fp64(nan()) }), "warning", "finite"},
		{"Inf critical", with(func(r *Rule) { r.Critical = fp64(inf()) }), "critical", "finite"},
		{"> inverted", with(func(r *Rule) { r.Warning = fp64(95) }), "warning", "above critical"},
		{">= inverted", with(func(r *Rule) { r.Op, r.Warning = OpGE, fp64(95) }), "warning", "above critical"},
		{"< inverted", with(func(r *Rule) { r.Op = OpLT }), "warning", "below critical"},
		{"<= inverted", with(func(r *Rule) { r.Op = OpLE }), "warning", "below critical"},
		{"== same", with(func(r *Rule) { r.Op, r.Warning, r.Critical = OpEQ, fp64(1), fp64(1) }), "warning", "equals critical"},
		{"!= both", with(func(r *Rule) { r.Op = OpNE }), "warning", "not both"},
		{"negative hysteresis", with(func(r *Rule) { r.Hysteresis = -1 }), "hysteresis", ">= 0"},
		{"NaN hysteresis", with(func(r *Rule) { r.Hysteresis = nan() }), "hysteresis", ">= 0"},
		{"hysteresis with ==", with(func(r *Rule) { r.Op, r.Warning, r.Hysteresis = OpEQ, nil, 1 }), "hysteresis", "no meaning"},
		{"negative for", with(func(r *Rule) { r.For = -time.Second }), "for", "negative"},
		{"bad glob", with(func(r *Rule) { r.Hosts = []string{"web*", "db["} }), "hosts", `"db["`},
		{"empty glob", with(func(r *Rule) { r.Hosts = []string{""} }), "hosts", "empty host pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Compile([]Rule{ok, tc.rule})
			if err == nil {
				t.Fatalf("Compile succeeded (%d rules)", rs.Len())
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RuleError", err)
			}
			if re.Index != 1 || re.Field != tc.field {
				t.Errorf("RuleError index %d field %q, want 1 %q", re.Index, re.Field, tc.field)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.HasPrefix(err.Error(), "threshold rule 1: "+tc.field+": ") {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
		})
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	good := Rule{Metric: "a.b", Critical: fp64(1), Op: OpGT}
	_, err := Compile([]Rule{
		{Metric: "a", Critical: fp64(1), Op: OpGT, For: -1},
		good,
		{Metric: "a.b", Op: OpGT},
	})
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v does not unwrap to a list", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("%v is not a *RuleError", e)
		}
		got = append(got, strings.Join([]string{string(rune('0' + re.Index)), re.Field}, ":"))
	}
	if want := "0:metric 0:for 2:warning"; strings.Join(got, " ") != want {
		t.Fatalf("errors %q, want %q", got, want)
	}
}

func TestCompileCopiesRules(t *testing.T) {
	w := 80.0
	in := []Rule{{Metric: "cpu_monitor.cpu_percent", Warning: &w, Op: OpGT, Hosts: []string{"web*"}}}
	rs := mustCompile(t, in...)
	w = 10
	in[0].Hosts[0] = "db*"
	in[0].Metric = "x.y"
	hr := rs.ForHost("web1", false)
	var rule *Rule
	if err := hr.Evaluate("cpu_monitor", []byte(`{"cpu_percent":50}`), func(_ string, r *Rule, _ Value) { rule = r }); err != nil {
		t.Fatal(err)
	}
	if rule == nil || *rule.Warning != 80 || rule.Hosts[0] != "web*" {
		t.Fatalf("compiled rule changed with the caller's copy: %+v", rule)
	}
}

func TestCompileEmpty(t *testing.T) {
	rs := mustCompile(t)
	if rs.Len() != 0 || rs.ForHost("h", true) != nil {
		t.Fatal("empty rule set selected rules")
	}
	var nilRules *Rules
	if nilRules.Len() != 0 || nilRules.ForHost("h", true) != nil {
		t.Fatal("nil *Rules selected rules")
	}
}

// winner evaluates one sample and returns path -> winning rule's Critical.
func winners(t *testing.T, hr *HostRules, plugin, data string) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	err := hr.Evaluate(plugin, []byte(data), func(p string, r *Rule, _ Value) {
		got[p] = *r.Critical
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRulePrecedence(t *testing.T) {
	disk := `{"/":{"percent":65},"/home":{"percent":91}}`
	star := Rule{Metric: "disk_monitor.*.percent", Critical: fp64(90), Op: OpGT}
	home := Rule{Metric: "disk_monitor./home.percent", Critical: fp64(99), Op: OpGT}
	same := Rule{Metric: "disk_monitor.*.percent", Critical: fp64(95), Op: OpGT}
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  map[string]float64
	}{
		{"specific after wildcard", []Rule{star, home},
			map[string]float64{"disk_monitor./.percent": 90, "disk_monitor./home.percent": 99}},
		{"wildcard after specific", []Rule{home, star},
			map[string]float64{"disk_monitor./.percent": 90, "disk_monitor./home.percent": 90}},
		{"same pattern twice", []Rule{star, same},
			map[string]float64{"disk_monitor./.percent": 95, "disk_monitor./home.percent": 95}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := winners(t, mustCompile(t, tc.rules...).ForHost("h", true), "disk_monitor", disk)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for p, c := range tc.want {
				if got[p] != c {
					t.Errorf("%s: winning critical %v, want %v", p, got[p], c)
				}
			}
		})
	}
}

func TestForHost(t *testing.T) {
	def := Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(90), Op: OpGT}
	db := Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(95), Op: OpGT, Hosts: []string{"db*", "cache?"}}
	emptyHosts := Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(97), Op: OpGT, Hosts: []string{}}
	const sample = `{"cpu_percent":50}`
	for _, tc := range []struct {
		name      string
		rules     []Rule
		host      string
		inDefault bool
		want      float64 // winning critical; 0: no rule applies
	}{
		{"default rule, host in default set", []Rule{def}, "web1", true, 90},
		{"default rule, host outside", []Rule{def}, "web1", false, 0},
		{"scoped rule wins for its hosts", []Rule{def, db}, "db1", true, 95},
		{"scoped rule applies outside the default set", []Rule{def, db}, "db1", false, 95},
		{"scoped rule ignores other hosts", []Rule{def, db}, "web1", true, 90},
		{"second glob", []Rule{def, db}, "cache7", false, 95},
		{"glob is whole-name", []Rule{db}, "xdb1", true, 0},
		{"later default rule overrides scoped", []Rule{db, def}, "db1", true, 90},
		{"scoped still applies when default does not", []Rule{db, def}, "db1", false, 95},
		{"empty hosts list is the default set", []Rule{emptyHosts}, "web1", true, 97},
		{"empty hosts list, host outside", []Rule{emptyHosts}, "web1", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := mustCompile(t, tc.rules...).ForHost(tc.host, tc.inDefault)
			if tc.want == 0 {
				if hr != nil {
					t.Fatalf("ForHost = %+v, want nil", hr)
				}
				return
			}
			if got := winners(t, hr, "cpu_monitor", sample)["cpu_monitor.cpu_percent"]; got != tc.want {
				t.Fatalf("winning critical %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForHostSharesUnscopedRules(t *testing.T) {
	rs := mustCompile(t,
		Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(90), Op: OpGT},
		Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(95), Op: OpGT, Hosts: []string{"db*"}},
	)
	web1, web2, db1 := rs.ForHost("web1", true), rs.ForHost("web2", true), rs.ForHost("db1", true)
	if web1 == nil || web1 != web2 {
		t.Fatalf("unscoped hosts got distinct HostRules %p %p", web1, web2)
	}
	if db1 == web1 {
		t.Fatal("a scoped host got the shared HostRules")
	}
	onlyScoped := mustCompile(t, Rule{Metric: "a.b", Critical: fp64(1), Op: OpGT, Hosts: []string{"db*"}})
	if hr := onlyScoped.ForHost("web1", true); hr != nil {
		t.Fatalf("no rule applies, got %+v", hr)
	}
}

func TestHasPlugin(t *testing.T) {
	rs := mustCompile(t,
		Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(90), Op: OpGT},
		Rule{Metric: "app.queue.depth", Critical: fp64(100), Op: OpGT},
		Rule{Metric: "disk_monitor.*.percent", Critical: fp64(90), Op: OpGT, Hosts: []string{"db*"}},
	)
	hr := rs.ForHost("web1", true)
	for _, tc := range []struct {
		plugin string
		want   bool
	}{
		{"cpu_monitor", true},
		{"disk_monitor", false}, // its rule is scoped to db*
		{"memory_monitor", false},
		{"cpu", false},
		{"cpu_monitor.x", false},
		{"app", true},       // key path queue.depth
		{"app.queue", true}, // dotted plugin name, key depth
		{"app.queue.depth", false},
		{"app.other", false},
		{"", false},
	} {
		if got := hr.HasPlugin(tc.plugin); got != tc.want {
			t.Errorf("HasPlugin(%q) = %v, want %v", tc.plugin, got, tc.want)
		}
	}
	var nilHR *HostRules
	if nilHR.HasPlugin("cpu_monitor") {
		t.Error("nil HostRules has a plugin")
	}
}

func TestHasRule(t *testing.T) {
	def := Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(90), Op: OpGT}
	disk := Rule{Metric: "disk_monitor.*.percent", Critical: fp64(90), Op: OpGT, Hosts: []string{"db*"}}
	rs := mustCompile(t, def, disk)
	web, db := rs.ForHost("web1", true), rs.ForHost("db1", true)
	for _, tc := range []struct {
		hr     *HostRules
		metric string
		want   bool
	}{
		{web, "cpu_monitor.cpu_percent", true},
		{web, "disk_monitor.*.percent", false}, // scoped to db*
		{db, "disk_monitor.*.percent", true},
		{db, "disk_monitor./.percent", false}, // a path, not the rule's pattern
		{nil, "cpu_monitor.cpu_percent", false},
	} {
		if got := tc.hr.HasRule(tc.metric); got != tc.want {
			t.Errorf("HasRule(%q) = %v, want %v", tc.metric, got, tc.want)
		}
	}
}
