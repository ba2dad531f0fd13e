package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// call is one Evaluate callback, with the value printed for comparison.
type call struct {
	path, value string
}

func (c call) String() string { return c.path + "=" + c.value }

func valueString(v Value) string {
	if !v.OK {
		return "?"
	}
	return fmt.Sprint(v.Num)
}

func evaluate(t *testing.T, hr *HostRules, plugin, data string) []call {
	t.Helper()
	var got []call
	err := hr.Evaluate(plugin, []byte(data), func(p string, _ *Rule, v Value) {
		got = append(got, call{p, valueString(v)})
	})
	if err != nil {
		t.Fatalf("Evaluate(%s): %v", data, err)
	}
	return got
}

func TestEvaluate(t *testing.T) {
	crit := func(metrics ...string) []Rule {
		var rs []Rule
		for _, m := range metrics {
			rs = append(rs, Rule{Metric: m, Critical: fp64(90), Op: OpGT})
		}
		return rs
	}
	for _, tc := range []struct {
		name   string
		rules  []Rule
		plugin string
		data   string
		want   string // calls in order, space-separated
	}{
		{"cpu", crit("cpu_monitor.cpu_percent", "cpu_monitor.load_1min"), "cpu_monitor",
			`{"cpu_percent":42.5,"load_1min":0.5,"load_5min":0.6,"load_15min":0.7}`,
			"cpu_monitor.cpu_percent=42.5 cpu_monitor.load_1min=0.5"},
		{"disk partitions", crit("disk_monitor.*.percent"), "disk_monitor",
			`{"/":{"percent":65,"total_gb":50},"/home":{"percent":91},"io":{"read_count":5,"read_bytes_per_s":1.5}}`,
			"disk_monitor./.percent=65 disk_monitor./home.percent=91"},
		{"star is one segment", crit("x.*.c"), "x",
			`{"a":{"b":{"c":1}},"d":{"c":2},"e":{"f":{"c":3}}}`,
			"x.d.c=2"},
		{"star at the end matches objects as unknown", crit("x.*"), "x",
			`{"a":{"b":1},"c":3}`,
			"x.a=? x.c=3"},
		{"two stars", crit("x.*.*"), "x",
			`{"a":{"b":1,"c":{"d":2}},"e":5}`,
			"x.a.b=1 x.a.c=?"},
		{"object match and deeper match", crit("p.a", "p.a.b"), "p",
			`{"a":{"b":1}}`,
			"p.a=? p.a.b=1"},
		{"non-numeric values", crit("p.*"), "p",
			`{"s":"12","t":true,"f":false,"n":null,"o":{},"a":[1,2],"neg":-1.5e2,"zero":0,"big":1e400,"tiny":1e-400}`,
			"p.s=? p.t=? p.f=? p.n=? p.o=? p.a=? p.neg=-150 p.zero=0 p.big=? p.tiny=0"},
		{"missing path", crit("p.gone", "p.x.gone"), "p", `{"x":{"y":1}}`, ""},
		{"no descent into arrays", crit("p.a.0", "p.*.x", "p.b.*"), "p",
			`{"a":[5,{"x":1}],"b":[{"x":2}]}`, ""},
		{"dotted key", crit("net.eth0.100.rx"), "net",
			`{"eth0.100":{"rx":7},"eth0":{"100":{"rx":8}}}`,
			"net.eth0.100.rx=7 net.eth0.100.rx=8"},
		{"dotted key under a star", crit("net.*.rx"), "net",
			`{"eth0.100":{"rx":7},"lo":{"rx":1}}`,
			"net.eth0.100.rx=7 net.lo.rx=1"},
		{"dotted key must match whole segments", crit("net.eth0.rx"), "net",
			`{"eth0.100":{"rx":7},"eth0.":{"rx":1},"eth":{"rx":2}}`, ""},
		{"dotted plugin name", crit("app.queue.depth"), "app.queue",
			`{"depth":3,"queue":{"depth":4}}`, "app.queue.depth=3"},
		{"escaped keys", crit("disk_monitor.*.percent", "p.cpu"), "disk_monitor",
			`{"\/":{"percent":70},"\u002fvar":{"percent":71}}`,
			"disk_monitor./.percent=70 disk_monitor./var.percent=71"},
		{"escaped literal key", crit("p.cpu"), "p", `{"c\u0070u":5,"cp\"u":6}`, "p.cpu=5"},
		{"strings with brackets are skipped", crit("p.z"), "p",
			`{"a":"}{][\"","b":{"c":"}}}"},"z":9}`, "p.z=9"},
		{"whitespace", crit("p.a.b"), "p",
			" \n{ \"a\" :\t{ \"b\" : 1 , \"c\" : [ ] } , \"d\" : 2 }\r\n", "p.a.b=1"},
		{"duplicate keys are reported twice", crit("p.a"), "p", `{"a":1,"a":2}`, "p.a=1 p.a=2"},
		{"other plugin", crit("p.a"), "q", `{"a":1}`, ""},
		{"empty object", crit("p.a"), "p", `{}`, ""},
		{"empty key under star", crit("p.*"), "p", `{"":1}`, "p.=1"},
		{"deep skipped data", crit("p.z"), "p",
			`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `,"z":1}`, "p.z=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := evaluate(t, mustCompile(t, tc.rules...).ForHost("h", true), tc.plugin, tc.data)
			var s []string
			for _, c := range got {
				s = append(s, c.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Fatalf("calls\n got: %s\nwant: %s", strings.Join(s, " "), tc.want)
			}
		})
	}
}

func TestEvaluateLiteralPathIsRuleMetric(t *testing.T) {
	// Literal patterns reuse the rule's string instead of building one.
	hr := mustCompile(t, Rule{Metric: "cpu_monitor.cpu_percent", Critical: fp64(90), Op: OpGT}).ForHost("h", true)
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test runs this test again without it)")
	}
	data := []byte(`{"cpu_percent":1,"x":{"y":[1,2]}}`)
	fn := func(string, *Rule, Value) {}
	allocs := testing.AllocsPerRun(100, func() {
		_ = hr.Evaluate("cpu_monitor", data, fn)
	})
	if allocs != 0 {
		t.Fatalf("Evaluate allocated %v times per run, want 0", allocs)
	}
}

func TestEvaluateErrors(t *testing.T) {
	hr := mustCompile(t, Rule{Metric: "p.a", Critical: fp64(90), Op: OpGT}).ForHost("h", true)
	for _, tc := range []struct {
		data      string
		notObject bool
	}{
		{"", false},
		{"   ", false},
		{`{"a":`, false},
		{`{"a":1`, false},
		{`{"a":1}}`, false},
		{`{"a":1,}`, false},
		{`{a:1}`, false},
		{`{"a":01}`, false},
		{"\x00", false},
		{`[1,2]`, true},
		{`[{"a":1}]`, true},
		{`"a"`, true},
		{`null`, true},
		{`42`, true},
	} {
		called := false
		err := hr.Evaluate("p", []byte(tc.data), func(string, *Rule, Value) { called = true })
		if err == nil {
			t.Errorf("Evaluate(%q) succeeded", tc.data)
			continue
		}
		if called {
			t.Errorf("Evaluate(%q) called fn before failing", tc.data)
		}
		if errors.Is(err, errNotObject) != tc.notObject {
			t.Errorf("Evaluate(%q) = %v; not-an-object error: %v", tc.data, err, !tc.notObject)
		}
	}
	// Without a rule for the plugin, data is not read at all.
	if err := hr.Evaluate("q", []byte("{broken"), func(string, *Rule, Value) {}); err != nil {
		t.Errorf("Evaluate of an unwatched plugin: %v", err)
	}
	var nilHR *HostRules
	if err := nilHR.Evaluate("p", []byte(`{"a":1}`), func(string, *Rule, Value) { t.Error("fn called") }); err != nil {
		t.Errorf("nil HostRules: %v", err)
	}
}

func TestEvaluateManyRules(t *testing.T) {
	// More rules and deeper paths than the stack buffers hold.
	var rules []Rule
	var obj strings.Builder
	obj.WriteString("{")
	for i := range 40 {
		deep := strings.Repeat(".k", 20)
		rules = append(rules, Rule{Metric: fmt.Sprintf("p.m%d%s", i, deep), Critical: fp64(float64(i)), Op: OpGT})
		if i > 0 {
			obj.WriteString(",")
		}
		fmt.Fprintf(&obj, `"m%d":%s%d%s`, i, strings.Repeat(`{"k":`, 20), i, strings.Repeat("}", 20))
	}
	obj.WriteString("}")
	hr := mustCompile(t, rules...).ForHost("h", true)
	n := 0
	err := hr.Evaluate("p", []byte(obj.String()), func(p string, r *Rule, v Value) {
		if p != r.Metric || v.Num != *r.Critical {
			t.Errorf("path %s rule %s value %v", p, r.Metric, v)
		}
		n++
	})
	if err != nil || n != 40 {
		t.Fatalf("Evaluate: %d calls, %v", n, err)
	}
}

func FuzzEvaluate(f *testing.F) {
	for _, seed := range []string{
		`{"cpu_percent":42.5,"load_1min":0.5}`,
		`{"/":{"percent":65},"/home":{"percent":91},"io":{"read_count":5}}`,
		`{"a":{"b":{"c":1}},"d":{"c":"x"},"e":[{"c":1}],"eth0.100":{"rx":7},"eth0":{"100":{"rx":8}}}`,
		`{"\u002f":{"percent":1e400},"n":null,"t":true,"a":{"a":1,"a":{"c":2}}}`,
		`[1]`, `{"a":`, ``, `{"a":1}}`,
	} {
		f.Add([]byte(seed))
	}
	rules := []Rule{
		{Metric: "p.cpu_percent", Critical: fp64(90), Op: OpGT},
		{Metric: "p.*.percent", Critical: fp64(90), Op: OpGT},
		{Metric: "p.*.*.c", Warning: fp64(1), Op: OpEQ},
		{Metric: "p.eth0.100.rx", Warning: fp64(1), Op: OpLT},
		{Metric: "p.*", Critical: fp64(0), Op: OpNE},
		{Metric: "p.a.*", Critical: fp64(0), Op: OpNE},
	}
	hr := mustCompile(f, rules...).ForHost("h", true)
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []string
		err := hr.Evaluate("p", data, func(p string, r *Rule, v Value) {
			if v.OK && (math.IsNaN(v.Num) || math.IsInf(v.Num, 0)) {
				t.Errorf("non-finite number %v at %s", v.Num, p)
			}
			got = append(got, fmt.Sprintf("%s=%s by %s", p, valueString(v), r.Metric))
		})
		var obj map[string]json.RawMessage
		if wantErr := json.Unmarshal(data, &obj) != nil || obj == nil; (err != nil) != wantErr {
			t.Fatalf("Evaluate(%q) error %v; want error: %v", data, err, wantErr)
		}
		if err == nil {
			// What the HostActors call for samples the wire decoder has
			// checked: the same calls without the validation pass.
			var valid []string
			if err := hr.EvaluateValid("p", data, func(p string, r *Rule, v Value) {
				valid = append(valid, fmt.Sprintf("%s=%s by %s", p, valueString(v), r.Metric))
			}); err != nil || strings.Join(valid, "\n") != strings.Join(got, "\n") {
				t.Fatalf("EvaluateValid(%q) = %q, %v; Evaluate gave %q", data, valid, err, got)
			}
		}
		if err != nil || !utf8.Valid(data) {
			// encoding/json rewrites invalid UTF-8, so the reference below
			// would see other keys than Evaluate.
			return
		}
		want := referenceEvaluate(t, rules, "p", data)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("Evaluate(%q)\n got: %q\nwant: %q", data, got, want)
		}
	})
}

// referenceEvaluate is a slow, independent Evaluate for the fuzz test: it
// walks the tokens of encoding/json and matches whole key lists.
func referenceEvaluate(t *testing.T, rules []Rule, plugin string, data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []string
	report := func(keys []string, v Value) {
		winner := -1
		for i, r := range rules {
			if refMatch(strings.Split(r.Metric, "."), append([]string{plugin}, keys...)) {
				winner = i
			}
		}
		if winner >= 0 {
			p := plugin + "." + strings.Join(keys, ".")
			out = append(out, fmt.Sprintf("%s=%s by %s", p, valueString(v), rules[winner].Metric))
		}
	}
	// keys is the key path of tok, nil for the top-level object; live is
	// false inside arrays, where nothing is reported.
	var value func(keys []string, live bool, tok json.Token)
	value = func(keys []string, live bool, tok json.Token) {
		reportHere := live && keys != nil
		switch x := tok.(type) {
		case json.Delim:
			if x == '{' && reportHere {
				report(keys, Value{})
			}
			for dec.More() {
				if x == '{' {
					k := next(t, dec).(string)
					value(append(keys[:len(keys):len(keys)], k), live, next(t, dec))
				} else {
					value(nil, false, next(t, dec))
				}
			}
			next(t, dec) // closing delimiter
			if x == '[' && reportHere {
				report(keys, Value{})
			}
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			v := Number(f)
			if err != nil || math.IsInf(f, 0) {
				v = Value{}
			}
			if reportHere {
				report(keys, v)
			}
		default:
			if reportHere {
				report(keys, Value{})
			}
		}
	}
	value(nil, true, next(t, dec))
	return out
}

func next(t *testing.T, dec *json.Decoder) json.Token {
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("reference decoder: %v", err)
	}
	return tok
}

// refMatch reports whether pattern segments match a list of names (the
// plugin, then keys): "*" takes one name, and a name containing dots takes
// as many literal segments.
func refMatch(segs, names []string) bool {
	if len(names) == 0 {
		return len(segs) == 0
	}
	if len(segs) == 0 {
		return false
	}
	if segs[0] == "*" {
		return refMatch(segs[1:], names[1:])
	}
	for k := 1; k <= len(segs); k++ {
		if slices.Contains(segs[:k], "*") {
			break
		}
		if strings.Join(segs[:k], ".") == names[0] && refMatch(segs[k:], names[1:]) {
			return true
		}
	}
	return false
}
