package notify

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// Twilio's Messages API: per recipient, POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, basic auth with the
// account SID and auth token, a form with To, From and Body.
func TestSMSRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, func(int) (int, http.Header) { return http.StatusCreated, nil })
	s, err := NewSMS(SMSConfig{Name: "sms", APIURL: srv.URL, AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "tok&en",
		From: "+15005550006", To: []string{"+15005550010", "+4915187654321"}})
	s = closing(t, s, err)
	if err := s.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"+15005550010", "+4915187654321"} {
		r := next(t, reqs)
		if r.method != http.MethodPost || r.requestURI != "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json" {
			t.Errorf("request %s %s", r.method, r.requestURI)
		}
		req := http.Request{Header: r.header}
		if user, pass, ok := req.BasicAuth(); !ok || user != "AC0123456789abcdef0123456789abcdef" || pass != "tok&en" {
			t.Errorf("basic auth = %q, %q, %v", user, pass, ok)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		form, err := url.ParseQuery(string(r.body))
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"To": {to}, "From": {"+15005550006"},
			"Body": {"CRITICAL web01 cpu_monitor.cpu_percent\nweb01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)"}}
		if form.Encode() != want.Encode() {
			t.Errorf("form = %v, want %v", form, want)
		}
	}
}

// One recipient refused for good and one whose gateway is busy: the error
// leads with the busy one, so the dispatcher retries.
func TestSMSPartialFailure(t *testing.T) {
	srv, _ := newServiceServer(t, func(i int) (int, http.Header) {
		if i == 1 {
			return http.StatusBadRequest, nil
		}
		return http.StatusServiceUnavailable, nil
	})
	s, err := NewSMS(SMSConfig{APIURL: srv.URL, AccountSID: "AC1", AuthToken: "t", From: "+15005550006", To: []string{"+15005550001", "+15005550002"}})
	s = closing(t, s, err)
	err = s.Send(context.Background(), testNotification())
	var se *HTTPStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("err = %v, want the 503 first", err)
	}
}
