package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Key-file limits.
const (
	// MinKeyLen is the shortest accepted key in bytes (128 bits).
	MinKeyLen = 16
	// GeneratedKeyLen is the length in bytes of keys made by GenerateKeyFile.
	GeneratedKeyLen = 32
	// maxKeyFile bounds how much of a key file is read (bytes), so a path
	// pointing at a device or a huge file fails fast instead of hanging.
	maxKeyFile = 4096
)

// LoadKey reads a key file: the key in hex (at least MinKeyLen bytes, i.e. 32
// hex digits), surrounding whitespace ignored. Every error names the path.
// It does not check the file mode; see KeyFileTooOpen.
func LoadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read key file %s: %w", path, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read key file %s: %w", path, err)
	}
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("key file %s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	text := bytes.TrimSpace(raw)
	if len(text) == 0 {
		return nil, fmt.Errorf("key file %s: empty", path)
	}
	key := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(key, text); err != nil {
		return nil, fmt.Errorf("key file %s: key must be hex digits: %w", path, err)
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("key file %s: key is %d bytes, need at least %d (%d hex digits)", path, len(key), MinKeyLen, 2*MinKeyLen)
	}
	return key, nil
}

// KeyFileTooOpen reports whether the key file at path grants any permission
// to group or others (mode & 0o077 != 0), so callers can warn. It returns
// false when the file cannot be stat'ed; LoadKey reports that.
func KeyFileTooOpen(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	return fi.Mode().Perm()&0o077 != 0
}

// GenerateKeyFile creates path holding GeneratedKeyLen random bytes as hex
// plus a newline, with mode 0600 (missing parent directories get 0700). It
// refuses to overwrite an existing file, so a fleet key is never replaced by
// accident. It returns the key.
func GenerateKeyFile(path string) ([]byte, error) {
	key := make([]byte, GeneratedKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("cannot generate key for %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create directory for key file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create key file %s: %w", path, err)
	}
	text := hex.AppendEncode(nil, key)
	text = append(text, '\n')
	_, werr := f.Write(text)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// Do not leave a half-written key behind: the next run would load it.
		return nil, errors.Join(fmt.Errorf("cannot write key file %s: %w", path, werr), os.Remove(path))
	}
	return key, nil
}
