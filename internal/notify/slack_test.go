package notify

import (
	"context"
	"strings"
	"testing"
)

// Slack's and Mattermost's incoming webhooks: a JSON POST of {"text"} to
// the webhook's own URL, path and query kept.
func TestChatWebhookRequests(t *testing.T) {
	tests := []struct {
		kind string
		make func(ChatWebhookConfig) (Channel, error)
		want string
	}{
		{"slack", func(c ChatWebhookConfig) (Channel, error) { return NewSlack(c) },
			"*CRITICAL* `db_1*&lt;b&gt;&amp;\"x\"` `disk_monitor._root_.ˋpercentˋ`\n" +
				"`*bold* _it_ ~del~ &lt;!channel&gt; @here &lt;script&gt;alert(1)&lt;/script&gt; &amp; done second line`"},
		{"mattermost", func(c ChatWebhookConfig) (Channel, error) { return NewMattermost(c) },
			"**CRITICAL** `db_1*<b>&\"x\"` `disk_monitor._root_.ˋpercentˋ`\n" +
				"`*bold* _it_ ~del~ <!channel> @here <script>alert(1)</script> & done second line`"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			srv, reqs := newServiceServer(t, answerOK)
			ch, err := tt.make(ChatWebhookConfig{Name: "chat", URL: srv.URL + "/hooks/T000/B000/XXXX?x=1"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ch.(interface{ Close() error }).Close() })
			if err := ch.Send(context.Background(), nastyNotification()); err != nil {
				t.Fatal(err)
			}
			body := jsonPost(t, next(t, reqs), "/hooks/T000/B000/XXXX?x=1")
			if body["text"] != tt.want || len(body) != 1 {
				t.Errorf("body = %v\nwant text\n%s", body, tt.want)
			}
		})
	}
}

// The webhook's URL is its secret: a failed send does not show it.
func TestChatWebhookHidesURL(t *testing.T) {
	srv, _ := newServiceServer(t, answerOK)
	url := srv.URL + "/services/T000/B000/SECRET"
	srv.Close()
	s, err := NewSlack(ChatWebhookConfig{Name: "chat", URL: url})
	s = closing(t, s, err)
	err = s.Send(context.Background(), testNotification())
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.HasPrefix(err.Error(), "slack chat: ") {
		t.Errorf("err = %v, want a slack error without the URL", err)
	}
}
