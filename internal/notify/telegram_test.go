package notify

import (
	"context"
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
	body := jsonPost(t, next(t, reqs), "/bot123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs/sendMessage")
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
