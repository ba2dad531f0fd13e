package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// NtfyConfig configures an ntfy channel.
type NtfyConfig struct {
	Name    string
	APIURL  string // the server, default "https://ntfy.sh"
	Topic   string
	Token   string // an access token; "" = none
	Timeout time.Duration
}

// Ntfy publishes each notification to an ntfy topic as JSON (POST to the
// server's root with the topic in the body), which carries title and
// message as UTF-8 where headers could not, with a priority and tags (an
// emoji in the apps) from the level.
type Ntfy struct {
	endpoint string
	topic    string
	header   http.Header
	post     *poster
}

// ntfyMessageMax bounds the message (bytes); ntfy turns a longer one into
// an attachment.
const ntfyMessageMax = 4000

// NewNtfy checks c and returns the channel.
func NewNtfy(c NtfyConfig) (*Ntfy, error) {
	name := defaultName(c.Name, "ntfy")
	if err := required("ntfy", name, "topic", c.Topic); err != nil {
		return nil, err
	}
	base, err := baseURL("ntfy", name, c.APIURL, "https://ntfy.sh")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	return &Ntfy{endpoint: base + "/", topic: c.Topic, header: h, post: newPoster("ntfy", name, c.Timeout)}, nil
}

// Name returns the channel's configured name.
func (t *Ntfy) Name() string { return t.post.name }

type ntfyMessage struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags"`
}

// Send publishes n as one message.
func (t *Ntfy) Send(ctx context.Context, n Notification) error {
	prio, tag := ntfyLevel(n.Level)
	msg := ntfyMessage{
		Topic: t.topic, Title: title(n), Message: render(n, plainMarkup, false, ntfyMessageMax),
		Priority: prio, Tags: []string{tag, "hbd"},
	}
	if msg.Message == "" {
		msg.Message = msg.Title // ntfy would publish "triggered"
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return t.post.wrap(err)
	}
	return t.post.do(ctx, request{url: t.endpoint, contentType: "application/json", header: t.header, body: body})
}

// ntfyLevel maps a level to ntfy's priority (1 min .. 5 max; 5 makes the
// phone ring through do-not-disturb where allowed) and an emoji tag.
func ntfyLevel(level string) (priority int, tag string) {
	switch strings.ToUpper(level) {
	case LevelCritical:
		return 5, "rotating_light"
	case LevelWarning:
		return 3, "warning"
	case LevelOK:
		return 2, "white_check_mark"
	}
	return 4, "grey_question" // UNKNOWN, and what severity counts as it
}

// Close closes the channel's idle connections.
func (t *Ntfy) Close() error { return t.post.Close() }

var _ Channel = (*Ntfy)(nil)
