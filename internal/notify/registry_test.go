package notify

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbd-project/hbd/config"
)

// Every type the config accepts has a constructor, and no constructor
// exists for a type the config would reject.
func TestTypesMatchConfig(t *testing.T) {
	var names []string
	for _, ty := range Types() {
		names = append(names, ty.Name)
	}
	if want := config.NotifyTypes(); !slices.Equal(names, want) {
		t.Errorf("notify.Types() = %v, config.NotifyTypes() = %v: each type needs a row in both", names, want)
	}
}

// A validated [[notify]] table of each type builds a channel of that type
// under its configured name, with the type's default timeout.
func TestNewFromConfig(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "smtp.pw")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := `
[[notify]]
type = "webhook"
url = "http://127.0.0.1:9/hook"
[[notify]]
type = "exec"
name = "pager"
command = ["/bin/true"]
[[notify]]
type = "email"
server = "127.0.0.1:25"
from = "hbd@example.com"
to = ["ops@example.com"]
username = "hbd"
password_file = "` + secret + `"
`
	cfg, err := config.ParseDaemon("hbd.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want any
	}{
		{"webhook-1", &Webhook{}},
		{"pager", &Exec{}},
		{"email-3", &Email{}},
	} {
		i := slices.IndexFunc(cfg.Notify, func(n config.Notify) bool { return n.Name == tt.name })
		ch, err := New(cfg.Notify[i])
		if err != nil {
			t.Fatalf("New(%s): %v", tt.name, err)
		}
		if ch.Name() != tt.name {
			t.Errorf("New(%s).Name() = %q", tt.name, ch.Name())
		}
		if got, want := fmt.Sprintf("%T", ch), fmt.Sprintf("%T", tt.want); got != want {
			t.Errorf("New(%s) is a %s, want %s", tt.name, got, want)
		}
	}
	if e, err := New(cfg.Notify[2]); err != nil || e.(*Email).password != "s3cret" {
		t.Errorf("email password from password_file = %+v, %v; want s3cret", e, err)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(config.Notify{Type: "pigeon", Name: "p"}); err == nil || err.Error() != `unknown type "pigeon"` {
		t.Errorf("New(type pigeon) = %v, want unknown type", err)
	}
	missing := filepath.Join(t.TempDir(), "gone")
	n := config.Notify{Type: config.NotifyEmail, Name: "mail", Server: "127.0.0.1:25", From: "a@example.com", To: []string{"b@example.com"}, Username: "u", PasswordFile: missing, StartTLS: "never"}
	if _, err := New(n); err == nil || !strings.Contains(err.Error(), "cannot read password_file") {
		t.Errorf("New(email, unreadable password_file) = %v, want cannot read password_file", err)
	}
}

// A validated table of each service type builds its channel, with the
// public API as the default api_url and the token read from token_file.
func TestNewServicesFromConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urlFile := filepath.Join(dir, "slack-url")
	if err := os.WriteFile(urlFile, []byte("https://hooks.slack.com/services/T000/B000/XXXX\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := `
[[notify]]
type = "pushover"
token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
user_key = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
[[notify]]
type = "matrix"
api_url = "https://matrix.example.org"
token_file = "` + tokenFile + `"
room = "!AbC:example.org"
[[notify]]
type = "mattermost"
url = "https://chat.example.org/hooks/xyz"
[[notify]]
type = "slack"
url_file = "` + urlFile + `"
[[notify]]
type = "signal"
api_url = "http://127.0.0.1:8080"
from = "+4915112345678"
to = ["+4915187654321"]
[[notify]]
type = "sms"
account_sid = "AC0123456789abcdef0123456789abcdef"
token = "tok"
from = "+15005550006"
to = ["+15005550010"]
[[notify]]
type = "telegram"
token_file = "` + tokenFile + `"
chat_id = "@hbd_alerts"
[[notify]]
type = "ntfy"
topic = "hbd-alerts"
`
	cfg, err := config.ParseDaemon("hbd.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []any{&Pushover{}, &Matrix{}, &Mattermost{}, &Slack{}, &Signal{}, &SMS{}, &Telegram{}, &Ntfy{}}
	for i, n := range cfg.Notify {
		ch, err := New(n)
		if err != nil {
			t.Fatalf("New(%s): %v", n.Name, err)
		}
		defer ch.(interface{ Close() error }).Close()
		if got, want := fmt.Sprintf("%T", ch), fmt.Sprintf("%T", wantTypes[i]); got != want || ch.Name() != n.Type+"-"+fmt.Sprint(i+1) {
			t.Errorf("New(%s) is a %s named %q, want a %s", n.Name, got, ch.Name(), want)
		}
		if n.Timeout.Duration != 10*time.Second {
			t.Errorf("%s: timeout %v, want 10s", n.Name, n.Timeout)
		}
	}
	ch := func(i int) Channel {
		c, _ := New(cfg.Notify[i])
		t.Cleanup(func() { c.(interface{ Close() error }).Close() })
		return c
	}
	for _, tt := range []struct{ got, want string }{
		{ch(0).(*Pushover).endpoint, "https://api.pushover.net/1/messages.json"},
		{ch(1).(*Matrix).token, "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs"},
		{ch(3).(*Slack).url, "https://hooks.slack.com/services/T000/B000/XXXX"},
		{ch(5).(*SMS).endpoint, "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"},
		{ch(6).(*Telegram).endpoint, "https://api.telegram.org/bot123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs/sendMessage"},
		{ch(7).(*Ntfy).endpoint, "https://ntfy.sh/"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	n := cfg.Notify[6]
	n.TokenFile = filepath.Join(dir, "gone")
	if _, err := New(n); err == nil || !strings.Contains(err.Error(), "cannot read token_file") {
		t.Errorf("New(telegram, missing token_file) = %v", err)
	}
}
