package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// ntfy's JSON publishing: POST to the server's root with topic, title,
// message, priority and tags; the access token as a bearer token.
func TestNtfyRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, answerOK)
	for _, tt := range []struct {
		level    string
		token    string
		priority float64
		tag      string
	}{
		{LevelCritical, "tk_secret", 5, "rotating_light"},
		{LevelUnknown, "", 4, "grey_question"},
		{LevelWarning, "", 3, "warning"},
		{LevelOK, "", 2, "white_check_mark"},
	} {
		ch, err := NewNtfy(NtfyConfig{Name: "push", APIURL: srv.URL, Topic: "hbd-alerts", Token: tt.token})
		ch = closing(t, ch, err)
		n := nastyNotification()
		n.Level = tt.level
		if err := ch.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		r := next(t, reqs)
		if r.method != http.MethodPost || r.requestURI != "/" {
			t.Errorf("request %s %s, want POST /", r.method, r.requestURI)
		}
		wantAuth := ""
		if tt.token != "" {
			wantAuth = "Bearer " + tt.token
		}
		if got := r.header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization = %q, want %q", got, wantAuth)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		want := map[string]any{
			"topic":    "hbd-alerts",
			"title":    tt.level + " db_1*<b>&\"x\" disk_monitor._root_.`percent`",
			"message":  "*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line",
			"priority": tt.priority,
			"tags":     []any{tt.tag, "hbd"},
		}
		if !reflect.DeepEqual(body, want) {
			t.Errorf("%s: body =\n%v\nwant\n%v", tt.level, body, want)
		}
	}
}
