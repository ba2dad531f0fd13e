package notify

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// Channel sends notifications somewhere. Send returns when n is delivered
// or the attempt has failed; it bounds itself with the channel's timeout and
// also stops when ctx is done. Implementations are safe for concurrent use.
type Channel interface {
	Name() string
	Send(ctx context.Context, n Notification) error
}

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	Name string
	URL  string // http or https
	// Template is an optional text/template producing the request body from
	// the Notification (functions: see templateFuncs, e.g. {{json .Message}}).
	// Empty means the Notification's JSON. When the content type is JSON,
	// every value the template prints is escaped for the inside of a JSON
	// string ("{{.Host}}" is safe between quotes), except what json prints.
	Template    string
	ContentType string            // default "application/json"
	Headers     map[string]string // applied after Content-Type, so they may override it
	Timeout     time.Duration     // per attempt, default 10 s
}

// Webhook POSTs each notification to a URL, with its ID (Notification.ID)
// in the IDHeader header unless the configured headers set one. Any non-2xx
// answer is an error.
type Webhook struct {
	name        string
	url         string
	tmpl        *template.Template // nil: the Notification's JSON
	contentType string
	headers     http.Header
	timeout     time.Duration
	post        *poster
}

// maxErrorBody is how much of a failed answer's body goes into the error
// (bytes): enough for a service's error message, not a whole HTML page.
const maxErrorBody = 512

// maxDrain is how much of an answer's body is read and discarded so the
// connection can be reused (bytes); a larger body costs a new connection
// rather than unbounded reading.
const maxDrain = 64 << 10

// NewWebhook checks c, parses its template once and returns the channel.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	name := c.Name
	if name == "" {
		name = "webhook"
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: url: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: url %q: want an absolute http or https URL", name, c.URL)
	}
	w := &Webhook{
		name:        name,
		url:         c.URL,
		contentType: c.ContentType,
		headers:     make(http.Header, len(c.Headers)),
		timeout:     c.Timeout,
	}
	if w.contentType == "" {
		w.contentType = "application/json"
	}
	if w.timeout <= 0 {
		w.timeout = 10 * time.Second
	}
	for k, v := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("webhook %s: header %q: invalid name or value", name, k)
		}
		w.headers.Set(k, v)
	}
	if c.Template != "" {
		w.tmpl, err = template.New(name).Funcs(templateFuncs()).Option("missingkey=error").Parse(c.Template)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: template: %w", name, err)
		}
		// The body's type is what the request says, headers included.
		if ct := w.headers.Get("Content-Type"); isJSONType(ct) || (ct == "" && isJSONType(w.contentType)) {
			escapeJSONActions(w.tmpl)
		}
	}
	w.post = newPoster("webhook", name, w.timeout)
	return w, nil
}

// Name returns the channel's configured name.
func (w *Webhook) Name() string { return w.name }

// Send POSTs n and waits for a 2xx answer, at most the configured timeout.
func (w *Webhook) Send(ctx context.Context, n Notification) error {
	body, err := w.body(n)
	if err != nil {
		return fmt.Errorf("webhook %s: cannot render body: %w", w.name, err)
	}
	header := w.headers
	if header.Get(IDHeader) == "" {
		// One map per request: the configured headers are shared by the
		// channel's concurrent sends.
		header = w.headers.Clone()
		header.Set(IDHeader, n.ID())
	}
	return w.post.do(ctx, request{url: w.url, contentType: w.contentType, header: header, body: body})
}

// Close closes the channel's idle connections. Send may still be used
// afterwards; it opens new ones.
func (w *Webhook) Close() error { return w.post.Close() }

func (w *Webhook) body(n Notification) ([]byte, error) {
	if w.tmpl == nil {
		return n.appendJSON(make([]byte, 0, 256)), nil
	}
	var buf bytes.Buffer
	if err := w.tmpl.Execute(&buf, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cleanSnippet makes a body excerpt safe for a one-line log: valid UTF-8,
// no control characters, trimmed.
func cleanSnippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
	return strings.TrimSpace(s)
}

var _ Channel = (*Webhook)(nil)
