package notify

import (
	"fmt"
	"os"
	"strings"

	"github.com/hbd-project/hbd/config"
)

// Type is one type of notification channel: the name a [[notify]] table
// gives as its type, and how to build the channel from that table. The
// table's keys, their defaults and their validation are config's (see
// config.NotifyTypes); New gets a table that has passed them.
type Type struct {
	Name string
	New  func(n config.Notify) (Channel, error)
}

// Types returns the channel types, one row each. A new type is a file of
// its own (the Channel and its New) and a row here, with its keys in
// config.Notify and its row in config's table of types.
func Types() []Type {
	return []Type{
		{config.NotifyWebhook, newWebhookFromConfig},
		{config.NotifyExec, newExecFromConfig},
		{config.NotifyEmail, newEmailFromConfig},
		{config.NotifyPushover, newPushoverFromConfig},
		{config.NotifyMatrix, newMatrixFromConfig},
		{config.NotifyMattermost, func(n config.Notify) (Channel, error) {
			c, err := chatWebhookConfig(n)
			if err != nil {
				return nil, err
			}
			return NewMattermost(c)
		}},
		{config.NotifySlack, func(n config.Notify) (Channel, error) {
			c, err := chatWebhookConfig(n)
			if err != nil {
				return nil, err
			}
			return NewSlack(c)
		}},
		{config.NotifySignal, func(n config.Notify) (Channel, error) {
			return NewSignal(SignalConfig{Name: n.Name, APIURL: n.APIURL, Number: n.From, Recipients: n.To, Timeout: n.Timeout.Duration})
		}},
		{config.NotifySMS, newSMSFromConfig},
		{config.NotifyTelegram, newTelegramFromConfig},
		{config.NotifyNtfy, newNtfyFromConfig},
	}
}

// New builds the channel of a validated [[notify]] table.
func New(n config.Notify) (Channel, error) {
	for _, t := range Types() {
		if t.Name == n.Type {
			return t.New(n)
		}
	}
	return nil, fmt.Errorf("unknown type %q", n.Type)
}

func newWebhookFromConfig(n config.Notify) (Channel, error) {
	return NewWebhook(WebhookConfig{Name: n.Name, URL: n.URL, Template: n.Template, ContentType: n.ContentType, Headers: n.Headers, Timeout: n.Timeout.Duration})
}

func newExecFromConfig(n config.Notify) (Channel, error) {
	return NewExec(ExecConfig{Name: n.Name, Command: n.Command, Timeout: n.Timeout.Duration})
}

// newEmailFromConfig reads password_file (see secret).
func newEmailFromConfig(n config.Notify) (Channel, error) {
	password, err := secret(n.Password, n.PasswordFile, "password_file")
	if err != nil {
		return nil, err
	}
	return NewEmail(EmailConfig{Name: n.Name, Server: n.Server, From: n.From, To: n.To, Username: n.Username, Password: password, StartTLS: n.StartTLS, Subject: n.Subject, Timeout: n.Timeout.Duration})
}

// secret is inline, or the contents of file (trimmed) when file is set.
// Files are read here, at start-up (and at each reload), rather than in
// config: -check-config may run as a user who cannot read them.
func secret(inline, file, key string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func newPushoverFromConfig(n config.Notify) (Channel, error) {
	token, err := secret(n.Token, n.TokenFile, "token_file")
	if err != nil {
		return nil, err
	}
	return NewPushover(PushoverConfig{Name: n.Name, APIURL: n.APIURL, Token: token, UserKey: n.UserKey, Timeout: n.Timeout.Duration})
}

func newMatrixFromConfig(n config.Notify) (Channel, error) {
	token, err := secret(n.Token, n.TokenFile, "token_file")
	if err != nil {
		return nil, err
	}
	return NewMatrix(MatrixConfig{Name: n.Name, APIURL: n.APIURL, AccessToken: token, Room: n.Room, Timeout: n.Timeout.Duration})
}

func newSMSFromConfig(n config.Notify) (Channel, error) {
	token, err := secret(n.Token, n.TokenFile, "token_file")
	if err != nil {
		return nil, err
	}
	return NewSMS(SMSConfig{Name: n.Name, APIURL: n.APIURL, AccountSID: n.AccountSID, AuthToken: token, From: n.From, To: n.To, Timeout: n.Timeout.Duration})
}

func newTelegramFromConfig(n config.Notify) (Channel, error) {
	token, err := secret(n.Token, n.TokenFile, "token_file")
	if err != nil {
		return nil, err
	}
	return NewTelegram(TelegramConfig{Name: n.Name, APIURL: n.APIURL, Token: token, ChatID: n.ChatID, Timeout: n.Timeout.Duration})
}

func newNtfyFromConfig(n config.Notify) (Channel, error) {
	token, err := secret(n.Token, n.TokenFile, "token_file")
	if err != nil {
		return nil, err
	}
	return NewNtfy(NtfyConfig{Name: n.Name, APIURL: n.APIURL, Topic: n.Topic, Token: token, Timeout: n.Timeout.Duration})
}

func chatWebhookConfig(n config.Notify) (ChatWebhookConfig, error) {
	u, err := secret(n.URL, n.URLFile, "url_file")
	return ChatWebhookConfig{Name: n.Name, URL: u, Timeout: n.Timeout.Duration}, err
}
