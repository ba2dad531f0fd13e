package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// seen is one request as a service's test server saw it.
type seen struct {
	method     string
	requestURI string // the path as sent, escapes included
	header     http.Header
	body       []byte
}

// newServiceServer starts a loopback HTTP server standing in for a
// service: the i-th request (from 1) gets answer(i)'s status and headers.
// Every request is passed on to the returned channel.
func newServiceServer(t *testing.T, answer func(i int) (int, http.Header)) (*httptest.Server, <-chan seen) {
	t.Helper()
	reqs := make(chan seen, 64)
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		reqs <- seen{method: r.Method, requestURI: r.RequestURI, header: r.Header.Clone(), body: body}
		code, h := answer(int(count.Add(1)))
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		if code >= 300 {
			_, _ = io.WriteString(w, `{"error":"service says no"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func answerOK(int) (int, http.Header) { return http.StatusOK, nil }

// next returns the next request the server saw.
// jsonPost checks that r is a POST to uri with a JSON body, and returns
// the body decoded.
func jsonPost(t *testing.T, r seen, uri string) map[string]any {
	t.Helper()
	if r.method != http.MethodPost || r.requestURI != uri {
		t.Errorf("request %s %s, want POST %s", r.method, r.requestURI, uri)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return body
}

func next(t *testing.T, reqs <-chan seen) seen {
	t.Helper()
	select {
	case r := <-reqs:
		return r
	case <-time.After(waitLimit):
		t.Fatal("no request reached the server")
		return seen{}
	}
}

// closing registers c's Close with the test, so no idle connection
// outlives it (goleak checks).
func closing[C interface{ Close() error }](t *testing.T, c C, err error) C {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPosterClassifiesAnswers(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		code       int
		retryAfter string
		temporary  bool
		wait       time.Duration // at least
	}{
		{http.StatusServiceUnavailable, "7", true, 7 * time.Second},
		{http.StatusTooManyRequests, date, true, 80 * time.Second},
		{http.StatusInternalServerError, "", true, 0},
		{http.StatusRequestTimeout, "", true, 0},
		{http.StatusUnauthorized, "", false, 0},
		{http.StatusNotFound, "", false, 0},
		{http.StatusBadRequest, "soon", false, 0},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			srv, _ := newServiceServer(t, func(int) (int, http.Header) {
				return tt.code, http.Header{"Retry-After": {tt.retryAfter}}
			})
			p := newPoster("ntfy", "push", time.Second)
			defer p.Close()
			err := p.do(context.Background(), request{url: srv.URL})
			var se *HTTPStatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *HTTPStatusError", err)
			}
			if se.StatusCode != tt.code || se.Temporary() != tt.temporary {
				t.Errorf("status %d, temporary %v; want %d, %v", se.StatusCode, se.Temporary(), tt.code, tt.temporary)
			}
			if se.RetryAfter < tt.wait || (tt.wait == 0 && se.RetryAfter != 0) || se.RetryAfter > tt.wait+15*time.Second {
				t.Errorf("RetryAfter = %v, want about %v", se.RetryAfter, tt.wait)
			}
			if want := `ntfy push: status ` + se.Status + `: {"error":"service says no"}`; err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
		})
	}
}

// An answer's body is read only so far: a service that streams forever
// does not hold the channel past its timeout.
func TestPosterBoundsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range 1000 { // 32 MB, far past maxDrain
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	p := newPoster("slack", "chat", 5*time.Second)
	defer p.Close()
	start := time.Now()
	if err := p.do(context.Background(), request{url: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("do took %v: it read the whole answer", d)
	}
}

// A secret in the URL (Telegram's bot token) stays out of errors.
func TestPosterRedactsTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/botSECRET/sendMessage"
	srv.Close() // nothing listens there now
	p := newPoster("telegram", "tg", time.Second)
	defer p.Close()
	err := p.do(context.Background(), request{url: url, logURL: "https://api.example/bot<token>/sendMessage"})
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "bot<token>") {
		t.Errorf("err = %v, want it without the token", err)
	}
}

// The dispatcher retries a service channel as it does the webhook: a 503
// or a 429 is retried (after Retry-After, when longer than the backoff),
// a 401 is not.
func TestDispatcherRetriesServiceAnswers(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		header   http.Header
		attempts int
		sent     bool
		delays   []time.Duration
	}{
		{"503 then 200", []int{503, 200}, nil, 2, true, []time.Duration{time.Second}},
		{"429 with Retry-After", []int{429, 200}, http.Header{"Retry-After": {"30"}}, 2, true, []time.Duration{30 * time.Second}},
		{"Retry-After above the cap", []int{429, 200}, http.Header{"Retry-After": {"3600"}}, 2, true, []time.Duration{time.Minute}},
		{"401 is final", []int{401, 200}, nil, 1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := newServiceServer(t, func(i int) (int, http.Header) { return tt.answers[min(i, len(tt.answers))-1], tt.header })
			m, err := NewMatrix(MatrixConfig{Name: "room", APIURL: srv.URL, AccessToken: "tok", Room: "!r:example.org"})
			ch := closing(t, m, err)
			res := newResults()
			sleeps := &sleepRecorder{}
			d := NewDispatcher([]Route{{Channel: ch}}, DispatcherOptions{Result: res.record, Sleep: sleeps.sleep})
			defer d.Close()
			d.Submit(testNotification())
			r := res.next(t)
			if r.Attempts != tt.attempts || (r.Err == nil) != tt.sent {
				t.Fatalf("result = %d attempts, err %v; want %d attempts, sent %v", r.Attempts, r.Err, tt.attempts, tt.sent)
			}
			if got := sleeps.got(); !equalDurations(got, tt.delays) {
				t.Errorf("retry delays = %v, want %v", got, tt.delays)
			}
			// Every attempt is the same Matrix transaction.
			first := next(t, reqs)
			for range tt.attempts - 1 {
				if again := next(t, reqs); again.requestURI != first.requestURI {
					t.Errorf("retry went to %s, first attempt to %s: want the same transaction", again.requestURI, first.requestURI)
				}
			}
		})
	}
}
