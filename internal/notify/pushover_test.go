package notify

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// Pushover's message API: POST /1/messages.json, a form with token, user,
// title, message, priority and timestamp.
func TestPushoverRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, answerOK)
	p, err := NewPushover(PushoverConfig{Name: "phone", APIURL: srv.URL + "/", Token: "azGDORePK8gMaC0QOYAMyEEuzJnyUi", UserKey: "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"})
	p = closing(t, p, err)
	for _, tt := range []struct {
		level    string
		priority string
	}{{LevelCritical, "1"}, {LevelWarning, "0"}, {LevelUnknown, "0"}, {LevelOK, "-1"}} {
		n := nastyNotification()
		n.Level = tt.level
		if err := p.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		r := next(t, reqs)
		if r.method != http.MethodPost || r.requestURI != "/1/messages.json" {
			t.Errorf("request %s %s, want POST /1/messages.json", r.method, r.requestURI)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		form, err := url.ParseQuery(string(r.body))
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{
			"token":     {"azGDORePK8gMaC0QOYAMyEEuzJnyUi"},
			"user":      {"uQiRzpo4DXghDmr9QzzfQu27cmVRsG"},
			"title":     {tt.level + " db_1*<b>&\"x\" disk_monitor._root_.`percent`"},
			"message":   {"*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line"},
			"priority":  {tt.priority},
			"timestamp": {"1711234567"},
		}
		if form.Encode() != want.Encode() {
			t.Errorf("%s: form =\n%v\nwant\n%v", tt.level, form, want)
		}
	}
}

func TestNewPushoverErrors(t *testing.T) {
	for _, c := range []PushoverConfig{
		{Token: "t"},
		{UserKey: "u"},
		{Token: "t", UserKey: "u", APIURL: "ftp://x"},
	} {
		if p, err := NewPushover(c); err == nil {
			p.Close()
			t.Errorf("NewPushover(%+v) = nil error", c)
		}
	}
}
