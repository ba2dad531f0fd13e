package config

import (
	"strings"
	"testing"
	"time"
)

func TestCheckMetricPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		errMatch string // "" = valid
	}{
		{"cpu_monitor.cpu_percent", ""},
		{"disk_monitor./.percent", ""},
		{"disk_monitor.*.percent", ""},
		{"net.monitor.*.*", ""},
		{"cpu.*", ""},
		{"cpu", "must be plugin.key"},
		{"*.x", "must be spelled out"},
		{"*", "must be plugin.key"},
		{"cpu..x", "empty segment"},
		{".cpu.x", "empty segment"},
		{"cpu.x.", "empty segment"},
		{"cpu.x*", "whole segment"},
		{"c*u.x", "whole segment"},
		{"cpu.**", "whole segment"},
	}
	for _, tt := range tests {
		err := checkMetricPattern(tt.in)
		switch {
		case tt.errMatch == "" && err != nil:
			t.Errorf("checkMetricPattern(%q) = %v, want nil", tt.in, err)
		case tt.errMatch != "" && (err == nil || !strings.Contains(err.Error(), tt.errMatch)):
			t.Errorf("checkMetricPattern(%q) = %v, want error containing %q", tt.in, err, tt.errMatch)
		}
	}
}

func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		errMatch string // "" = valid
	}{
		{"https://grafana.example.com", ""},
		{"http://localhost:3000", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://[::1]:8080", ""},
		{"https://[2001:db8::1]", ""},
		{"grafana.example.com", "scheme://host"},
		{"https://", "scheme://host"},
		{"https:grafana.example.com", "scheme://host"},
		{"ws://grafana.example.com", "http or https"},
		{"https://grafana.example.com/", "no user, path"},
		{"https://grafana.example.com/x", "no user, path"},
		{"https://grafana.example.com?", "no user, path"},
		{"https://grafana.example.com#", "no user, path"},
		{"https://u:p@grafana.example.com", "no user, path"},
		{"https://grafana.example.com:0", "port"},
		{"https://grafana.example.com:", "port"},
		{"https://grafana.example.com:x", "scheme://host"},
		{"https://[192.0.2.1]", "scheme://host"}, // brackets are for IPv6 only
		{"https://bad_host!", "bad host"},
		{"https://-bad.example.com", "bad host"},
	}
	for _, tt := range tests {
		err := checkOrigin(tt.in)
		switch {
		case tt.errMatch == "" && err != nil:
			t.Errorf("checkOrigin(%q) = %v, want nil", tt.in, err)
		case tt.errMatch != "" && (err == nil || !strings.Contains(err.Error(), tt.errMatch)):
			t.Errorf("checkOrigin(%q) = %v, want error containing %q", tt.in, err, tt.errMatch)
		}
	}
}

func TestJournalDir(t *testing.T) {
	t.Parallel()
	d := DefaultDaemon()
	d.DataDir = "/srv/hbd"
	if got := d.JournalDir(); got != "/srv/hbd" {
		t.Errorf("JournalDir() with data_dir = %q, want /srv/hbd", got)
	}
	d.Journal.Dir = "/var/log/hbd"
	if got := d.JournalDir(); got != "/var/log/hbd" {
		t.Errorf("JournalDir() with journal.dir = %q, want /var/log/hbd", got)
	}
}

// TestValidateAlertingInCode covers hand-built alerting configs: the rules
// are the file's, including keys of another notify type (a non-zero value
// counts as set), and LoadDaemon's derived defaults are not applied.
func TestValidateAlertingInCode(t *testing.T) {
	t.Parallel()
	good := func() Daemon {
		d := DefaultDaemon()
		d.Thresholds = []Threshold{{Metric: "cpu_monitor.cpu_percent", Critical: floatPtr(90), Operator: ">"}}
		d.Notify = []Notify{{
			Type: "exec", Name: "pager", MinLevel: "critical", Timeout: dur(30 * time.Second),
			Command: []string{"/bin/page"},
		}}
		return d
	}
	tests := []struct {
		name   string
		change func(d *Daemon)
		want   string // "" = valid
	}{
		{"valid", func(d *Daemon) {}, ""},
		{"key of another type", func(d *Daemon) { d.Notify[0].URL = "https://x.example.com" },
			"notify[0].url: not used by type exec (it is a key of types webhook, slack or mattermost)"},
		{"empty headers map of another type is not set", func(d *Daemon) { d.Notify[0].Headers = map[string]string{} }, ""},
		{"no name", func(d *Daemon) { d.Notify[0].Name = "" },
			`notify[0].name: invalid name "": use 1-64 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'`},
		{"no timeout", func(d *Daemon) { d.Notify[0].Timeout = Duration{} },
			"notify[0].timeout: must be between 1s and 5m, got 0s"},
		{"email starttls left empty", func(d *Daemon) {
			d.Notify[0] = Notify{Type: "email", Name: "m", MinLevel: "WARNING", Timeout: dur(time.Minute), Server: "mx:25", From: "a@b", To: []string{"c@d"}}
		}, `notify[0].starttls: must be one of always, opportunistic, never, got ""`},
		{"matrix without api_url", func(d *Daemon) {
			d.Notify[0] = Notify{Type: "matrix", Name: "m", MinLevel: "WARNING", Timeout: dur(10 * time.Second), Token: "t", Room: "!r:example.org"}
		}, `notify[0].api_url: required for type matrix: the homeserver's URL, e.g. "https://matrix.example.org"`},
		{"ntfy without api_url takes the public server", func(d *Daemon) {
			d.Notify[0] = Notify{Type: "ntfy", Name: "n", MinLevel: "WARNING", Timeout: dur(10 * time.Second), Topic: "hbd"}
		}, ""},
		{"sms with an email key", func(d *Daemon) {
			d.Notify[0] = Notify{Type: "sms", Name: "s", MinLevel: "WARNING", Timeout: dur(10 * time.Second), AccountSID: "AC1", Token: "t", From: "+15005550006", To: []string{"+15005550010"}, StartTLS: "never"}
		}, "notify[0].starttls: not used by type sms (it is a key of type email)"},
		{"threshold without operator", func(d *Daemon) { d.Thresholds[0].Operator = "" },
			`threshold[0].operator: must be one of > >= < <= == !=, got ""`},
		{"flap stop", func(d *Daemon) { d.Alerting.FlapStop = 6 },
			"alerting.flap_stop: must be less than flap_start (6), got 6"},
		{"journal file", func(d *Daemon) { d.Journal.File = ".." },
			`journal.file: must be a plain file name such as "hbd-journal.jsonl", without slashes (set the directory with dir), got ".."`},
		{"zero journal and alerting", func(d *Daemon) { d.Journal, d.Alerting = Journal{}, Alerting{} }, strings.Join([]string{
			`journal.file: must be a plain file name such as "hbd-journal.jsonl", without slashes (set the directory with dir), got ""`,
			"journal.max_size: must be at least 4096 bytes, got 0",
			"journal.keep: must be between 1000 and 1000000, got 0",
			"alerting.flap_window: must be greater than 0, got 0s",
			"alerting.flap_start: must be at least 2, got 0",
			"alerting.flap_stop: must be less than flap_start (0), got 0",
			"alerting.outage_min_hosts: must be at least 1, got 0",
		}, "\n")},
		{"outage fraction", func(d *Daemon) { d.Alerting.OutageFraction = 1.5 },
			"alerting.outage_fraction: must be between 0 (off) and 1, got 1.5"},
		{"stopped after", func(d *Daemon) { d.Alerting.StoppedAfter = dur(time.Millisecond) },
			"alerting.stopped_after: must be 0 (never) or at least 1s, got 1ms"},
		{"group wait", func(d *Daemon) { d.Alerting.GroupWait = dur(time.Hour) },
			"alerting.group_wait: must be between 0s and 10m, got 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.change(&d)
			err := d.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestAlertingErrorsTogether checks that problems in different tables and
// rules all come out, in line order, with the rules' lines.
func TestAlertingErrorsTogether(t *testing.T) {
	t.Parallel()
	src := `cors_origins = ["x"]

[[threshold]]
metric = "cpu"
warning = 1

[[notify]]
type = "email"

[journal]
file = "a/b"

[[threshold]]
metric = "cpu.x"
`
	_, err := ParseDaemon("t.toml", []byte(src))
	want := strings.Join([]string{
		`t.toml:1: cors_origins[0]: invalid origin "x": want "*" or scheme://host[:port], e.g. "https://grafana.example.com"`,
		`t.toml:4: threshold[0].metric: must be plugin.key[.key...] (the plugin name, then the path of a value), got "cpu"`,
		`t.toml:7: notify[0].server: required for type email: the SMTP server as host:port, e.g. "smtp.example.com:587"`,
		`t.toml:7: notify[0].from: required for type email: the sender address, e.g. "hbd <hbd@example.com>"`,
		`t.toml:7: notify[0].to: required for type email: at least one recipient, e.g. ["ops@example.com"]`,
		`t.toml:11: journal.file: must be a plain file name such as "hbd-journal.jsonl", without slashes (set the directory with dir), got "a/b"`,
		`t.toml:13: threshold[1]: needs warning, critical or both`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}
