package notify

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// TelegramConfig configures a Telegram channel.
type TelegramConfig struct {
	Name    string
	APIURL  string // default "https://api.telegram.org"
	Token   string // the bot's token
	ChatID  string // a numeric chat id or a channel's "@name"
	Timeout time.Duration
}

// Telegram sends each notification through a bot (Bot API sendMessage:
// POST /bot{token}/sendMessage) in parse_mode HTML, everything from the
// network escaped (see htmlMarkup). The token is in the path as the Bot API
// documents it ("/bot123456:ABC-DEF.../sendMessage"), ':' unescaped.
type Telegram struct {
	endpoint string // holds the token: never in errors
	logURL   string
	chatID   string
	post     *poster
}

// telegramTextMax bounds the text (bytes of HTML); Telegram takes 4,096
// characters after parsing it.
const telegramTextMax = 4096

// NewTelegram checks c and returns the channel.
func NewTelegram(c TelegramConfig) (*Telegram, error) {
	name := defaultName(c.Name, "telegram")
	if err := required("telegram", name, "bot token", c.Token, "chat id", c.ChatID); err != nil {
		return nil, err
	}
	base, err := baseURL("telegram", name, c.APIURL, "https://api.telegram.org")
	if err != nil {
		return nil, err
	}
	return &Telegram{
		endpoint: base + "/bot" + url.PathEscape(c.Token) + "/sendMessage",
		logURL:   base + "/bot<token>/sendMessage",
		chatID:   c.ChatID,
		post:     newPoster("telegram", name, c.Timeout),
	}, nil
}

// Name returns the channel's configured name.
func (t *Telegram) Name() string { return t.post.name }

type telegramMessage struct {
	ChatID             string `json:"chat_id"`
	Text               string `json:"text"`
	ParseMode          string `json:"parse_mode"`
	LinkPreviewOptions struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options"`
}

// Send posts n as one message to the chat.
func (t *Telegram) Send(ctx context.Context, n Notification) error {
	msg := telegramMessage{ChatID: t.chatID, Text: render(n, htmlMarkup("\n"), true, telegramTextMax), ParseMode: "HTML"}
	msg.LinkPreviewOptions.IsDisabled = true // host names are not links to preview
	body, err := json.Marshal(msg)
	if err != nil {
		return t.post.wrap(err)
	}
	return t.post.do(ctx, request{url: t.endpoint, logURL: t.logURL, contentType: "application/json", body: body})
}

// Close closes the channel's idle connections.
func (t *Telegram) Close() error { return t.post.Close() }

var _ Channel = (*Telegram)(nil)
