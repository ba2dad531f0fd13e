package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hbd-project/hbd/internal/apiauth"
)

// API is the [api] table: who may use the HTTP API (tokens, users), TLS on
// hbd_port, profiling, and the limits that keep one client from taking the
// daemon's connections or CPU. The connection limits cover every TCP
// listener (hbd_port, ws_port, wss_port); the rest covers hbd_port and,
// for authentication and rate, the WebSocket ports too.
//
// With no token and no user (the default) reads are open to anyone who can
// reach the port and writes (silences) are accepted only from loopback.
// With any credential configured, every API call and the WebSocket stream
// need one, from loopback too; the pages themselves stay public (they hold
// no data and show a login field).
type API struct {
	Tokens []APIToken `toml:"token"` // [[api.token]]: bearer tokens
	Users  []APIUser  `toml:"user"`  // [[api.user]]: basic-auth users

	// TLSPem and TLSKey turn on TLS for hbd_port (https:// and wss:// on
	// /hbd); both or neither. Relative to cert_path unless absolute; use
	// Daemon.APITLSPemPath and APITLSKeyPath. The files are re-read when
	// they change, so a renewed certificate needs no restart.
	TLSPem string `toml:"tls_pem"`
	TLSKey string `toml:"tls_key"`

	// Pprof serves /debug/pprof: from loopback, or with a write token.
	// Default false (404).
	Pprof bool `toml:"pprof"`

	// Rate is the requests per second each client address may make (an
	// IPv4 address or an IPv6 /64), with bursts of Burst; 0 turns the limit
	// off. Addresses in RateExempt are never limited: by default loopback,
	// so hbd-bench and a reverse proxy on the same host are not throttled.
	Rate       float64  `toml:"rate"`
	Burst      int      `toml:"burst"`
	RateExempt []string `toml:"rate_exempt"`

	// MaxConns caps the open TCP connections of all listeners together;
	// 0 = three quarters of the process's file descriptor limit, so
	// connections can never take the descriptors the journal, the state
	// files and the notifiers need. MaxConnsPerIP caps those of one
	// client address (IPv4, or IPv6 /64); 0 = no per-address cap.
	MaxConns      int `toml:"max_conns"`
	MaxConnsPerIP int `toml:"max_conns_per_ip"`

	// ReadTimeout bounds reading one request (headers and body, and the
	// TLS handshake); IdleTimeout how long a keep-alive connection may wait
	// for its next request.
	ReadTimeout Duration `toml:"read_timeout"`
	IdleTimeout Duration `toml:"idle_timeout"`
}

// APIToken is one [[api.token]]: a bearer token known by its hash.
type APIToken struct {
	Name  string `toml:"name"`  // shown in logs; unique
	Scope string `toml:"scope"` // "read" or "write" (write includes read)
	Hash  string `toml:"hash"`  // "sha256:<hex>" of the token; hbd -new-token makes both
}

// APIUser is one [[api.user]]: a basic-auth user, for browsers' login
// dialogs and tools that speak only basic auth.
type APIUser struct {
	Name         string `toml:"name"`          // the user name; unique, no ':'
	Scope        string `toml:"scope"`         // "read" or "write"
	PasswordHash string `toml:"password_hash"` // bcrypt hash ($2a$, $2b$ or $2y$)
}

// [api] defaults.
const (
	DefaultAPIRate          = 100.0 // requests per second per client address
	DefaultAPIBurst         = 200
	DefaultAPIMaxConnsPerIP = 256
	DefaultAPIReadTimeout   = 10 * time.Second
	DefaultAPIIdleTimeout   = 2 * time.Minute
)

func defaultAPI() API {
	return API{
		Rate:          DefaultAPIRate,
		Burst:         DefaultAPIBurst,
		RateExempt:    []string{"127.0.0.0/8", "::1/128"},
		MaxConnsPerIP: DefaultAPIMaxConnsPerIP,
		ReadTimeout:   Duration{DefaultAPIReadTimeout},
		IdleTimeout:   Duration{DefaultAPIIdleTimeout},
	}
}

// APITLSPemPath is [api] tls_pem joined to cert_path unless absolute.
func (d *Daemon) APITLSPemPath() string { return underDir(d.CertPath, d.API.TLSPem) }

// APITLSKeyPath is [api] tls_key joined to cert_path unless absolute.
func (d *Daemon) APITLSKeyPath() string { return underDir(d.CertPath, d.API.TLSKey) }

// RateExemptPrefixes returns rate_exempt parsed; validation has checked it.
func (a *API) RateExemptPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range a.RateExempt {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads "10.0.0.0/8" or a single address ("::1").
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address or prefix %q: want e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or \"192.0.2.7\"", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (d *Daemon) validateAPI(r *report) {
	p := top("api")
	a := &d.API
	names := map[string]string{}
	hashes := map[string]int{}
	for i, t := range a.Tokens {
		tp := p.key("token").at(i)
		validateCredName(r, tp.key("name"), t.Name, names, tp.String())
		if _, err := apiauth.ParseScope(t.Scope); err != nil {
			r.invalidAt(tp, tp.key("scope"), "%s", err.Error())
		}
		sum, err := apiauth.ParseHash(t.Hash)
		if err != nil {
			r.invalidAt(tp, tp.key("hash"), "%s", err.Error())
			continue
		}
		k := string(sum[:])
		if j, dup := hashes[k]; dup {
			r.invalid(tp.key("hash"), "the same token as api.token[%d]; give each client its own token", j)
			continue
		}
		hashes[k] = i
	}
	for i, u := range a.Users {
		up := p.key("user").at(i)
		validateCredName(r, up.key("name"), u.Name, names, up.String())
		if _, err := apiauth.ParseScope(u.Scope); err != nil {
			r.invalidAt(up, up.key("scope"), "%s", err.Error())
		}
		if err := apiauth.CheckBcrypt(u.PasswordHash); err != nil {
			r.invalidAt(up, up.key("password_hash"), "%s", err.Error())
		}
	}

	switch {
	case a.TLSPem != "" && a.TLSKey != "":
		checkFile(r, p.key("tls_pem"), d.APITLSPemPath(), "certificate (PEM) file")
		checkFile(r, p.key("tls_key"), d.APITLSKeyPath(), "private key file")
	case a.TLSPem != "":
		r.invalid(p.key("tls_key"), "required when tls_pem is set: the private key file, relative to cert_path unless absolute")
	case a.TLSKey != "":
		r.invalid(p.key("tls_pem"), "required when tls_key is set: the certificate (PEM) file, relative to cert_path unless absolute")
	}

	if a.Rate < 0 || math.IsNaN(a.Rate) || math.IsInf(a.Rate, 0) {
		r.invalid(p.key("rate"), "must be 0 (off) or a positive number of requests per second, got %v", a.Rate)
	}
	if a.Rate > 0 {
		intRange(r, p.key("burst"), a.Burst, 1, 1000000)
	}
	for i, s := range a.RateExempt {
		if _, err := parsePrefix(s); err != nil {
			r.invalid(p.key("rate_exempt").at(i), "%s", err.Error())
		}
	}
	intRange(r, p.key("max_conns"), a.MaxConns, 0, 10000000)
	intRange(r, p.key("max_conns_per_ip"), a.MaxConnsPerIP, 0, 10000000)
	durationRange(r, p.key("read_timeout"), a.ReadTimeout, time.Second, 10*time.Minute)
	durationRange(r, p.key("idle_timeout"), a.IdleTimeout, time.Second, time.Hour)
}

func validateCredName(r *report, p keyPath, name string, seen map[string]string, at string) {
	switch {
	case name == "":
		r.invalidAt(p[:len(p)-1], p, "required: a name for logs (who used the API)")
	case len(name) > 64 || !printableASCII(name) || strings.ContainsRune(name, ':'):
		r.invalid(p, "must be 1 to 64 printable ASCII characters without ':', got %q", name)
	default:
		if other, dup := seen[name]; dup {
			r.invalid(p, "duplicate name %q (also %s)", name, other)
			return
		}
		seen[name] = at
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkFile reports a TLS file that does not exist or is not a regular
// file. It only checks; the daemon loads the files when it starts.
func checkFile(r *report, p keyPath, path, what string) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.invalid(p, "%s %q does not exist", what, path)
	case err != nil:
		r.invalid(p, "cannot use %s %q: %v", what, path, err)
	case !st.Mode().IsRegular():
		r.invalid(p, "%s %q is not a regular file", what, path)
	}
}
