package notify

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"
)

// A hostile metric path: it closes the JSON string, adds a field, and
// breaks the line.
const injectedPath = "disk_monitor.x\", \"admin\": true, \"y\": \"\n.percent"

func injected() Notification {
	n := testNotification()
	n.MetricPath = injectedPath
	n.Message = n.MetricPath + " is CRITICAL"
	return n
}

// With a JSON content type, every value a template prints is escaped for
// the inside of a JSON string: a key cannot add fields, in plain actions,
// pipelines, if/range/with bodies and defined templates alike; json still
// prints whole JSON values.
func TestWebhookTemplateEscapesForJSON(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusOK))
	n := injected()
	n.Members = []Notification{n, n}
	n.GroupSize = 2
	tmpl := `{{define "who"}}{{.Host}}{{end}}{"text": "{{.MetricPath}} on {{template "who" .}}",` +
		` "upper": "{{.MetricPath | upper}}", "v": {{.Value}}, "raw": {{json .MetricPath}},` +
		` "list": "{{range .Members}}{{.MetricPath}};{{end}}", "if": "{{if .Value}}{{.Message}}{{end}}",` +
		` "with": "{{with .MetricPath}}{{.}}{{end}}", "printf": "{{printf "%s!" .MetricPath}}"{{$x := .Host}}}`
	for _, tc := range []struct {
		name string
		c    WebhookConfig
	}{
		{"default content type", WebhookConfig{Template: tmpl}},
		{"vendor +json", WebhookConfig{Template: tmpl, ContentType: "application/vnd.chat+json; charset=utf-8"}},
		{"header override", WebhookConfig{Template: tmpl, ContentType: "text/plain", Headers: map[string]string{"Content-Type": "application/json"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name, tc.c.URL = "hook", srv.URL
			w := newTestWebhook(t, tc.c)
			if err := w.Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			r := <-reqs
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, r.body)
			}
			keys := slices.Sorted(maps.Keys(got))
			if want := []string{"if", "list", "printf", "raw", "text", "upper", "v", "with"}; !slices.Equal(keys, want) {
				t.Fatalf("fields %v, want %v: the key injected fields\n%s", keys, want, r.body)
			}
			for k, want := range map[string]any{
				"text":   injectedPath + " on web01",
				"upper":  strings.ToUpper(injectedPath),
				"v":      95.5,
				"raw":    injectedPath,
				"list":   injectedPath + ";" + injectedPath + ";",
				"if":     injectedPath + " is CRITICAL",
				"with":   injectedPath,
				"printf": injectedPath + "!",
			} {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// Without a JSON content type the template prints what it is given: text
// bodies are the writer's to shape (and metric paths with control
// characters never become alerts).
func TestWebhookTextTemplateIsNotEscaped(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusOK))
	w := newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL, Template: `{{.Message}} "quoted"`, ContentType: "text/plain"})
	n := testNotification()
	n.Message = `a "b" <c>`
	if err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; string(r.body) != `a "b" <c> "quoted"` {
		t.Errorf("body %q", r.body)
	}
}

// A CR/LF in a metric path or message adds no line to the mail body.
func TestEmailBodyFieldsAreOneLine(t *testing.T) {
	e := newTestEmail(t, EmailConfig{Server: "127.0.0.1:25", From: "hbd@example.com", To: []string{"ops@example.com"}, StartTLS: StartTLSNever})
	n := testNotification()
	n.MetricPath = "disk_monitor.x\r\nLevel:        OK\r\n.percent"
	n.Message = "x\r\nValue:        0"
	msg, err := e.message(n, n.Time)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := readAllString(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(body, "\r\n")
	var levels, values int
	for _, l := range lines {
		if strings.HasPrefix(l, "Level:") {
			levels++
		}
		if strings.HasPrefix(l, "Value:") {
			values++
		}
	}
	if levels != 1 || values != 1 {
		t.Errorf("%d Level and %d Value lines, want one each:\n%s", levels, values, body)
	}
}

func readAllString(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"web01":                "web01",
		"/mnt/données":         "/mnt/données",
		"a\x00b":               "a\uFFFDb",
		"a\r\nb":               "a\uFFFD\uFFFDb",
		"a\x7fb\u0085c\u2028d": "a\uFFFDb\uFFFDc\uFFFDd",
		"bad\xffutf8":          "bad\uFFFDutf8",
		"tab\there":            "tab\uFFFDhere",
		"":                     "",
	} {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}
