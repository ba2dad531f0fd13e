package notify

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
