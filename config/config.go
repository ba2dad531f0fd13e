package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that decodes from TOML strings such as "10s"
// or "1m30s" (Go duration syntax). A bare TOML integer is rejected rather than
// read as nanoseconds, because `interval = 10` almost always means seconds.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number with a unit, e.g. \"30s\", \"5m\" or \"1h30m\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration the way UnmarshalText reads it, without
// zero tails ("5m" rather than "5m0s").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(fmtDuration(d.Duration)), nil
}

// fmtDuration is time.Duration.String without the zero tails that make
// messages noisy: 1h0m0s becomes 1h, 5m0s becomes 5m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Error is one problem in a config file.
type Error struct {
	File string // path or name the config was loaded from; "" for defaults
	Line int    // 1-based line of the key; 0 when unknown (a default value)
	Key  string // dotted key path, e.g. "exec[1].timeout"; "" for file-level problems
	Msg  string
}

// Error formats the problem as "file:line: key: msg", leaving out the parts
// that are not known.
func (e Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config, sorted by line (problems
// without a line come last). The Load and Parse functions return it as their
// error when it has at least one entry.
type Errors []Error

// Error joins the problems with newlines, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ValidHostName reports whether s is an acceptable hbd host name: 1..253
// bytes of ASCII letters, digits, '-', '.' and '_', not starting with '.' or
// '-'. The wire protocol applies the same rule; this copy keeps the config
// package free of transport dependencies.
func ValidHostName(s string) bool { return validName(s, 253) }

// validPluginName is the host-name rule with a 64-byte limit, as on the wire.
func validPluginName(s string) bool { return validName(s, 64) }

func validName(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

const hostNameRule = "use 1-253 ASCII letters, digits, '-', '.' and '_', not starting with '.' or '-'"

// DefaultDataDir is where the daemon keeps its state and where daemon and
// agent look for the shared key when none is configured: $HBD_DATA_DIR if
// set; /var/lib/hbd when running as root; otherwise $XDG_STATE_HOME/hbd or
// ~/.local/state/hbd. It reads the environment on every call.
func DefaultDataDir() string {
	if d := os.Getenv("HBD_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/hbd"
	}
	// The XDG spec says relative values are invalid and must be ignored.
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "hbd")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "hbd")
	}
	return filepath.Join(os.TempDir(), "hbd")
}

// readConfig reads path for LoadDaemon and LoadAgent. A file that cannot be
// read is not a problem inside the config, so it is a wrapped error (callers
// can test errors.Is(err, fs.ErrNotExist)), not Errors.
func readConfig(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return data, nil
}
