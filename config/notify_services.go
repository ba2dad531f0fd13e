package config

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The public API base URLs of the services that have one; api_url
// overrides them (a self-hosted server, or a test server).
const (
	PushoverAPIURL = "https://api.pushover.net"
	TwilioAPIURL   = "https://api.twilio.com"
	TelegramAPIURL = "https://api.telegram.org"
	NtfyAPIURL     = "https://ntfy.sh"
)

var (
	// Pushover application tokens and user or group keys: 30 letters and
	// digits.
	pushoverKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{30}$`)
	// E.164: "+", a country code not starting with 0, at most 15 digits.
	e164RE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// A signal-cli REST API group id: "group." and the base64 of the id.
	signalGroupRE = regexp.MustCompile(`^group\.[A-Za-z0-9+/=_-]{1,200}$`)
	// An alphanumeric SMS sender id (at most 11 characters, a letter among
	// them) or a messaging service SID ("MG" and 32 hex digits).
	smsSenderIDRE = regexp.MustCompile(`^(?:[A-Za-z0-9 ]{0,10}[A-Za-z][A-Za-z0-9 ]{0,10}|MG[0-9a-fA-F]{32})$`)
	// The account in the path of a Twilio-compatible API: Twilio's are
	// "AC" and 32 hex digits; other gateways' differ, so any URL-safe word.
	accountSIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// A Telegram bot token: the bot's id, ":", the secret.
	telegramTokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)
	// A Telegram chat: a numeric id (negative for groups and channels) or
	// a public channel's "@username".
	telegramChatRE = regexp.MustCompile(`^(?:-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)
	// ntfy's topic names.
	ntfyTopicRE = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)
)

// defaultAPIURL returns a complete function setting api_url to def when
// it is not given.
func defaultAPIURL(def string) func(n *Notify, r *report, p keyPath) {
	return func(n *Notify, r *report, p keyPath) {
		if n.APIURL == "" {
			n.APIURL = def
		}
	}
}

// checkHTTPURL reports a value that is not an absolute http or https URL
// without query, fragment or user info (a base URL that paths are added
// to, or a webhook's whole URL when whole is set).
func checkHTTPURL(r *report, p keyPath, s string, whole bool) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		r.invalid(p, "must be an absolute http or https URL, got %q", s)
	case len(s) > 2048:
		r.invalid(p, "must be at most 2048 bytes, got %d", len(s))
	case u.User != nil:
		r.invalid(p, "must not hold a user or password; use the type's own keys")
	case !whole && (u.RawQuery != "" || u.Fragment != ""):
		r.invalid(p, "must be a base URL without query or fragment, got %q", s)
	}
}

// validateAPIURL checks api_url; required says whether the type has no
// default (LoadDaemon has set the defaults).
func (n *Notify) validateAPIURL(r *report, p keyPath, required bool, example string) {
	ap := p.key("api_url")
	switch {
	case n.APIURL == "" && required:
		r.invalidAt(p, ap, "required for type %s: %s", n.Type, example)
	case n.APIURL != "":
		checkHTTPURL(r, ap, n.APIURL, false)
	}
}

// validateToken checks token and token_file: one of them when required,
// never both; form checks an inline token (nil: any).
func (n *Notify) validateToken(r *report, p keyPath, required bool, what string, form *regexp.Regexp) {
	tp, tfp := p.key("token"), p.key("token_file")
	switch {
	case n.Token != "" && n.TokenFile != "":
		r.invalid(tfp, "token and token_file are mutually exclusive; keep one")
	case n.Token == "" && n.TokenFile == "" && required:
		r.invalidAt(p, tp, "required for type %s (or token_file, a file holding it): %s", n.Type, what)
	case n.TokenFile != "":
		checkSecretFile(r, tfp, n.TokenFile)
	case n.Token != "" && form != nil && !form.MatchString(n.Token):
		// The value is a secret: the error does not repeat it.
		r.invalid(tp, "is not %s", what)
	case n.Token != "" && (len(n.Token) > 1024 || strings.ContainsAny(n.Token, "\r\n\x00 ")):
		r.invalid(tp, "must be at most 1024 bytes without spaces, line breaks or NUL")
	}
}

func (n *Notify) validatePushover(r *report, p keyPath) {
	n.validateAPIURL(r, p, false, "")
	n.validateToken(r, p, true, "the application's API token (30 letters and digits)", pushoverKeyRE)
	up := p.key("user_key")
	switch {
	case n.UserKey == "":
		r.invalidAt(p, up, "required for type pushover: the user or group key to notify (30 letters and digits)")
	case !pushoverKeyRE.MatchString(n.UserKey):
		r.invalid(up, "must be 30 letters and digits, got %d characters", utf8.RuneCountInString(n.UserKey))
	}
}

func (n *Notify) validateMatrix(r *report, p keyPath) {
	n.validateAPIURL(r, p, true, `the homeserver's URL, e.g. "https://matrix.example.org"`)
	n.validateToken(r, p, true, "the access token of the account that posts", nil)
	rp := p.key("room")
	switch {
	case n.Room == "":
		r.invalidAt(p, rp, `required for type matrix: the room id, e.g. "!AbCdEf:example.org" (room settings, Advanced)`)
	case len(n.Room) > 255 || !strings.HasPrefix(n.Room, "!") || !strings.Contains(n.Room, ":") ||
		strings.ContainsFunc(n.Room, func(c rune) bool { return c <= ' ' || c == 0x7f }):
		// Aliases (#room:server) would need a lookup per send.
		r.invalid(rp, `must be a room id such as "!AbCdEf:example.org" (not an alias), at most 255 bytes, got %q`, n.Room)
	}
}

// validateChatWebhook checks slack's and mattermost's one key.
func (n *Notify) validateChatWebhook(r *report, p keyPath) {
	up, fp := p.key("url"), p.key("url_file")
	switch {
	case n.URL != "" && n.URLFile != "":
		r.invalid(fp, "url and url_file are mutually exclusive; keep one")
	case n.URLFile != "":
		checkSecretFile(r, fp, n.URLFile)
	case n.URL == "":
		r.invalidAt(p, up, `required for type %s (or url_file, a file holding it): the incoming webhook's URL, e.g. "https://hooks.example.com/services/T000/B000/XXXX"`, n.Type)
	default:
		checkHTTPURL(r, up, n.URL, true)
	}
}

func (n *Notify) validateSignal(r *report, p keyPath) {
	n.validateAPIURL(r, p, true, `the signal-cli REST API's URL, e.g. "http://127.0.0.1:8080"`)
	fp := p.key("from")
	switch {
	case n.From == "":
		r.invalidAt(p, fp, `required for type signal: the number registered with signal-cli, e.g. "+4915112345678"`)
	case !e164RE.MatchString(n.From):
		r.invalid(fp, `must be a phone number in international format, e.g. "+4915112345678", got %q`, n.From)
	}
	n.validateRecipients(r, p, func(s string) bool { return e164RE.MatchString(s) || signalGroupRE.MatchString(s) },
		`numbers in international format or signal-cli group ids, e.g. ["+4915112345678", "group.ZmVkY2Jh"]`)
}

func (n *Notify) validateSMS(r *report, p keyPath) {
	n.validateAPIURL(r, p, false, "")
	ap := p.key("account_sid")
	switch {
	case n.AccountSID == "":
		r.invalidAt(p, ap, `required for type sms: the account SID, e.g. "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"`)
	case !accountSIDRE.MatchString(n.AccountSID):
		r.invalid(ap, "must be 1-64 letters, digits, '-' and '_', got %q", n.AccountSID)
	}
	n.validateToken(r, p, true, "the account's auth token", nil)
	fp := p.key("from")
	switch {
	case n.From == "":
		r.invalidAt(p, fp, `required for type sms: the sender, e.g. "+15005550006"`)
	case !e164RE.MatchString(n.From) && !smsSenderIDRE.MatchString(n.From):
		r.invalid(fp, `must be a number in international format ("+15005550006"), an alphanumeric sender id of at most 11 characters or a messaging service SID, got %q`, n.From)
	}
	n.validateRecipients(r, p, e164RE.MatchString, `numbers in international format, e.g. ["+15005550006"]`)
}

// validateRecipients checks to for signal and sms: 1 to 100 recipients.
func (n *Notify) validateRecipients(r *report, p keyPath, ok func(string) bool, want string) {
	tp := p.key("to")
	switch {
	case len(n.To) == 0:
		r.invalidAt(p, tp, "required for type %s: the recipients, %s", n.Type, want)
		return
	case len(n.To) > 100:
		r.invalid(tp, "at most 100 recipients, got %d", len(n.To))
		return
	}
	for i, s := range n.To {
		if !ok(s) {
			r.invalid(tp.at(i), "invalid recipient %q: want %s", s, want)
		}
	}
}

func (n *Notify) validateTelegram(r *report, p keyPath) {
	n.validateAPIURL(r, p, false, "")
	n.validateToken(r, p, true, `the bot's token from @BotFather, e.g. "123456789:AAE..."`, telegramTokenRE)
	cp := p.key("chat_id")
	switch {
	case n.ChatID == "":
		r.invalidAt(p, cp, `required for type telegram: the chat's id, e.g. "-1001234567890", or a channel's "@name"`)
	case !telegramChatRE.MatchString(n.ChatID):
		r.invalid(cp, `must be a numeric chat id such as "-1001234567890" or a channel's "@name", got %q`, n.ChatID)
	}
}

func (n *Notify) validateNtfy(r *report, p keyPath) {
	n.validateAPIURL(r, p, false, "")
	n.validateToken(r, p, false, "an access token", nil)
	tp := p.key("topic")
	switch {
	case n.Topic == "":
		r.invalidAt(p, tp, `required for type ntfy: the topic to publish to, e.g. "hbd-alerts"`)
	case !ntfyTopicRE.MatchString(n.Topic):
		r.invalid(tp, "must be 1-64 letters, digits, '-' and '_', got %q", n.Topic)
	}
}
