package config

import (
	"errors"
	"io/fs"
	"mime"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Notify is one [[notify]] channel: where alert notifications go. The keys
// after Group belong to some types only (the `used` tag lists them, comma
// separated); a key of another type in the table is an error, since it
// would be ignored.
//
// LoadDaemon fills in the defaults that depend on Type or on the table's
// position after decoding: Name, Timeout and (for email) StartTLS, and it
// upper-cases MinLevel and lower-cases StartTLS.
type Notify struct {
	Type string `toml:"type"` // required: one of NotifyTypes()
	// Name identifies the channel in logs and metrics; unique among
	// [[notify]] tables. Default "<type>-<n>", n counting [[notify]]
	// tables from 1.
	Name     string   `toml:"name"`
	MinLevel string   `toml:"min_level"` // least severe level sent: WARNING (default), UNKNOWN or CRITICAL
	Hosts    []string `toml:"hosts"`     // path.Match globs on host names; empty = all hosts
	Repeat   Duration `toml:"repeat"`    // re-send while an alert stays active; default 0 = never, else >= 1m
	Timeout  Duration `toml:"timeout"`   // per attempt; 1s..5m, default 10s for the HTTP types, 30s for exec and email
	// Group: transitions that start within [alerting] group_wait of each
	// other go out as one notification (default true); false sends each
	// at once.
	Group bool `toml:"group"`

	// Webhook: an HTTP POST per notification. Slack and Mattermost: the
	// incoming webhook's URL.
	URL string `toml:"url" used:"webhook,slack,mattermost"` // http or https
	// URLFile holds slack's or mattermost's URL instead (the URL is the
	// webhook's secret), read at start-up; not with url.
	URLFile string `toml:"url_file" used:"slack,mattermost"`
	// Template is a text/template producing the request body from the
	// notification; "" = the notification as JSON.
	Template    string            `toml:"template" used:"webhook"`
	ContentType string            `toml:"content_type" used:"webhook"` // "" = application/json
	Headers     map[string]string `toml:"headers" used:"webhook"`      // extra request headers

	// Exec: a program run per notification, without a shell, with the
	// notification as JSON on its standard input.
	Command []string `toml:"command" used:"exec" example:"[\"/usr/local/bin/page\", \"--team\", \"ops\"]"`

	// Email: a plain-text mail over SMTP.
	Server       string   `toml:"server" used:"email"`          // SMTP server, host:port
	From         string   `toml:"from" used:"email,signal,sms"` // email: RFC 5322 address, e.g. "hbd <hbd@example.com>"; signal, sms: the sender's number
	To           []string `toml:"to" used:"email,signal,sms"`   // email: at least one RFC 5322 address; signal, sms: the recipients' numbers
	Username     string   `toml:"username" used:"email"`        // "" = no SMTP AUTH
	Password     string   `toml:"password" used:"email"`        // or password_file, not both
	PasswordFile string   `toml:"password_file" used:"email"`   // file holding the password, read at start-up; keeps the secret out of the config
	StartTLS     string   `toml:"starttls" used:"email"`        // "always" (default), "opportunistic" or "never"
	Subject      string   `toml:"subject" used:"email"`         // text/template; "" = the notifier's default subject

	// The chat and push services (see notify_services.go for their checks).
	//
	// APIURL is the service's base URL: its public API by default, a
	// self-hosted server's (or a test server's) when set. Matrix and
	// signal have no default: the homeserver, the signal-cli REST API.
	APIURL string `toml:"api_url" used:"pushover,matrix,signal,sms,telegram,ntfy"`
	// Token is the service's secret: pushover's application token,
	// matrix's access token, sms's auth token (the basic-auth password),
	// telegram's bot token, ntfy's access token (optional). Or TokenFile,
	// a file holding it, read at start-up; not both.
	Token      string `toml:"token" used:"pushover,matrix,sms,telegram,ntfy"`
	TokenFile  string `toml:"token_file" used:"pushover,matrix,sms,telegram,ntfy"`
	UserKey    string `toml:"user_key" used:"pushover"` // the user or group key to notify
	Room       string `toml:"room" used:"matrix"`       // room id, "!abc:example.org"
	AccountSID string `toml:"account_sid" used:"sms"`   // the account, in the path and as the basic-auth user
	ChatID     string `toml:"chat_id" used:"telegram"`  // a chat id ("-1001234567890") or "@channelname"
	Topic      string `toml:"topic" used:"ntfy"`        // the topic to publish to

	// Line is the line of the channel's [[notify]] header, set by
	// LoadDaemon (0 for channels built in code).
	Line int `toml:"-"`
}

// The [[notify]] types. Each is one row of notifyTypeTable; the channel
// itself is built by the row of the same name in internal/notify's registry.
const (
	NotifyWebhook = "webhook"
	NotifyExec    = "exec"
	NotifyEmail   = "email"

	NotifyPushover   = "pushover"
	NotifyMatrix     = "matrix"
	NotifyMattermost = "mattermost"
	NotifySlack      = "slack"
	NotifySignal     = "signal"
	NotifySMS        = "sms"
	NotifyTelegram   = "telegram"
	NotifyNtfy       = "ntfy"
)

// notifyType is what the config knows of one [[notify]] type: its default
// timeout and the checks of its own keys. Its keys are the Notify fields
// whose `used` tag names it.
type notifyType struct {
	name    string
	timeout time.Duration // default per attempt
	// complete sets the type's own defaults (see Notify.complete); may be nil.
	complete func(n *Notify, r *report, p keyPath)
	validate func(n *Notify, r *report, p keyPath)
}

// notifyTypeTable lists the [[notify]] types, in the order error messages
// name them. Type names, default timeouts and type checks all come from
// here; a new type is a row here, its keys in Notify and its channel in
// internal/notify.
func notifyTypeTable() []notifyType {
	return []notifyType{
		{name: NotifyWebhook, timeout: 10 * time.Second, validate: (*Notify).validateWebhook},
		// Mail servers and paging scripts are slower than web hooks.
		{name: NotifyExec, timeout: 30 * time.Second, validate: (*Notify).validateExec},
		{name: NotifyEmail, timeout: 30 * time.Second, complete: (*Notify).completeEmail, validate: (*Notify).validateEmail},
		{name: NotifyPushover, timeout: 10 * time.Second, complete: defaultAPIURL(PushoverAPIURL), validate: (*Notify).validatePushover},
		{name: NotifyMatrix, timeout: 10 * time.Second, validate: (*Notify).validateMatrix},
		{name: NotifyMattermost, timeout: 10 * time.Second, validate: (*Notify).validateChatWebhook},
		{name: NotifySlack, timeout: 10 * time.Second, validate: (*Notify).validateChatWebhook},
		{name: NotifySignal, timeout: 10 * time.Second, validate: (*Notify).validateSignal},
		{name: NotifySMS, timeout: 10 * time.Second, complete: defaultAPIURL(TwilioAPIURL), validate: (*Notify).validateSMS},
		{name: NotifyTelegram, timeout: 10 * time.Second, complete: defaultAPIURL(TelegramAPIURL), validate: (*Notify).validateTelegram},
		{name: NotifyNtfy, timeout: 10 * time.Second, complete: defaultAPIURL(NtfyAPIURL), validate: (*Notify).validateNtfy},
	}
}

// NotifyTypes returns the names of the [[notify]] types, in a new slice.
func NotifyTypes() []string {
	var names []string
	for _, t := range notifyTypeTable() {
		names = append(names, t.name)
	}
	return names
}

// lookupNotifyType returns the row of type name.
func lookupNotifyType(name string) (notifyType, bool) {
	for _, t := range notifyTypeTable() {
		if t.name == name {
			return t, true
		}
	}
	return notifyType{}, false
}

// orList joins names as `a, b or c`, each quoted when quote is set.
func orList(names []string, quote bool) string {
	if quote {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = strconv.Quote(n)
		}
		names = q
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// notifyLevels are the accepted min_level values, in increasing severity.
func notifyLevels() []string { return []string{"WARNING", "UNKNOWN", "CRITICAL"} }

func startTLSModes() []string { return []string{"always", "opportunistic", "never"} }

func (n *Notify) setDefaults() { n.MinLevel, n.Group = "WARNING", true }

// complete sets the defaults of the [[notify]] table at p (index i) that
// depend on its type and position; see Daemon.complete.
func (n *Notify) complete(r *report, p keyPath, i int) {
	n.Line = r.lineOf(p)
	typ, known := lookupNotifyType(n.Type)
	if !r.isSet(p.key("name")) {
		prefix := n.Type
		if !known {
			prefix = "notify" // a bad type would make a bad name too
		}
		n.Name = prefix + "-" + strconv.Itoa(i+1)
	}
	if up := strings.ToUpper(n.MinLevel); slices.Contains(notifyLevels(), up) {
		n.MinLevel = up
	}
	if !known {
		return
	}
	if !r.isSet(p.key("timeout")) {
		n.Timeout = Duration{typ.timeout}
	}
	if typ.complete != nil {
		typ.complete(n, r, p)
	}
}

// completeEmail defaults and normalises starttls.
func (n *Notify) completeEmail(r *report, p keyPath) {
	if !r.isSet(p.key("starttls")) {
		n.StartTLS = "always"
	} else if low := strings.ToLower(n.StartTLS); slices.Contains(startTLSModes(), low) {
		n.StartTLS = low
	}
}

// validate checks the [[notify]] table at p (index i); names maps the
// names seen so far to their index.
func (n *Notify) validate(r *report, p keyPath, names map[string]int, i int) {
	tp := p.key("type")
	typ, known := lookupNotifyType(n.Type)
	switch {
	case n.Type == "":
		r.invalidAt(p, tp, "required: %s", orList(NotifyTypes(), true))
	case !known:
		r.invalid(tp, "unknown type %q; want %s", n.Type, orList(NotifyTypes(), false))
	}

	np := p.key("name")
	switch j, dup := names[n.Name]; {
	case !validPluginName(n.Name):
		r.invalidAt(p, np, "invalid name %q: use 1-64 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'", n.Name)
	case dup && !r.isSet(np):
		r.invalidAt(p, np, "the default name %q is taken by notify[%d]; set name", n.Name, j)
	case dup && !r.isSet(top("notify").at(j).key("name")):
		r.invalid(np, "duplicate name %q (the default name of notify[%d])", n.Name, j)
	case dup:
		r.invalid(np, "duplicate name %q (also notify[%d])", n.Name, j)
	default:
		names[n.Name] = i
	}

	if !slices.Contains(notifyLevels(), strings.ToUpper(n.MinLevel)) {
		r.invalid(p.key("min_level"), "must be one of %s, got %q", strings.Join(notifyLevels(), ", "), n.MinLevel)
	}
	validateGlobs(r, p.key("hosts"), n.Hosts)
	// A repeat every few seconds would flood whoever is on call.
	if n.Repeat.Duration != 0 && n.Repeat.Duration < time.Minute {
		r.invalid(p.key("repeat"), "must be 0 (no repeats) or at least 1m, got %s", fmtDuration(n.Repeat.Duration))
	}
	if !known {
		return // which keys belong, and the timeout default, depend on the type
	}
	durationRange(r, p.key("timeout"), n.Timeout, time.Second, 5*time.Minute)
	n.rejectOtherTypes(r, p)
	typ.validate(n, r, p)
}

// rejectOtherTypes reports the keys of other types present in the table.
func (n *Notify) rejectOtherTypes(r *report, p keyPath) {
	v := reflect.ValueOf(n).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		used := f.Tag.Get("used")
		if used == "" {
			continue
		}
		types := strings.Split(used, ",")
		if slices.Contains(types, n.Type) {
			continue
		}
		kp := p.key(tagName(f))
		if r.written(kp, v.Field(i)) {
			what := "type " + used
			if len(types) > 1 {
				what = "types " + orList(types, false)
			}
			r.invalid(kp, "not used by type %s (it is a key of %s)", n.Type, what)
		}
	}
}

func (n *Notify) validateWebhook(r *report, p keyPath) {
	up := p.key("url")
	if n.URL == "" {
		r.invalidAt(p, up, `required for type webhook: the http or https URL to POST to, e.g. "https://hooks.example.com/hbd"`)
	} else if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.invalid(up, "must be an absolute http or https URL, got %q", n.URL)
	}
	if n.Template != "" {
		checkTemplate(r, p.key("template"), n.Template)
	}
	if n.ContentType != "" {
		if _, _, err := mime.ParseMediaType(n.ContentType); err != nil {
			r.invalid(p.key("content_type"), "invalid media type %q, e.g. \"application/json\" or \"text/plain; charset=utf-8\"", n.ContentType)
		}
	}
	hp := p.key("headers")
	for _, k := range sortedKeys(n.Headers) {
		switch {
		case !isHTTPToken(k):
			r.invalid(hp.key(k), "invalid header name %q: use letters, digits and !#$%%&'*+-.^_`|~", k)
		case strings.ContainsAny(n.Headers[k], "\r\n\x00"):
			r.invalid(hp.key(k), "header value must not contain line breaks or NUL")
		}
	}
}

func (n *Notify) validateExec(r *report, p keyPath) { validateCommand(r, p, n.Command) }

func (n *Notify) validateEmail(r *report, p keyPath) {
	sp := p.key("server")
	if n.Server == "" {
		r.invalidAt(p, sp, `required for type email: the SMTP server as host:port, e.g. "smtp.example.com:587"`)
	} else if !validHostPort(n.Server) {
		r.invalid(sp, `must be host:port, e.g. "smtp.example.com:587" or "[2001:db8::25]:25", got %q`, n.Server)
	}

	fp := p.key("from")
	if n.From == "" {
		r.invalidAt(p, fp, `required for type email: the sender address, e.g. "hbd <hbd@example.com>"`)
	} else if _, err := mail.ParseAddress(n.From); err != nil {
		r.invalid(fp, "invalid address %q: want an address such as \"hbd@example.com\" or \"hbd <hbd@example.com>\"", n.From)
	}
	tp := p.key("to")
	if len(n.To) == 0 {
		r.invalidAt(p, tp, `required for type email: at least one recipient, e.g. ["ops@example.com"]`)
	}
	for i, a := range n.To {
		if _, err := mail.ParseAddress(a); err != nil {
			r.invalid(tp.at(i), "invalid address %q: want an address such as \"ops@example.com\" or \"Ops <ops@example.com>\"", a)
		}
	}

	pp, pfp := p.key("password"), p.key("password_file")
	switch {
	case n.Password != "" && n.PasswordFile != "":
		r.invalid(pfp, "password and password_file are mutually exclusive; keep one")
	case (n.Password != "" || n.PasswordFile != "") && n.Username == "":
		// net/smtp only authenticates with a user name.
		blame := pp
		if n.PasswordFile != "" {
			blame = pfp
		}
		r.invalid(blame, "is set but username is empty, so it would never be used")
	case n.PasswordFile != "":
		checkSecretFile(r, pfp, n.PasswordFile)
	}

	if !slices.Contains(startTLSModes(), strings.ToLower(n.StartTLS)) {
		r.invalid(p.key("starttls"), "must be one of %s, got %q", strings.Join(startTLSModes(), ", "), n.StartTLS)
	}
	if n.Subject != "" {
		checkTemplate(r, p.key("subject"), n.Subject)
	}
}

// checkSecretFile checks that a file read at start-up exists; like the TLS
// files, it is not opened here, since -check-config may run as another user.
func checkSecretFile(r *report, p keyPath, file string) {
	st, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.invalid(p, "file %q does not exist", file)
	case err != nil:
		r.invalid(p, "cannot use file %q: %v", file, err)
	case !st.Mode().IsRegular():
		r.invalid(p, "%q is not a regular file", file)
	}
}

// checkTemplate parses a notification template the way the notifier does,
// with stand-ins for its functions: only the syntax is checked here.
func checkTemplate(r *report, p keyPath, text string) {
	stub := func(any) string { return "" }
	funcs := template.FuncMap{"json": stub, "unix": stub, "upper": strings.ToUpper, "lower": strings.ToLower}
	if _, err := template.New("").Option("missingkey=error").Funcs(funcs).Parse(text); err != nil {
		// text/template says "template: NAME:LINE: msg"; the name is ours
		// and empty, and the line is within the template.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "template: :"); ok {
			msg = "line " + rest
		}
		r.invalid(p, "invalid template: %s", msg)
	}
}

// validHostPort reports whether s is host:port with a valid host name or IP
// and a port in 1..65535.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return ValidHostName(host)
}

// isHTTPToken reports whether s is an RFC 9110 token, the syntax of a
// header name.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
