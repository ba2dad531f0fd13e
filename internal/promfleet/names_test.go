package promfleet

import (
	"fmt"
	"strings"
	"testing"
)

// walk returns every series Walk finds in data, as name{labels} value.
func walk(t *testing.T, n *Namer, plugin, data string) []string {
	t.Helper()
	var out []string
	ok := n.Walk(plugin, []byte(data), func(s Series) bool {
		var ls []string
		for _, l := range s.Labels {
			ls = append(ls, fmt.Sprintf("%s=%q", l.Name, l.Value))
		}
		out = append(out, fmt.Sprintf("%s{%s} %g", s.Name, strings.Join(ls, ","), s.Value))
		return true
	})
	if !ok {
		t.Errorf("Walk(%s) reports a malformed sample", data)
	}
	return out
}

func TestNames(t *testing.T) {
	n := NewNamer(nil)
	for _, c := range []struct {
		plugin, data string
		want         []string
	}{
		{"cpu_monitor", `{"cpu_percent":12.5,"load_1min":0.5,"cores":2}`,
			[]string{"hbd_cpu_monitor_cpu_percent{} 12.5", "hbd_cpu_monitor_load_1min{} 0.5", "hbd_cpu_monitor_cores{} 2"}},
		// Nested objects without a rule join the name; sizes in binary
		// units become bytes.
		{"memory_monitor", `{"percent":3.27,"used_mb":2,"swap":{"percent":0,"total_mb":0.5}}`,
			[]string{"hbd_memory_monitor_percent{} 3.27", "hbd_memory_monitor_used_bytes{} 2.097152e+06",
				"hbd_memory_monitor_swap_percent{} 0", "hbd_memory_monitor_swap_total_bytes{} 524288"}},
		// Partitions and devices are labels, as node_exporter has them.
		{"disk_monitor", `{"/":{"percent":15.73,"free_gb":1,"fstype":"ext4"},"/home/a \"b\"":{"percent":1},"io":{"vda":{"read_bytes":39,"read_bytes_per_s":1.5}}}`,
			[]string{`hbd_disk_monitor_percent{mountpoint="/"} 15.73`, `hbd_disk_monitor_free_bytes{mountpoint="/"} 1.073741824e+09`,
				`hbd_disk_monitor_percent{mountpoint="/home/a \"b\""} 1`,
				`hbd_disk_monitor_io_read_bytes{device="vda"} 39`, `hbd_disk_monitor_io_read_bytes_per_second{device="vda"} 1.5`}},
		{"network_monitor", `{"interfaces":{"eth0":{"bytes_sent":1,"bytes_sent_per_s":2}},"connections":{"total":82}}`,
			[]string{`hbd_network_monitor_interfaces_bytes_sent{device="eth0"} 1`, `hbd_network_monitor_interfaces_bytes_sent_per_second{device="eth0"} 2`,
				"hbd_network_monitor_connections_total_value{} 82"}},
		// Anything not allowed in a name becomes '_', one per rune;
		// escapes in keys are decoded first.
		{"my-plugin.v2", `{"Temp °C":21,"a:b":1,"x\u00e9y":2,"tab\tkey":3,"lat_ms":250,"up_s":5}`,
			[]string{"hbd_my_plugin_v2_Temp__C{} 21", "hbd_my_plugin_v2_a_b{} 1", "hbd_my_plugin_v2_x_y{} 2", "hbd_my_plugin_v2_tab_key{} 3",
				"hbd_my_plugin_v2_lat_seconds{} 0.25", "hbd_my_plugin_v2_up_seconds{} 5"}},
		// Strings, booleans, nulls and arrays make no series; numbers
		// in exponent form and negative ones do.
		{"x", `{"s":"1","b":true,"n":null,"a":[1,{"k":2}],"e":-1.5e3, "o" : { "deep" : 7 } }`,
			[]string{"hbd_x_e{} -1500", "hbd_x_o_deep{} 7"}},
	} {
		got := walk(t, n, c.plugin, c.data)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s %s:\ngot  %q\nwant %q", c.plugin, c.data, got, c.want)
		}
	}
}

// A rule that does not match the path's length or literals leaves the
// keys in the name.
func TestRulesMatchWholePaths(t *testing.T) {
	n := NewNamer([]Rule{{Plugin: "q", Pattern: "queues.{queue}.size"}})
	got := walk(t, n, "q", `{"queues":{"mail":{"size":3,"age":1}},"size":1}`)
	want := []string{`hbd_q_queues_size{queue="mail"} 3`, `hbd_q_queues_mail_age{} 1`, `hbd_q_size{} 1`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
	n.Walk("q", []byte(`{"queues":{"mail":{"size":3}}}`), func(Series) bool {
		if p := n.Pattern("q"); p != "q.queues.{queue}.size" {
			t.Errorf("Pattern = %q", p)
		}
		return true
	})
}

func TestWalkMalformed(t *testing.T) {
	n := NewNamer(nil)
	for _, data := range []string{``, `[]`, `{"a":`, `{"a":1`, `{"a" 1}`, `{a:1}`, `{"a":"x}`, `{"a\`, `{"a\q":1}`, `{"a":1e}`} {
		if n.Walk("p", []byte(data), func(Series) bool { return true }) {
			t.Errorf("Walk(%q) accepts a malformed sample", data)
		}
	}
	// Values past maxDepth are skipped, not followed.
	deep := strings.Repeat(`{"k":`, maxDepth+2) + "1" + strings.Repeat("}", maxDepth+2)
	if got := walk(t, n, "p", deep); len(got) != 0 {
		t.Errorf("a value %d objects deep became %q", maxDepth+2, got)
	}
	// fn returning false stops the walk.
	calls := 0
	n.Walk("p", []byte(`{"a":1,"b":2,"c":3}`), func(s Series) bool { calls++; return s.Index < 1 })
	if calls != 2 {
		t.Errorf("%d calls after stopping at the second", calls)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"hbd_ok_Name_09": "hbd_ok_Name_09",
		"hbd_a-b.c d":    "hbd_a_b_c_d",
		"hbd_é€x":        "hbd___x",
		"hbd_\xffz":      "hbd__z",
		"hbd_a:b":        "hbd_a_b",
	} {
		if got := string(Sanitize([]byte(in), 4)); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppendSample(t *testing.T) {
	got := string(AppendSample(nil, "hbd_x", "web\"01", []Label{{Name: "mountpoint", Value: "C:\\ \n\xff"}}, 0.25))
	want := `hbd_x{host="web\"01",mountpoint="C:\\ \n` + "\uFFFD" + `"} 0.25` + "\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = string(AppendHeader(nil, "hbd_x", "a\\b\nc"))
	if want := "# HELP hbd_x a\\\\b\\nc\n# TYPE hbd_x gauge\n"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
}

// Walking a sample allocates nothing once the Namer's buffers have grown.
func TestWalkAllocs(t *testing.T) {
	n := NewNamer(nil)
	data := []byte(`{"/":{"percent":15.73,"used_gb":14.33,"fstype":"ext4"},"io":{"vda":{"read_bytes":3937936384}}}`)
	sum := 0.0
	fn := func(s Series) bool { sum += s.Value; return true }
	n.Walk("disk_monitor", data, fn)
	if a := testing.AllocsPerRun(100, func() { n.Walk("disk_monitor", data, fn) }); a != 0 {
		t.Errorf("Walk allocates %v times per sample", a)
	}
}

// WalkPath visits only the values at a family's path: the path made from
// one value finds that key in every instance, and no other key, even one
// that sanitizes to the same name.
func TestWalkPath(t *testing.T) {
	n := NewNamer(nil)
	var path *Path
	n.Walk("disk_monitor", []byte(`{"/":{"free_gb":1}}`), func(s Series) bool { path = n.CurrentPath("disk_monitor"); return false })
	data := []byte(`{"/":{"percent":1,"free_gb":2,"free-gb":9},"/var":{"free_gb":0.5},"io":{"sda":{"free_gb":7}}}`)
	var got []string
	n.WalkPath("disk_monitor", data, path, func(s Series) bool {
		got = append(got, fmt.Sprintf("%s{%s=%s} %g", s.Name, s.Labels[0].Name, s.Labels[0].Value, s.Value))
		return true
	})
	want := []string{"hbd_disk_monitor_free_bytes{mountpoint=/} 2.147483648e+09", "hbd_disk_monitor_free_bytes{mountpoint=/var} 5.36870912e+08"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
