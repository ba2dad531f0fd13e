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

// newEmailFromConfig reads password_file here, at start-up, rather than in
// config: -check-config may run as a user who cannot read it.
func newEmailFromConfig(n config.Notify) (Channel, error) {
	password := n.Password
	if n.PasswordFile != "" {
		b, err := os.ReadFile(n.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	return NewEmail(EmailConfig{Name: n.Name, Server: n.Server, From: n.From, To: n.To, Username: n.Username, Password: password, StartTLS: n.StartTLS, Subject: n.Subject, Timeout: n.Timeout.Duration})
}
