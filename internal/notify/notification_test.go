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
