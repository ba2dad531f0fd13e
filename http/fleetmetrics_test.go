package http_test

import (
	"bytes"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	hbdhttp "github.com/hbd-project/hbd/http"
)

// A real agent's disk_monitor and network_monitor samples (shapes from
// agent/plugins), trimmed.
const (
	diskSample = `{"/":{"percent":15.73,"used_gb":14.33,"free_gb":76.75,"total_gb":251.97,"fstype":"ext4","device":"/dev/vda"},` +
		`"/home":{"percent":50,"used_gb":1,"free_gb":1,"total_gb":2,"fstype":"xfs","device":"/dev/vdb"},` +
		`"io":{"vda":{"read_bytes":3937936384,"write_bytes":15141191680,"read_count":83165,"write_count":155459}}}`
	netSample = `{"interfaces":{"eth0":{"bytes_sent":938154,"bytes_recv":250374705},"lo":{"bytes_sent":5,"bytes_recv":5}},` +
		`"connections":{"total":82,"established":0,"listen":3,"time_wait":73}}`
	cpuSample = `{"cpu_percent":95.5,"load_1min":8.73,"load_5min":4.4,"load_15min":2.32,"frequency":2000,"cores":2}`
)

// families parses a text-format body as promtool check metrics does
// (expfmt's parser, which refuses a family split in two) and returns the
// families by name.
func families(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want, failing if there is not exactly one.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	var found []float64
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range want {
			has := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					has = true
				}
			}
			ok = ok && has
		}
		if ok {
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(found))
	}
	return found[0]
}

func TestFleetExposition(t *testing.T) {
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{})
	c := client(t, ln, "127.0.0.1:40000", nil)
	for _, h := range []string{"web01", "web02", "db02"} {
		d.heartbeat(h)
	}
	d.sample("web01", "cpu_monitor", cpuSample)
	d.sample("web01", "disk_monitor", diskSample)
	d.sample("web01", "network_monitor", netSample)
	d.sample("web02", "cpu_monitor", `{"cpu_percent":10,"weird key-é":1,"weird_key__":2}`)
	var body []byte
	eventually(t, "web01's samples and alert in the exposition", func() bool {
		body = c.get("/metrics/fleet").body
		return bytes.Contains(body, []byte(`hbd_network_monitor_connections_total_value{host="web01"}`)) &&
			bytes.Contains(body, []byte(`hbd_alert_level{host="web01",metric_path="cpu_monitor.cpu_percent"} 2`))
	})
	fams := families(t, body)

	if v := value(t, fams, "hbd_host_up", map[string]string{"host": "web01"}); v != 1 {
		t.Errorf("hbd_host_up = %v, want 1", v)
	}
	if v := value(t, fams, "hbd_host_state", map[string]string{"host": "web01", "state": "UP"}); v != 1 {
		t.Errorf("hbd_host_state UP = %v", v)
	}
	if v := value(t, fams, "hbd_host_state", map[string]string{"host": "web01", "state": "DOWN"}); v != 0 {
		t.Errorf("hbd_host_state DOWN = %v", v)
	}
	// db01 is declared and never reported: state UNKNOWN, no last seen.
	if v := value(t, fams, "hbd_host_state", map[string]string{"host": "db01", "state": "UNKNOWN"}); v != 1 {
		t.Errorf("db01 UNKNOWN = %v", v)
	}
	if strings.Contains(string(body), `hbd_host_last_seen_timestamp_seconds{host="db01"}`) {
		t.Error("a host never heard from has a last-seen timestamp")
	}
	if v := value(t, fams, "hbd_host_last_seen_timestamp_seconds", map[string]string{"host": "web01"}); v < 1e9 {
		t.Errorf("last seen %v", v)
	}
	if v := value(t, fams, "hbd_host_connection_up", map[string]string{"host": "web01", "family": "ipv4"}); v != 1 {
		t.Errorf("connection up %v", v)
	}
	if v := value(t, fams, "hbd_host_loss_ratio", map[string]string{"host": "web01", "family": "ipv4"}); v != 0 {
		t.Errorf("loss %v", v)
	}
	if v := value(t, fams, "hbd_alert_level", map[string]string{"host": "web01", "metric_path": "heartbeat"}); v != 0 {
		t.Errorf("heartbeat level %v, want 0 (OK)", v)
	}
	if v := value(t, fams, "hbd_alert_level", map[string]string{"host": "web02", "metric_path": "cpu_monitor.cpu_percent"}); v != 0 {
		t.Errorf("web02's cpu level %v, want 0 (OK)", v)
	}

	// Plugin values: flat keys, nested labels as node_exporter has them.
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hbd_cpu_monitor_cpu_percent", map[string]string{"host": "web01"}, 95.5},
		{"hbd_cpu_monitor_load_1min", map[string]string{"host": "web01"}, 8.73},
		{"hbd_disk_monitor_percent", map[string]string{"host": "web01", "mountpoint": "/"}, 15.73},
		{"hbd_disk_monitor_free_bytes", map[string]string{"host": "web01", "mountpoint": "/home"}, 1 << 30},
		{"hbd_disk_monitor_io_read_bytes", map[string]string{"host": "web01", "device": "vda"}, 3937936384},
		{"hbd_network_monitor_interfaces_bytes_recv", map[string]string{"host": "web01", "device": "eth0"}, 250374705},
		{"hbd_network_monitor_connections_time_wait", map[string]string{"host": "web01"}, 73},
		{"hbd_cpu_monitor_cpu_percent", map[string]string{"host": "web02"}, 10},
		// "weird key-é" sanitizes to weird_key__, which the next key
		// also is: the first one wins.
		{"hbd_cpu_monitor_weird_key__", map[string]string{"host": "web02"}, 1},
	} {
		if v := value(t, fams, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if _, ok := fams["hbd_disk_monitor_fstype"]; ok {
		t.Error("a string value became a series")
	}
	if v := value(t, fams, "hbd_plugin_sample_timestamp_seconds", map[string]string{"host": "web01", "plugin": "disk_monitor"}); v < 1e9 {
		t.Errorf("sample timestamp %v", v)
	}
	if h := fams["hbd_disk_monitor_percent"].GetHelp(); !strings.Contains(h, "disk_monitor.{mountpoint}.percent") {
		t.Errorf("help %q does not name the metric path", h)
	}

	// ?host= narrows it to the hosts that match one of the globs.
	sub := families(t, c.get("/metrics/fleet?host=web0%5B2%5D&host=db*").body)
	hosts := map[string]bool{}
	for _, m := range sub["hbd_host_up"].GetMetric() {
		hosts[m.GetLabel()[0].GetValue()] = true
	}
	if len(hosts) != 3 || !hosts["web02"] || !hosts["db01"] || !hosts["db02"] {
		t.Errorf("?host=web0[2]&host=db*: hosts %v", hosts)
	}
	if strings.Contains(string(c.get("/metrics/fleet?host=web02").body), `host="web01"`) {
		t.Error("?host=web02 shows web01")
	}
	wantError(t, "bad glob", c.get("/metrics/fleet?host=%5B"), 400, "invalid host pattern")
}

func TestFleetExpositionOpenMetrics(t *testing.T) {
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{})
	d.heartbeat("web01")
	d.sample("web01", "cpu_monitor", cpuSample)
	c := client(t, ln, "127.0.0.1:40000", map[string]string{"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
	var r reply
	eventually(t, "web01's cpu in the exposition", func() bool {
		r = c.get("/metrics/fleet")
		return bytes.Contains(r.body, []byte("hbd_cpu_monitor_cpu_percent{"))
	})
	if ct := r.header["Content-Type"]; !strings.HasPrefix(ct, "application/openmetrics-text; version=1.0.0") {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.HasSuffix(r.body, []byte("# EOF\n")) {
		t.Errorf("OpenMetrics body does not end with # EOF: %q", r.body[max(0, len(r.body)-50):])
	}
	plain := client(t, ln, "127.0.0.1:40001", nil).get("/metrics/fleet")
	if ct := plain.header["Content-Type"]; !strings.HasPrefix(ct, "text/plain; version=0.0.4") || bytes.Contains(plain.body, []byte("# EOF")) {
		t.Errorf("default: Content-Type %q", ct)
	}
}

// The fleet exposition's caps: a host's series of one family past
// fleet_label_values are left out and counted.
func TestFleetExpositionCaps(t *testing.T) {
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{Fleet: hbdhttp.FleetOptions{LabelValues: 1}})
	c := client(t, ln, "127.0.0.1:40000", nil)
	d.heartbeat("web01")
	d.sample("web01", "disk_monitor", diskSample)
	var body []byte
	eventually(t, "web01's disk in the exposition", func() bool {
		body = c.get("/metrics/fleet").body
		return bytes.Contains(body, []byte("hbd_disk_monitor_percent{"))
	})
	fams := families(t, body)
	if n := len(fams["hbd_disk_monitor_percent"].GetMetric()); n != 1 {
		t.Errorf("%d partitions of web01 exposed with fleet_label_values = 1", n)
	}
	value(t, fams, "hbd_disk_monitor_percent", map[string]string{"host": "web01", "mountpoint": "/"})
	value(t, fams, "hbd_disk_monitor_io_read_bytes", map[string]string{"host": "web01", "device": "vda"})
	m := families(t, c.get("/metrics").body)
	// /home's percent, used, free and total.
	if v := value(t, m, "hbd_fleet_series_dropped_total", map[string]string{"reason": "label_values"}); v < 4 {
		t.Errorf("dropped %v, want at least 4 (one scrape)", v)
	}
}
