package notify

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"text/template"
	"time"
)

func testNotification() Notification {
	v := 95.5
	return Notification{
		Kind:              KindProblem,
		Host:              "web01",
		MetricPath:        "cpu_monitor.cpu_percent",
		Level:             LevelCritical,
		PrevLevel:         LevelWarning,
		Value:             &v,
		Since:             time.Unix(1711234000, 0),
		Time:              time.UnixMilli(1711234567123),
		NotificationCount: 2,
		Message:           "web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)",
	}
}

func TestNotificationMarshalJSON(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		edit func(*Notification)
		want string
	}{
		{
			name: "full",
			edit: func(*Notification) {},
			want: `{"kind":"problem","host":"web01","metric_path":"cpu_monitor.cpu_percent","level":"CRITICAL","prev_level":"WARNING","value":95.5,"since":1711234000.000,"time":1711234567.123,"notification_count":2,"message":"web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)"}`,
		},
		{
			name: "unknown value and zero times are null",
			edit: func(n *Notification) { n.Value, n.Since, n.Time = nil, time.Time{}, time.Time{} },
			want: `{"kind":"problem","host":"web01","metric_path":"cpu_monitor.cpu_percent","level":"CRITICAL","prev_level":"WARNING","value":null,"since":null,"time":null,"notification_count":2,"message":"web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)"}`,
		},
		{
			name: "NaN is null, escapes",
			edit: func(n *Notification) {
				n.Value = &nan
				n.Host = "a\"b\\c\n<&>\x01é\xff"
				n.Message = "line\u2028sep"
			},
			want: `{"kind":"problem","host":"a\"b\\c\n<&>\u0001é\ufffd","metric_path":"cpu_monitor.cpu_percent","level":"CRITICAL","prev_level":"WARNING","value":null,"since":1711234000.000,"time":1711234567.123,"notification_count":2,"message":"line\u2028sep"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := testNotification()
			tc.edit(&n)
			// Called directly: json.Marshal would re-escape <, > and &.
			got, err := n.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			var back map[string]any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("output is not valid JSON: %v", err)
			}
		})
	}
}

func TestUnixText(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, ""},
		{time.UnixMilli(1711234567123), "1711234567.123"},
		{time.UnixMilli(1711234567005), "1711234567.005"},
		{time.Unix(0, 0), "0.000"},
		{time.UnixMilli(-1500), "-1.500"},
	}
	for _, tc := range tests {
		if got := unixText(tc.t); got != tc.want {
			t.Errorf("unixText(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestTemplateFuncs(t *testing.T) {
	n := testNotification()
	tests := []struct {
		tmpl, want string
	}{
		{`{{json .Message}}`, `"web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)"`},
		{`{{unix .Time}}`, `1711234567.123`},
		{`{{.ValueText}}`, `95.5`},
		{`{{lower .Level}}/{{upper .Host}}`, `critical/WEB01`},
		{`{{json .NotificationCount}}`, `2`},
	}
	for _, tc := range tests {
		tm := template.Must(template.New("t").Funcs(templateFuncs()).Parse(tc.tmpl))
		var b strings.Builder
		if err := tm.Execute(&b, n); err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		if b.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.tmpl, b.String(), tc.want)
		}
	}
	// {{json .}} is the default body.
	tm := template.Must(template.New("t").Funcs(templateFuncs()).Parse(`{{json .}}`))
	var b strings.Builder
	if err := tm.Execute(&b, n); err != nil {
		t.Fatal(err)
	}
	want, _ := n.MarshalJSON()
	if b.String() != string(want) {
		t.Errorf("{{json .}} = %s, want %s", b.String(), want)
	}
	n.Value = nil
	if got := n.ValueText(); got != "" {
		t.Errorf("ValueText of unknown value = %q, want empty", got)
	}
}

// A heartbeat page of a host others depend on says how many and names a
// few, in the JSON, the text and a group; other bodies do not change.
func TestNotificationDependents(t *testing.T) {
	n := testNotification()
	n.MetricPath, n.Value = "heartbeat", nil
	n.Dependents, n.DependentHosts = 20, []string{"c01", "c02", "c03", "c04", "c05"}
	got := string(n.appendJSON(nil))
	if want := `,"dependents":20,"dependent_hosts":["c01","c02","c03","c04","c05"]}`; !strings.HasSuffix(got, want) {
		t.Errorf("JSON %s\nwant it to end in %s", got, want)
	}
	if got, want := n.DependentsText(), "20 hosts depend on it: c01, c02, c03, c04, c05 and 15 more"; got != want {
		t.Errorf("DependentsText() = %q, want %q", got, want)
	}
	if body := string(emailBody(n)); !strings.Contains(body, "Dependents:   20 hosts depend on it: c01") {
		t.Errorf("mail body lacks the dependents:\n%s", body)
	}
	other := testNotification()
	g := Group([]Notification{n, other}, nil)
	if g.Dependents != 20 || len(g.DependentHosts) != MaxDependentsListed {
		t.Errorf("group: %d dependents %q", g.Dependents, g.DependentHosts)
	}
	if strings.Contains(string(other.appendJSON(nil)), "dependents") || other.DependentsText() != "" {
		t.Error("an alert without dependents mentions them")
	}
}
