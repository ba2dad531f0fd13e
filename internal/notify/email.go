package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// StartTLS policies for EmailConfig.StartTLS.
const (
	StartTLSAlways        = "always"        // upgrade, or fail if the server does not offer it
	StartTLSOpportunistic = "opportunistic" // upgrade when offered
	StartTLSNever         = "never"
)

// EmailConfig configures an Email channel.
type EmailConfig struct {
	Name     string
	Server   string   // host:port
	From     string   // RFC 5322 address, e.g. "hbd <hbd@example.com>"
	To       []string // RFC 5322 addresses
	Username string   // when set, AUTH PLAIN with Password
	Password string
	// StartTLS is "always" (default), "opportunistic" or "never".
	StartTLS string
	// TLSConfig is optional (tests use it to trust a test CA); its
	// ServerName defaults to Server's host.
	TLSConfig *tls.Config
	// Subject is an optional text/template on the Notification; default
	// "[hbd] {{.Level}} {{.Host}} {{.MetricPath}}".
	Subject string
	Timeout time.Duration // whole SMTP session, default 30 s
}

// Email sends each notification as a plain-text mail over SMTP.
//
// Credentials are only sent over TLS, or in the clear to a loopback server
// (net/smtp's rule); with StartTLS "always" a server that does not offer
// STARTTLS is an error before anything else is sent.
type Email struct {
	name      string
	server    string
	host      string
	from      *mail.Address
	to        []*mail.Address
	username  string
	password  string
	startTLS  string
	tlsConfig *tls.Config
	subject   *template.Template
	timeout   time.Duration
	localName string // our EHLO name
}

const defaultSubject = "[hbd] {{.Level}} {{.Host}} {{.MetricPath}}"

// NewEmail checks c and parses the subject template once. It reports every
// configuration error at once.
func NewEmail(c EmailConfig) (*Email, error) {
	name := c.Name
	if name == "" {
		name = "email"
	}
	e := &Email{
		name:     name,
		server:   c.Server,
		username: c.Username,
		password: c.Password,
		startTLS: strings.ToLower(c.StartTLS),
		timeout:  c.Timeout,
	}
	var errs []error
	host, _, err := net.SplitHostPort(c.Server)
	if err != nil || host == "" {
		errs = append(errs, fmt.Errorf("server %q: want host:port", c.Server))
	}
	e.host = host
	if e.from, err = mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from %q: %w", c.From, err))
	}
	if len(c.To) == 0 {
		errs = append(errs, errors.New("no recipients (to)"))
	}
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("to %q: %w", t, err))
			continue
		}
		e.to = append(e.to, a)
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("password set without username"))
	}
	switch e.startTLS {
	case "":
		e.startTLS = StartTLSAlways
	case StartTLSAlways, StartTLSOpportunistic, StartTLSNever:
	default:
		errs = append(errs, fmt.Errorf("starttls %q: want always, opportunistic or never", c.StartTLS))
	}
	subject := c.Subject
	if subject == "" {
		subject = defaultSubject
	}
	if e.subject, err = template.New(name).Funcs(templateFuncs()).Option("missingkey=error").Parse(subject); err != nil {
		errs = append(errs, fmt.Errorf("subject template: %w", err))
	}
	if e.timeout <= 0 {
		e.timeout = 30 * time.Second
	}
	if c.TLSConfig != nil {
		e.tlsConfig = c.TLSConfig.Clone()
	} else {
		e.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if e.tlsConfig.ServerName == "" {
		e.tlsConfig.ServerName = host
	}
	e.localName = ehloName()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("email %s: %w", name, err)
	}
	return e, nil
}

// ehloName is the name we greet servers with: our host name when it is a
// valid EHLO argument, else "localhost" (net/smtp's default).
func ehloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	return h
}

// Name returns the channel's configured name.
func (e *Email) Name() string { return e.name }

// Send delivers n to all recipients in one SMTP session, at most the
// timeout long.
func (e *Email) Send(ctx context.Context, n Notification) error {
	if err := e.send(ctx, n); err != nil {
		return fmt.Errorf("email %s: %w", e.name, err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, n Notification) error {
	msg, err := e.message(n, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	dialer := net.Dialer{}
	conn, err := dialer.DialContext(ctx, "tcp", e.server)
	if err != nil {
		return err
	}
	// net/smtp has no context: a deadline on the connection bounds the
	// whole session, and cancelling ctx moves it to now, which wakes any
	// blocked read or write.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return withCtx(ctx, fmt.Errorf("greeting: %w", err))
	}
	defer c.Close() // a no-op after Quit; closes the connection on errors
	if err := e.session(c, msg); err != nil {
		return withCtx(ctx, err)
	}
	return nil
}

func (e *Email) session(c *smtp.Client, msg []byte) error {
	if err := c.Hello(e.localName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if e.startTLS != StartTLSNever {
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered:
			if err := c.StartTLS(e.tlsConfig); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		case e.startTLS == StartTLSAlways:
			return errors.New("server does not offer STARTTLS (starttls = always)")
		}
	}
	if e.username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server does not offer AUTH but a username is configured")
		}
		if err := c.Auth(smtp.PlainAuth("", e.username, e.password, e.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The message was accepted at the end of DATA; a failed QUIT does not
	// undo that, and a retry would send it twice.
	_ = c.Quit()
	return nil
}

// withCtx adds the context's error when it explains err: a timeout or a
// cancel shows up as an i/o deadline error from the connection.
func withCtx(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		// The connection's deadline and ctx's timer expire at the same
		// instant, and the connection may notice first.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}

// message builds the RFC 5322 message: headers, then a quoted-printable
// UTF-8 plain-text body listing the notification's fields.
func (e *Email) message(n Notification, now time.Time) ([]byte, error) {
	var subj bytes.Buffer
	if err := e.subject.Execute(&subj, n); err != nil {
		return nil, fmt.Errorf("subject template: %w", err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	domain := e.from.Address[strings.LastIndexByte(e.from.Address, '@')+1:]
	if domain == "" {
		domain = "hbd.invalid"
	}
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}

	var b bytes.Buffer
	header := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	header("From", e.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(subj.String())))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write(emailBody(n))
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// oneLine turns line breaks into spaces and other control characters into
// U+FFFD: a subject is one header line and a body field one line, and
// what they show comes from the network, so it must not add lines.
func oneLine(s string) string {
	return strings.TrimSpace(cleanText(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)))
}

func emailBody(n Notification) []byte {
	var b bytes.Buffer
	if n.Message != "" {
		b.WriteString(oneLine(n.Message))
		b.WriteString("\r\n\r\n")
	}
	field := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteString(k)
		b.WriteString(strings.Repeat(" ", 14-len(k)))
		b.WriteString(oneLine(v))
		b.WriteString("\r\n")
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339) + " (" + unixText(t) + ")"
	}
	value := n.ValueText()
	if value == "" {
		value = "unknown"
	}
	field("Kind:", n.Kind)
	field("Host:", n.Host)
	field("Metric:", n.MetricPath)
	field("Level:", n.Level)
	field("Previous:", n.PrevLevel)
	field("Value:", value)
	field("Since:", when(n.Since))
	field("Time:", when(n.Time))
	field("Sent before:", strconv.Itoa(n.NotificationCount))
	field("Dependents:", n.DependentsText())
	if n.GroupSize > 0 {
		b.WriteString("\r\n")
		for _, m := range n.Members[:min(len(n.Members), MaxListed)] {
			b.WriteString(oneLine(m.Host + ": " + m.Message))
			b.WriteString("\r\n")
		}
		if more := n.GroupSize - min(len(n.Members), MaxListed); more > 0 {
			fmt.Fprintf(&b, "... and %d more\r\n", more)
		}
	}
	return b.Bytes()
}

var _ Channel = (*Email)(nil)
