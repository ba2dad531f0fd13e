package notify

import (
	"context"
	"encoding/json"
	"time"
)

// SignalConfig configures a Signal channel.
type SignalConfig struct {
	Name       string
	APIURL     string   // the signal-cli REST API, e.g. "http://127.0.0.1:8080"
	Number     string   // the sender, registered with signal-cli
	Recipients []string // numbers ("+49...") and group ids ("group.<base64>")
	Timeout    time.Duration
}

// Signal sends each notification through a signal-cli REST API
// (bbernhard/signal-cli-rest-api): POST /v2/send with
// {"message", "number", "recipients"}, one message to all recipients.
// Signal shows plain text.
type Signal struct {
	endpoint   string
	number     string
	recipients []string
	post       *poster
}

// signalMessageMax bounds the message (bytes); Signal sends a longer one as
// an attachment.
const signalMessageMax = 2000

// NewSignal checks c and returns the channel.
func NewSignal(c SignalConfig) (*Signal, error) {
	name := defaultName(c.Name, "signal")
	if err := required("signal", name, "api_url", c.APIURL, "sender number", c.Number); err != nil {
		return nil, err
	}
	if len(c.Recipients) == 0 {
		return nil, required("signal", name, "recipients", "")
	}
	base, err := baseURL("signal", name, c.APIURL, "")
	if err != nil {
		return nil, err
	}
	return &Signal{endpoint: base + "/v2/send", number: c.Number, recipients: append([]string(nil), c.Recipients...), post: newPoster("signal", name, c.Timeout)}, nil
}

// Name returns the channel's configured name.
func (s *Signal) Name() string { return s.post.name }

// Send posts n as one message to all recipients.
func (s *Signal) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(struct {
		Message    string   `json:"message"`
		Number     string   `json:"number"`
		Recipients []string `json:"recipients"`
	}{render(n, plainMarkup, true, signalMessageMax), s.number, s.recipients})
	if err != nil {
		return s.post.wrap(err)
	}
	return s.post.do(ctx, request{url: s.endpoint, contentType: "application/json", body: body})
}

// Close closes the channel's idle connections.
func (s *Signal) Close() error { return s.post.Close() }

var _ Channel = (*Signal)(nil)
