package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hbd-project/hbd/config"
	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/internal/apiauth"
)

// fdReserve is the share of the file descriptor limit kept from network
// connections when [api] max_conns is 0: the journal, the state files, the
// UDP sockets, notification pipes and webhook connections need some.
const fdReserveNum, fdReserveDen = 1, 4

// autoMaxConns is the default cap on open TCP connections: three quarters
// of the file descriptor limit, at least 64.
func autoMaxConns(fdLimit uint64) int {
	if fdLimit == 0 {
		return 0 // unknown limit: no cap
	}
	n := fdLimit - fdLimit*fdReserveNum/fdReserveDen
	return int(max(64, min(n, 1<<24)))
}

// buildGuard turns the [api] table into the HTTP servers' guard.
func buildGuard(cfg *config.Daemon, log *slog.Logger, fdLimit uint64) (*hbdhttp.Guard, error) {
	a := cfg.API
	var tokens []apiauth.Token
	for _, t := range a.Tokens {
		scope, err := apiauth.ParseScope(t.Scope)
		if err != nil {
			return nil, fmt.Errorf("api.token %q: %w", t.Name, err)
		}
		sum, err := apiauth.ParseHash(t.Hash)
		if err != nil {
			return nil, fmt.Errorf("api.token %q: %w", t.Name, err)
		}
		tokens = append(tokens, apiauth.Token{Name: t.Name, Scope: scope, Sum: sum})
	}
	var users []apiauth.User
	for _, u := range a.Users {
		scope, err := apiauth.ParseScope(u.Scope)
		if err != nil {
			return nil, fmt.Errorf("api.user %q: %w", u.Name, err)
		}
		users = append(users, apiauth.User{Name: u.Name, Scope: scope, Bcrypt: u.PasswordHash})
	}
	maxConns := a.MaxConns
	if maxConns == 0 {
		maxConns = autoMaxConns(fdLimit)
	}
	if fdLimit > 0 && uint64(maxConns) > fdLimit {
		log.Warn("[api] max_conns is above the file descriptor limit: idle connections can exhaust descriptors (the listeners then back off and retry, but the journal and state files may fail to open)",
			"max_conns", maxConns, "fd_limit", fdLimit)
	}
	creds := apiauth.NewSet(tokens, users)
	log.Info("HTTP limits", "max_conns", maxConns, "max_conns_per_ip", a.MaxConnsPerIP, "rate_per_s", a.Rate, "burst", a.Burst,
		"rate_exempt", strings.Join(a.RateExempt, ","), "tokens", len(tokens), "users", len(users), "pprof", a.Pprof)
	if creds.Empty() && cfg.HBDHost == "" {
		log.Info("the HTTP API has no [api] tokens: reads are open to anyone who can reach hbd_port, writes only from loopback (docs/SECURITY.md)")
	}
	return hbdhttp.NewGuard(hbdhttp.GuardOptions{
		Credentials:   creds,
		CORSOrigins:   cfg.CORSOrigins,
		Pprof:         a.Pprof,
		Rate:          a.Rate,
		Burst:         a.Burst,
		RateExempt:    a.RateExemptPrefixes(),
		MaxConns:      maxConns,
		MaxConnsPerIP: a.MaxConnsPerIP,
		ReadTimeout:   a.ReadTimeout.Duration,
		IdleTimeout:   a.IdleTimeout.Duration,
		Logger:        log,
	}), nil
}

// apiTLS is the API port's TLS config from [api] tls_pem and tls_key, or
// nil when they are not set. The certificate is re-read when its files
// change.
func apiTLS(cfg *config.Daemon, log *slog.Logger) (*tls.Config, error) {
	if cfg.API.TLSPem == "" {
		return nil, nil
	}
	r, err := hbdhttp.NewCertReloader(cfg.APITLSPemPath(), cfg.APITLSKeyPath(), log.With("listener", "api"))
	if err != nil {
		return nil, fmt.Errorf("[api] TLS: %w", err)
	}
	return r.TLSConfig(), nil
}

// newToken prints a fresh API token, its hash and the config table for it.
func newToken(w io.Writer) error {
	tok, hash, err := apiauth.NewToken()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `token: %s
hash:  %s

Give the token to the client (it is shown only now) and add to hbd.toml:

[[api.token]]
name = "CHANGE-ME"
scope = "read"   # or "write"
hash = %q
`, tok, hash, hash)
	return err
}

// hashToken reads a token from r (its first line) and prints its hash.
func hashToken(r io.Reader, w io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot read the token from standard input: %w", err)
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return errors.New("no token on standard input: echo -n TOKEN | hbd -hash-token")
	}
	_, err = fmt.Fprintln(w, apiauth.HashToken(tok))
	return err
}
