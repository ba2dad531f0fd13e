package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// The Bot API: POST /bot{token}/sendMessage with chat_id, text and
// parse_mode HTML, everything from the network escaped.
func TestTelegramRequest(t *testing.T) {
	srv, reqs := newServiceServer(t, answerOK)
	tg, err := NewTelegram(TelegramConfig{Name: "tg", APIURL: srv.URL, Token: "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs", ChatID: "-1001234567890"})
	tg = closing(t, tg, err)
	if err := tg.Send(context.Background(), nastyNotification()); err != nil {
		t.Fatal(err)
	}
	r := next(t, reqs)
	if r.method != http.MethodPost || r.requestURI != "/bot123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs/sendMessage" {
		t.Errorf("request %s %s", r.method, r.requestURI)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	want := map[string]any{
		"chat_id": "-1001234567890",
		"text": "<b>CRITICAL</b> <code>db_1*&lt;b&gt;&amp;&#34;x&#34;</code> <code>disk_monitor._root_.`percent`</code>\n" +
			"*bold* _it_ ~del~ &lt;!channel&gt; @here &lt;script&gt;alert(1)&lt;/script&gt; &amp; done second line",
		"parse_mode":           "HTML",
		"link_preview_options": map[string]any{"is_disabled": true},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body =\n%v\nwant\n%v", body, want)
	}
}
