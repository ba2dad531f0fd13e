package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// poster is the HTTP side every HTTP channel shares: it sends one request
// with the channel's timeout and turns the answer into nil (2xx) or an
// *HTTPStatusError, reading at most maxDrain bytes of any answer. Each
// channel has a transport of its own, so Close drops only its idle
// connections.
type poster struct {
	kind      string // the channel type, for errors: "webhook", "matrix", ...
	name      string
	timeout   time.Duration
	client    *http.Client
	transport *http.Transport
}

func newPoster(kind, name string, timeout time.Duration) *poster {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &poster{kind: kind, name: name, timeout: timeout, transport: t, client: &http.Client{Transport: t}}
}

// request is one HTTP request a channel sends.
type request struct {
	method string // "" = POST
	url    string
	// logURL replaces url in errors when url holds a secret (Telegram's
	// bot token is part of the path); "" = url.
	logURL      string
	contentType string
	header      http.Header // more headers, applied after Content-Type
	body        []byte
	user, pass  string // basic auth when user is set
}

// do sends r and waits, at most the timeout, for a 2xx answer. A transport
// error says so; any other answer is an *HTTPStatusError with the start of
// its body and the wait its Retry-After asks for.
func (p *poster) do(ctx context.Context, r request) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return p.wrap(redactURL(err, r.logURL))
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("User-Agent", "hbd-notify")
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return p.wrap(redactURL(err, r.logURL))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	return &HTTPStatusError{
		StatusCode: resp.StatusCode, Status: resp.Status, Body: cleanSnippet(snippet),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		kind:       p.kind, channel: p.name,
	}
}

// wrap says which channel err is from.
func (p *poster) wrap(err error) error {
	return fmt.Errorf("%s %s: %w", p.kind, p.name, err)
}

// Close closes the channel's idle connections. Send may still be used
// afterwards; it opens new ones.
func (p *poster) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// redactURL replaces the URL a *url.Error shows with logURL, when set.
func redactURL(err error, logURL string) error {
	var ue *url.Error
	if logURL != "" && errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: logURL, Err: ue.Err}
	}
	if logURL != "" {
		return errors.New("invalid request to " + logURL)
	}
	return err
}

// maxRetryAfter caps what a Retry-After may ask for; the dispatcher caps it
// again at its own MaxBackoff.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110). 0 when absent, invalid or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// HTTPStatusError is an HTTP channel's answer outside 2xx.
type HTTPStatusError struct {
	StatusCode int
	Status     string        // e.g. "500 Internal Server Error"
	Body       string        // up to 512 bytes of the answer's body
	RetryAfter time.Duration // what the answer's Retry-After asks for; 0 = nothing
	kind       string        // the channel type; "" = webhook
	channel    string
}

func (e *HTTPStatusError) Error() string {
	kind := e.kind
	if kind == "" {
		kind = "webhook"
	}
	if e.Body == "" {
		return fmt.Sprintf("%s %s: status %s", kind, e.channel, e.Status)
	}
	return fmt.Sprintf("%s %s: status %s: %s", kind, e.channel, e.Status, e.Body)
}

// Temporary reports whether a later attempt may succeed: a server error,
// 408 Request Timeout, 425 Too Early or 429 Too Many Requests. Any other
// 4xx (a bad token, an unknown room or chat) fails the same way each time.
func (e *HTTPStatusError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return e.StatusCode >= 500 || e.StatusCode < 400
}

var _ error = (*HTTPStatusError)(nil)

const formType = "application/x-www-form-urlencoded"

func defaultName(name, kind string) string {
	if name == "" {
		return kind
	}
	return name
}

// baseURL checks a service's base URL (def when empty) and returns it
// without a trailing slash, ready for paths to be added.
func baseURL(kind, name, s, def string) (string, error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s %s: api_url %q: want an absolute http or https URL without query", kind, name, s)
	}
	return strings.TrimRight(s, "/"), nil
}

// required reports the first of the (key, value) pairs whose value is empty.
func required(kind, name string, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			return fmt.Errorf("%s %s: no %s", kind, name, kv[i])
		}
	}
	return nil
}
