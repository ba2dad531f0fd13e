package apiauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestNewTokenAndHash(t *testing.T) {
	t.Parallel()
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "hbd_") || len(tok) != 4+43 {
		t.Errorf("token %q: want hbd_ and 43 base64url characters", tok)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not URL-safe", tok)
	}
	if hash != HashToken(tok) {
		t.Errorf("NewToken's hash %q differs from HashToken's %q", hash, HashToken(tok))
	}
	// A known vector: sha256("test").
	if got := HashToken("test"); got != "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("HashToken(test) = %s", got)
	}
	tok2, _, _ := NewToken()
	if tok2 == tok {
		t.Error("two tokens are equal")
	}
	sum, err := ParseHash(hash)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet([]Token{{Name: "t", Scope: Read, Sum: sum}}, nil)
	if id, err := s.CheckToken(tok); err != nil || id.Name != "t" || id.Scope != Read {
		t.Errorf("CheckToken(own token) = %+v, %v", id, err)
	}
}

func TestParseHash(t *testing.T) {
	t.Parallel()
	good := HashToken("x")
	tests := []struct {
		in   string
		want string // error substring; "" = valid
	}{
		{good, ""},
		{strings.ToUpper(good[:7]) + good[7:], "must start with"},
		{"sha256:" + strings.ToUpper(good[7:]), ""},
		{good[7:], "must start with"},
		{"sha256:abc", "want 64 hex digits"},
		{good[:len(good)-1] + "g", "invalid byte"},
		{"", "must start with"},
		{"bcrypt:" + good[7:], "must start with"},
	}
	for _, tt := range tests {
		_, err := ParseHash(tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ParseHash(%q): %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ParseHash(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Scope{"read": Read, "write": Write} {
		if got, err := ParseScope(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseScope(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "Read", "admin", "rw"} {
		if _, err := ParseScope(in); err == nil {
			t.Errorf("ParseScope(%q) accepted", in)
		}
	}
}

func mustSum(t *testing.T, token string) [32]byte {
	t.Helper()
	s, err := ParseHash(HashToken(token))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckHeader(t *testing.T) {
	t.Parallel()
	pw, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(
		[]Token{{Name: "reader", Scope: Read, Sum: mustSum(t, "tok-r")}, {Name: "writer", Scope: Write, Sum: mustSum(t, "tok-w")}},
		[]User{{Name: "alice", Scope: Write, Bcrypt: string(pw)}},
	)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		header string
		name   string
		scope  Scope
		err    error
	}{
		{"", "", None, ErrNoCredentials},
		{"Bearer tok-r", "reader", Read, nil},
		{"bearer tok-w", "writer", Write, nil},
		{"Bearer  tok-w ", "writer", Write, nil},
		{"Bearer tok-x", "", None, ErrInvalid},
		{"Bearer tok-r2", "", None, ErrInvalid},
		{"Bearer ", "", None, ErrInvalid},
		{"Bearer", "", None, ErrInvalid},
		{"Token tok-r", "", None, ErrInvalid},
		{basic("alice", "s3cret"), "alice", Write, nil},
		{basic("alice", "s3cret"), "alice", Write, nil}, // from the cache
		{basic("alice", "wrong"), "", None, ErrInvalid},
		{basic("bob", "s3cret"), "", None, ErrInvalid},
		{"Basic !!!", "", None, ErrInvalid},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", None, ErrInvalid},
	}
	for _, tt := range tests {
		id, err := s.CheckHeader(tt.header)
		if !errors.Is(err, tt.err) || id.Name != tt.name || id.Scope != tt.scope {
			t.Errorf("CheckHeader(%q) = %+v, %v; want %s/%v, %v", tt.header, id, err, tt.name, tt.scope, tt.err)
		}
	}
	if s.Empty() || !s.HasUsers() {
		t.Error("Empty/HasUsers wrong for a set with tokens and users")
	}
	if !NewSet(nil, nil).Empty() || NewSet(nil, nil).HasUsers() {
		t.Error("Empty/HasUsers wrong for an empty set")
	}
}

// The cache of successful basic-auth checks stays bounded however many
// distinct valid credentials arrive, and still answers after a reset.
func TestBasicCacheBounded(t *testing.T) {
	t.Parallel()
	pw, _ := bcrypt.GenerateFromPassword([]byte("p"), bcrypt.MinCost)
	var users []User
	for i := range 12 {
		users = append(users, User{Name: fmt.Sprintf("u%d", i), Scope: Read, Bcrypt: string(pw)})
	}
	s := NewSet(nil, users)
	s.maxCached = 5
	for round := range 2 {
		for _, u := range users {
			if id, err := s.CheckBasic(u.Name, "p"); err != nil || id.Name != u.Name {
				t.Fatalf("round %d: CheckBasic(%s) = %+v, %v", round, u.Name, id, err)
			}
			s.mu.Lock()
			n := len(s.cached)
			s.mu.Unlock()
			if n > s.maxCached {
				t.Fatalf("cache holds %d entries, bound %d", n, s.maxCached)
			}
		}
	}
	// A wrong password is never cached.
	if _, err := s.CheckBasic("u0", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestCheckBcrypt(t *testing.T) {
	t.Parallel()
	pw, _ := bcrypt.GenerateFromPassword([]byte("p"), bcrypt.MinCost)
	if err := CheckBcrypt(string(pw)); err != nil {
		t.Error(err)
	}
	if err := CheckBcrypt(string(dummyBcrypt)); err != nil {
		t.Errorf("the dummy hash is not a usable bcrypt hash: %v", err)
	}
	for _, bad := range []string{"", "password", "$2a$", "sha256:00"} {
		if err := CheckBcrypt(bad); err == nil {
			t.Errorf("CheckBcrypt(%q) accepted", bad)
		}
	}
}
