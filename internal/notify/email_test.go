package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert makes a self-signed certificate for 127.0.0.1 and localhost,
// returning the server's TLS config and a pool that trusts it.
func testCert(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hbd test smtp"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// smtpServer is a small SMTP server on loopback that speaks enough of
// RFC 5321 (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to receive
// hbd's mails and record what it saw.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	offerTLS bool
	user     string
	pass     string
	sessions chan *smtpSession
	wg       sync.WaitGroup
}

// smtpSession is what one connection did.
type smtpSession struct {
	commands []string // verbs in order, e.g. EHLO STARTTLS EHLO AUTH ...
	tls      bool     // STARTTLS completed
	authUser string
	authPass string
	authOK   bool
	authTLS  bool // the AUTH command came over TLS
	from     string
	rcpt     []string
	data     []byte
}

func startSMTP(t *testing.T, offerTLS bool, user, pass string) *smtpServer {
	t.Helper()
	serverTLS, _ := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: serverTLS, offerTLS: offerTLS, user: user, pass: pass, sessions: make(chan *smtpSession, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

// trust returns a pool that trusts the server's certificate.
func (s *smtpServer) trust(t *testing.T) *x509.CertPool {
	t.Helper()
	cert, err := x509.ParseCertificate(s.tls.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// session returns the next finished session.
func (s *smtpServer) session(t *testing.T) *smtpSession {
	t.Helper()
	select {
	case sess := <-s.sessions:
		return sess
	case <-time.After(waitLimit):
		t.Fatal("no SMTP session")
		return nil
	}
}

func (s *smtpServer) serve(conn net.Conn) {
	sess := &smtpSession{}
	defer func() {
		conn.Close()
		s.sessions <- sess
	}()
	// A bound on a broken client, so the test cannot hang on us.
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 test.invalid ESMTP ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		sess.commands = append(sess.commands, verb)
		switch verb {
		case "EHLO":
			ext := []string{"test.invalid greets " + arg}
			if s.offerTLS && !sess.tls {
				ext = append(ext, "STARTTLS")
			}
			ext = append(ext, "AUTH PLAIN", "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "STARTTLS":
			if !s.offerTLS || sess.tls {
				reply("502 not now")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn = tc
			tp = textproto.NewConn(tc)
			sess.tls = true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 unknown mechanism")
				continue
			}
			if resp == "" {
				reply("334 ")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 malformed AUTH PLAIN")
				continue
			}
			sess.authUser, sess.authPass, sess.authTLS = parts[1], parts[2], sess.tls
			if parts[1] == s.user && parts[2] == s.pass {
				sess.authOK = true
				reply("235 2.7.0 authenticated")
			} else {
				reply("535 5.7.8 bad credentials")
			}
		case "MAIL":
			if s.user != "" && !sess.authOK {
				reply("530 5.7.0 authentication required")
				continue
			}
			sess.from = angle(arg)
			reply("250 ok")
		case "RCPT":
			sess.rcpt = append(sess.rcpt, angle(arg))
			reply("250 ok")
		case "DATA":
			reply("354 go on")
			if sess.data, err = tp.ReadDotBytes(); err != nil {
				return
			}
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// angle extracts the address in "FROM:<a@b> BODY=8BITMIME".
func angle(s string) string {
	i, j := strings.IndexByte(s, '<'), strings.IndexByte(s, '>')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

func newTestEmail(t *testing.T, c EmailConfig) *Email {
	t.Helper()
	e, err := NewEmail(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmailSTARTTLSAuthAndMessage(t *testing.T) {
	srv := startSMTP(t, true, "hbd", "pa55word")

	e := newTestEmail(t, EmailConfig{
		Name:      "ops-mail",
		Server:    srv.addr(),
		From:      "hbd <hbd@example.com>",
		To:        []string{"ops@example.com", "Oncall Person <oncall@example.net>"},
		Username:  "hbd",
		Password:  "pa55word",
		TLSConfig: &tls.Config{RootCAs: srv.trust(t)},
	})
	before := time.Now().Add(-time.Second)
	if err := e.Send(context.Background(), testNotification()); err != nil {
		t.Fatal(err)
	}
	sess := srv.session(t)

	if !sess.tls || !sess.authTLS {
		t.Errorf("tls = %v, auth over tls = %v; want both", sess.tls, sess.authTLS)
	}
	wantCmds := "EHLO STARTTLS EHLO AUTH MAIL RCPT RCPT DATA QUIT"
	if got := strings.Join(sess.commands, " "); got != wantCmds {
		t.Errorf("commands = %s\nwant       %s", got, wantCmds)
	}
	if sess.authUser != "hbd" || sess.authPass != "pa55word" || !sess.authOK {
		t.Errorf("auth = %q/%q ok=%v", sess.authUser, sess.authPass, sess.authOK)
	}
	if sess.from != "hbd@example.com" {
		t.Errorf("MAIL FROM = %q", sess.from)
	}
	if got := strings.Join(sess.rcpt, ","); got != "ops@example.com,oncall@example.net" {
		t.Errorf("RCPT TO = %s", got)
	}

	msg, err := mail.ReadMessage(strings.NewReader(string(sess.data)))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, sess.data)
	}
	h := msg.Header
	if got := h.Get("From"); got != `"hbd" <hbd@example.com>` {
		t.Errorf("From = %q", got)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "oncall@example.net" || to[1].Name != "Oncall Person" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if got := h.Get("Subject"); got != "[hbd] CRITICAL web01 cpu_monitor.cpu_percent" {
		t.Errorf("Subject = %q", got)
	}
	date, err := h.Date()
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %v (%v), want about now", date, err)
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("MIME headers: %v", h)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)",
		"Host:         web01",
		"Metric:       cpu_monitor.cpu_percent",
		"Level:        CRITICAL",
		"Previous:     WARNING",
		"Value:        95.5",
		"Time:         2024-03-23T22:56:07Z (1711234567.123)",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailSubjectTemplateAndHeaderSafety(t *testing.T) {
	srv := startSMTP(t, false, "", "")
	e := newTestEmail(t, EmailConfig{
		Server:   srv.addr(),
		From:     "hbd@example.com",
		To:       []string{"ops@example.com"},
		StartTLS: StartTLSNever,
		Subject:  "{{.Host}} ist {{lower .Level}} – {{.ValueText}}",
	})
	n := testNotification()
	n.Host = "wëb01\r\nBcc: victim@example.com"
	if err := e.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	sess := srv.session(t)
	if sess.tls || sess.authUser != "" {
		t.Errorf("tls = %v, auth user = %q; want neither with starttls never and no username", sess.tls, sess.authUser)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(sess.data)))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a host name injected a Bcc header: %q", bcc)
	}
	raw := msg.Header.Get("Subject")
	got, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := "wëb01  Bcc: victim@example.com ist critical – 95.5"; got != want {
		t.Errorf("Subject = %q (raw %q), want %q", got, raw, want)
	}
}

func TestEmailFailures(t *testing.T) {
	tests := []struct {
		name     string
		offerTLS bool
		policy   string
		password string
		want     string
		wantCmds string // what the server saw; no credentials or mail on failure
	}{
		{"always without server STARTTLS", false, StartTLSAlways, "pa55word", "does not offer STARTTLS", "EHLO QUIT"},
		{"wrong password", true, StartTLSAlways, "guess", "535", "EHLO STARTTLS EHLO AUTH"},
		{"opportunistic plaintext still checks password", false, StartTLSOpportunistic, "guess", "535", "EHLO AUTH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, tc.offerTLS, "hbd", "pa55word")
			e := newTestEmail(t, EmailConfig{
				Server: srv.addr(), From: "hbd@example.com", To: []string{"ops@example.com"},
				Username: "hbd", Password: tc.password, StartTLS: tc.policy,
				TLSConfig: &tls.Config{RootCAs: srv.trust(t)},
			})
			err := e.Send(context.Background(), testNotification())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			sess := srv.session(t)
			got := strings.Join(sess.commands, " ")
			// net/smtp may or may not say QUIT after a failed AUTH.
			got = strings.TrimSuffix(strings.TrimSuffix(got, " QUIT"), " *")
			want := strings.TrimSuffix(tc.wantCmds, " QUIT")
			if got != want {
				t.Errorf("server saw %q, want %q", got, want)
			}
			if sess.data != nil {
				t.Error("a message was delivered")
			}
		})
	}
}

func TestEmailUntrustedCertificate(t *testing.T) {
	srv := startSMTP(t, true, "hbd", "pa55word")
	_, otherCA := testCert(t)
	e := newTestEmail(t, EmailConfig{
		Server: srv.addr(), From: "hbd@example.com", To: []string{"ops@example.com"},
		Username: "hbd", Password: "pa55word",
		TLSConfig: &tls.Config{RootCAs: otherCA},
	})
	err := e.Send(context.Background(), testNotification())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a STARTTLS certificate error", err)
	}
	if sess := srv.session(t); sess.authUser != "" {
		t.Errorf("credentials %q/%q sent to an untrusted server", sess.authUser, sess.authPass)
	}
}

func TestEmailTimeout(t *testing.T) {
	// A server that accepts and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, conn) // until the client hangs up
		conn.Close()
	}()
	defer func() { ln.Close(); wg.Wait() }()
	e := newTestEmail(t, EmailConfig{Server: ln.Addr().String(), From: "hbd@example.com", To: []string{"ops@example.com"}, Timeout: 200 * time.Millisecond})
	err = e.Send(context.Background(), testNotification())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestNewEmailErrors(t *testing.T) {
	_, err := NewEmail(EmailConfig{
		Name:     "bad",
		Server:   "no-port",
		From:     "not an address",
		To:       []string{"ok@example.com", "also not"},
		Password: "x",
		StartTLS: "sometimes",
		Subject:  "{{.Host",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"email bad", "server", "from", `to "also not"`, "password set without username", "starttls", "subject template"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewEmail(EmailConfig{Server: "smtp.example.com:587", From: "hbd@example.com"}); err == nil || !strings.Contains(err.Error(), "no recipients") {
		t.Errorf("no recipients: err = %v", err)
	}
}
