package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// received is one request as the test server saw it.
type received struct {
	header http.Header
	body   []byte
}

// newRecordingServer starts a loopback HTTP server that answers each
// request with status() and passes it on to the returned channel.
func newRecordingServer(t *testing.T, status func() int) (*httptest.Server, <-chan received) {
	t.Helper()
	reqs := make(chan received, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		reqs <- received{header: r.Header.Clone(), body: body}
		code := status()
		w.WriteHeader(code)
		if code >= 300 {
			_, _ = io.WriteString(w, "upstream says no\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func always(code int) func() int { return func() int { return code } }

func newTestWebhook(t *testing.T, c WebhookConfig) *Webhook {
	t.Helper()
	w, err := NewWebhook(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWebhookDefaultBody(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusNoContent))
	w := newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})
	if err := w.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	want := map[string]any{
		"kind":               "problem",
		"host":               "web01",
		"metric_path":        "cpu_monitor.cpu_percent",
		"level":              "CRITICAL",
		"prev_level":         "WARNING",
		"value":              95.5,
		"since":              1711234000.0,
		"time":               1711234567.123,
		"notification_count": 2.0,
		"message":            "web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)",
	}
	if len(got) != len(want) {
		t.Errorf("body has %d fields, want %d: %s", len(got), len(want), r.body)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestWebhookTemplateAndHeaders(t *testing.T) {
	srv, reqs := newRecordingServer(t, always(http.StatusOK))
	w := newTestWebhook(t, WebhookConfig{
		Name:        "chat",
		URL:         srv.URL + "/hooks/abc",
		Template:    `{"text":{{json .Message}},"sev":"{{lower .Level}}","v":"{{.ValueText}}","at":{{unix .Time}}}`,
		ContentType: "application/vnd.chat+json",
		Headers:     map[string]string{"Authorization": "Bearer s3cret", "X-Hbd-Route": "ops"},
	})
	if err := w.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	want := `{"text":"web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)","sev":"critical","v":"95.5","at":1711234567.123}`
	if string(r.body) != want {
		t.Errorf("body = %s\nwant   %s", r.body, want)
	}
	for k, v := range map[string]string{
		"Content-Type":  "application/vnd.chat+json",
		"Authorization": "Bearer s3cret",
		"X-Hbd-Route":   "ops",
		"User-Agent":    "hbd-notify",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestWebhookNon2xx(t *testing.T) {
	long := strings.Repeat("x", 2000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "bad gateway: "+long)
	}))
	t.Cleanup(srv.Close)
	w := newTestWebhook(t, WebhookConfig{Name: "hook", URL: srv.URL})
	err := w.Send(context.Background(), testNotification())
	var se *HTTPStatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *HTTPStatusError", err)
	}
	if se.StatusCode != http.StatusBadGateway || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("err = %v", err)
	}
	if len(se.Body) != maxErrorBody || !strings.HasPrefix(se.Body, "bad gateway: xxx") {
		t.Errorf("body excerpt is %d bytes (%.40q...), want %d", len(se.Body), se.Body, maxErrorBody)
	}
}

func TestNewWebhookErrors(t *testing.T) {
	tests := []struct {
		name string
		c    WebhookConfig
		want string
	}{
		{"no url", WebhookConfig{Name: "h"}, "want an absolute http or https URL"},
		{"bad scheme", WebhookConfig{Name: "h", URL: "ftp://example.com/"}, "want an absolute http or https URL"},
		{"relative", WebhookConfig{Name: "h", URL: "/hook"}, "want an absolute http or https URL"},
		{"template syntax", WebhookConfig{Name: "h", URL: "http://127.0.0.1/", Template: "{{.Host"}, "template"},
		{"unknown field", WebhookConfig{Name: "h", URL: "http://127.0.0.1/", Template: "{{.Hostname}}"}, ""},
		{"bad header", WebhookConfig{Name: "h", URL: "http://127.0.0.1/", Headers: map[string]string{"X-A": "1\r\nX-B: 2"}}, "header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWebhook(tc.c)
			if tc.want == "" {
				// An unknown field parses but fails at render time.
				if err != nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				defer w.Close()
				if err := w.Send(context.Background(), testNotification()); err == nil || !strings.Contains(err.Error(), "cannot render body") {
					t.Errorf("Send = %v, want a render error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
