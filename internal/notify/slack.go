package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// ChatWebhookConfig configures a Slack or Mattermost channel.
type ChatWebhookConfig struct {
	Name    string
	URL     string // the incoming webhook's URL
	Timeout time.Duration
}

// Slack posts each notification to a Slack incoming webhook as
// {"text": ...} in mrkdwn: the level in bold, hosts, metrics and messages
// in code spans (see markdownMarkup).
type Slack struct{ chatWebhook }

// slackTextMax bounds the text (bytes); Slack truncates a text longer than
// 40,000 characters, and a page of hosts is plenty in a chat.
const slackTextMax = 12000

// NewSlack checks c and returns the channel.
func NewSlack(c ChatWebhookConfig) (*Slack, error) {
	w, err := newChatWebhook("slack", c, markdownMarkup(true), slackTextMax)
	if err != nil {
		return nil, err
	}
	return &Slack{w}, nil
}

// chatWebhook is what Slack and Mattermost share: a POST of
// {"text": markdown} to the webhook's URL.
type chatWebhook struct {
	url    string
	markup markup
	limit  int
	post   *poster
}

func newChatWebhook(kind string, c ChatWebhookConfig, m markup, limit int) (chatWebhook, error) {
	name := defaultName(c.Name, kind)
	if err := required(kind, name, "url", c.URL); err != nil {
		return chatWebhook{}, err
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return chatWebhook{}, fmt.Errorf("%s %s: url: want an absolute http or https URL", kind, name)
	}
	return chatWebhook{url: c.URL, markup: m, limit: limit, post: newPoster(kind, name, c.Timeout)}, nil
}

// Name returns the channel's configured name.
func (w chatWebhook) Name() string { return w.post.name }

// Send posts n as one message.
func (w chatWebhook) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{render(n, w.markup, true, w.limit)})
	if err != nil {
		return w.post.wrap(err)
	}
	// The URL is the webhook's secret: errors name the service only.
	return w.post.do(ctx, request{url: w.url, logURL: w.post.kind + " webhook", contentType: "application/json", body: body})
}

// Close closes the channel's idle connections.
func (w chatWebhook) Close() error { return w.post.Close() }

var _ Channel = (*Slack)(nil)
