// Package apiauth holds the credentials of hbd's HTTP API: bearer tokens
// and basic-auth users, each with a scope, and the checks that decide
// whether a request's Authorization header carries one of them.
//
// Tokens are random strings handed to clients once; the daemon keeps only
// their SHA-256 ("sha256:<hex>" in the config), as Grafana keeps API keys,
// so a leaked config file does not leak a usable token. A token has 256
// bits of entropy, so a fast hash is enough: there is nothing to guess.
// Users are for people behind a browser's login dialog and keep bcrypt
// hashes, as Prometheus' web.config.file does, because passwords are chosen
// by people and need a slow hash.
//
// Comparisons are constant-time over every configured token, so the time a
// check takes says nothing about which token, or how much of one, matched.
// bcrypt checks are slow by design (tens of milliseconds): successful ones
// are cached (bounded), and at most [bcryptParallel] run at once, so a
// flood of wrong passwords costs the daemon one core at most.
//
// Concurrency: a [Set] is safe for concurrent use once built.
package apiauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Scope is what a credential may do.
type Scope int

// Scopes, in increasing power: Write includes Read.
const (
	None Scope = iota
	Read
	Write
)

func (s Scope) String() string {
	switch s {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "none"
}

// ParseScope reads "read" or "write".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	}
	return None, fmt.Errorf("invalid scope %q: must be \"read\" or \"write\"", s)
}

// hashPrefix starts every stored token hash.
const hashPrefix = "sha256:"

// tokenPrefix starts every token NewToken makes, so a token found in a
// log or a repository is recognisable as an hbd API token.
const tokenPrefix = "hbd_"

// NewToken returns a fresh random token (256 bits, URL-safe, so it also
// fits a WebSocket URL's query) and its hash for the config.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("cannot read random bytes for a token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the config form of a token's hash: "sha256:<hex>".
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// ParseHash reads a "sha256:<64 hex digits>" token hash.
func ParseHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, hashPrefix)
	if !ok {
		return sum, fmt.Errorf("invalid token hash %q: must start with %q (make one with hbd -new-token or hbd -hash-token)", short(s), hashPrefix)
	}
	if len(hexPart) != hex.EncodedLen(sha256.Size) {
		return sum, fmt.Errorf("invalid token hash: want %d hex digits after %q, got %d", hex.EncodedLen(sha256.Size), hashPrefix, len(hexPart))
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, fmt.Errorf("invalid token hash: %w", err)
	}
	return sum, nil
}

// CheckBcrypt reports whether s is a bcrypt hash bcrypt can use.
func CheckBcrypt(s string) error {
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return fmt.Errorf("invalid bcrypt hash: %w (make one with htpasswd -nbBC 10 USER PASSWORD)", err)
	}
	return nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

// Token is one configured bearer token.
type Token struct {
	Name  string
	Scope Scope
	Sum   [sha256.Size]byte // SHA-256 of the token
}

// User is one configured basic-auth user.
type User struct {
	Name   string
	Scope  Scope
	Bcrypt string // bcrypt hash of the password
}

// Identity is who a request proved to be.
type Identity struct {
	Name  string // the token's or user's configured name
	Scope Scope
}

// Errors of Check. ErrNoCredentials means the request carried none;
// ErrInvalid that it carried some that match nothing.
var (
	ErrNoCredentials = errors.New("no credentials")
	ErrInvalid       = errors.New("invalid credentials")
)

// bcryptParallel bounds the bcrypt comparisons running at once.
const bcryptParallel = 2

// maxCached bounds the cache of successful basic-auth checks.
const maxCached = 1024

// dummyBcrypt is compared against when the user is unknown, so an unknown
// user takes as long as a wrong password and names cannot be probed.
var dummyBcrypt = []byte("$2a$10$WylJjcshTiyqXRvEvMH7mOsFwTQ4Wn6EjwxxGut0BZvrm89F0c4CC")

// Set is the configured credentials.
type Set struct {
	tokens []Token
	users  map[string]User
	sem    chan struct{}
	// maxCached bounds cached; a field so tests can use a small bound.
	maxCached int

	mu     sync.Mutex
	cached map[[sha256.Size]byte]Identity // SHA-256 of "user\x00password" -> identity
}

// NewSet builds a Set; it keeps the slices' contents, not the slices.
func NewSet(tokens []Token, users []User) *Set {
	s := &Set{
		tokens:    append([]Token(nil), tokens...),
		users:     make(map[string]User, len(users)),
		sem:       make(chan struct{}, bcryptParallel),
		maxCached: maxCached,
		cached:    make(map[[sha256.Size]byte]Identity),
	}
	for _, u := range users {
		s.users[u.Name] = u
	}
	return s
}

// Empty reports whether no credential is configured.
func (s *Set) Empty() bool { return s == nil || (len(s.tokens) == 0 && len(s.users) == 0) }

// HasUsers reports whether basic-auth users are configured.
func (s *Set) HasUsers() bool { return s != nil && len(s.users) > 0 }

// CheckToken returns the identity of a presented bearer token. It compares
// the token's hash with every configured one, in constant time each and
// without stopping at a match.
func (s *Set) CheckToken(token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoCredentials
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].Sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, ErrInvalid
	}
	return Identity{Name: s.tokens[found].Name, Scope: s.tokens[found].Scope}, nil
}

// CheckBasic returns the identity of a user and password.
func (s *Set) CheckBasic(user, password string) (Identity, error) {
	key := sha256.Sum256([]byte(user + "\x00" + password))
	s.mu.Lock()
	id, ok := s.cached[key]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	u, known := s.users[user]
	hash := dummyBcrypt
	if known {
		hash = []byte(u.Bcrypt)
	}
	s.sem <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-s.sem
	if !known || err != nil {
		return Identity{}, ErrInvalid
	}
	id = Identity{Name: u.Name, Scope: u.Scope}
	s.mu.Lock()
	if len(s.cached) >= s.maxCached {
		// Dropping everything is simpler than LRU and costs one bcrypt
		// per active user to rebuild; only a flood of distinct valid
		// passwords, which needs valid passwords, can get here.
		clear(s.cached)
	}
	s.cached[key] = id
	s.mu.Unlock()
	return id, nil
}

// CheckHeader checks an Authorization header value ("Bearer <token>" or
// "Basic <base64(user:password)>"). An empty header is ErrNoCredentials.
func (s *Set) CheckHeader(h string) (Identity, error) {
	if h == "" {
		return Identity{}, ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return Identity{}, ErrInvalid
		}
		return s.CheckToken(rest)
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Identity{}, ErrInvalid
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Identity{}, ErrInvalid
		}
		return s.CheckBasic(user, pass)
	}
	return Identity{}, ErrInvalid
}
