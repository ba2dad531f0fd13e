package notify

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PushoverConfig configures a Pushover channel.
type PushoverConfig struct {
	Name    string
	APIURL  string // default "https://api.pushover.net"
	Token   string // the application's API token
	UserKey string // the user or group key
	Timeout time.Duration
}

// Pushover sends each notification through Pushover's message API
// (POST /1/messages.json, a form), with a priority from the level.
type Pushover struct {
	endpoint string
	token    string
	user     string
	post     *poster
}

// Pushover's limits, in characters; bytes here, which is stricter.
const (
	pushoverTitleMax   = 250
	pushoverMessageMax = 1024
)

// NewPushover checks c and returns the channel.
func NewPushover(c PushoverConfig) (*Pushover, error) {
	name := defaultName(c.Name, "pushover")
	base, err := baseURL("pushover", name, c.APIURL, "https://api.pushover.net")
	if err != nil {
		return nil, err
	}
	if err := required("pushover", name, "token", c.Token, "user key", c.UserKey); err != nil {
		return nil, err
	}
	return &Pushover{endpoint: base + "/1/messages.json", token: c.Token, user: c.UserKey, post: newPoster("pushover", name, c.Timeout)}, nil
}

// Name returns the channel's configured name.
func (p *Pushover) Name() string { return p.post.name }

// Send posts n as one Pushover message.
func (p *Pushover) Send(ctx context.Context, n Notification) error {
	return p.post.do(ctx, request{url: p.endpoint, contentType: formType, body: []byte(p.form(n).Encode())})
}

func (p *Pushover) form(n Notification) url.Values {
	f := url.Values{
		"token":    {p.token},
		"user":     {p.user},
		"title":    {truncateUTF8(title(n), pushoverTitleMax)},
		"message":  {render(n, plainMarkup, false, pushoverMessageMax)},
		"priority": {strconv.Itoa(pushoverPriority(n.Level))},
	}
	if f.Get("message") == "" {
		f.Set("message", f.Get("title")) // Pushover refuses an empty message
	}
	if !n.Time.IsZero() {
		f.Set("timestamp", strconv.FormatInt(n.Time.Unix(), 10))
	}
	return f
}

// pushoverPriority maps a level to Pushover's priorities: 1 (high,
// bypasses quiet hours) for CRITICAL, 0 (normal) for WARNING and UNKNOWN,
// -1 (quiet) for OK. 2 (emergency, repeated until acknowledged) is left to
// the operator's own Pushover rules: it needs retry and expire settings.
func pushoverPriority(level string) int {
	switch strings.ToUpper(level) {
	case LevelCritical:
		return 1
	case LevelOK:
		return -1
	}
	return 0
}

// Close closes the channel's idle connections.
func (p *Pushover) Close() error { return p.post.Close() }

var _ Channel = (*Pushover)(nil)
