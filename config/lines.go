package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// pathElem is one step of a key path: a table key, or an index into an
// array (of tables or of values).
type pathElem struct {
	name    string
	index   int
	isIndex bool
}

// keyPath locates a value in a TOML document, e.g. exec[1].timeout.
type keyPath []pathElem

// key returns p extended by a table key. It always copies, so paths built
// from a common prefix never share a backing array.
func (p keyPath) key(name string) keyPath {
	q := make(keyPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, pathElem{name: name})
}

// at returns p extended by an array index.
func (p keyPath) at(i int) keyPath {
	q := make(keyPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, pathElem{index: i, isIndex: true})
}

// canon is an unambiguous map key for p: every name is Go-quoted, so a
// quoted TOML key containing dots or brackets cannot collide with a path.
func (p keyPath) canon() string {
	var b strings.Builder
	for _, e := range p {
		if e.isIndex {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		} else {
			b.WriteString(strconv.Quote(e.name))
		}
	}
	return b.String()
}

// String is the path as users read it: dotted TOML keys, quoted when they
// are not bare keys, and [i] for array elements.
func (p keyPath) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.isIndex:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			if isBareKey(e.name) {
				b.WriteString(e.name)
			} else {
				b.WriteString(strconv.Quote(e.name))
			}
		}
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareKeyChar(s[i]) {
			return false
		}
	}
	return true
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// scanKeyLines returns the 1-based line on which each key path of a TOML
// document is first defined, keyed by keyPath.canon(). Table headers define
// their table (and any parent not seen before); array elements, including
// [[array]] tables, are indexed.
//
// It is a position finder for error messages, not a parser: it is only run
// on text that BurntSushi/toml has already accepted, it never fails, and on
// input it does not understand it skips to the next line. So a missing
// entry only costs an error its line number.
func scanKeyLines(src []byte) map[string]int {
	s := &lineScanner{src: src, line: 1, out: map[string]int{}, aot: map[string]int{}}
	s.document()
	return s.out
}

type lineScanner struct {
	src   []byte
	pos   int
	line  int
	out   map[string]int // canon path -> line
	aot   map[string]int // canon path of an array of tables -> element count so far
	table keyPath        // the table the current key/value lines belong to
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

func (s *lineScanner) has(prefix string) bool {
	// Compare only len(prefix) bytes: converting the whole rest of the
	// file to a string on every call would make the scan quadratic.
	return len(s.src)-s.pos >= len(prefix) && string(s.src[s.pos:s.pos+len(prefix)]) == prefix
}

func (s *lineScanner) record(p keyPath) {
	c := p.canon()
	if _, ok := s.out[c]; !ok {
		s.out[c] = s.line
	}
}

func (s *lineScanner) document() {
	if s.has("\xef\xbb\xbf") {
		s.pos = 3
	}
	for !s.eof() {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.pos
		switch s.src[s.pos] {
		case '\n':
			s.pos++
			s.line++
			continue
		case '\r':
			s.pos++
			continue
		case '#':
			s.skipToEOL()
			continue
		case '[':
			if !s.header() {
				s.skipToEOL()
			}
		default:
			if !s.keyValue(s.table) {
				s.skipToEOL()
			}
		}
		if s.pos == start { // cannot happen for valid TOML; guarantees progress
			s.pos++
		}
	}
}

// skipBlank skips spaces and tabs.
func (s *lineScanner) skipBlank() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// skipToEOL moves to the next newline without consuming it.
func (s *lineScanner) skipToEOL() {
	for !s.eof() && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// skipSpace skips whitespace, newlines and comments, as allowed between
// array elements and (in TOML 1.1) inline-table entries.
func (s *lineScanner) skipSpace() {
	for !s.eof() {
		switch s.src[s.pos] {
		case ' ', '\t', '\r':
			s.pos++
		case '\n':
			s.pos++
			s.line++
		case '#':
			s.skipToEOL()
		default:
			return
		}
	}
}

// header reads [table] or [[array]] and makes it the current table.
func (s *lineScanner) header() bool {
	aot := s.has("[[")
	if aot {
		s.pos += 2
	} else {
		s.pos++
	}
	names, ok := s.key()
	if !ok {
		return false
	}
	s.skipBlank()
	closing := "]"
	if aot {
		closing = "]]"
	}
	if !s.has(closing) {
		return false
	}
	s.pos += len(closing)

	var p keyPath
	for i, n := range names {
		p = p.key(n)
		c := p.canon()
		switch count, seen := s.aot[c]; {
		case aot && i == len(names)-1:
			s.record(p)
			s.aot[c] = count + 1
			p = p.at(count)
		case seen:
			// A header below an array of tables belongs to its last element.
			p = p.at(count - 1)
		}
		s.record(p)
	}
	s.table = p
	return true
}

// keyValue reads `key = value` and records the key, each prefix of a dotted
// key, and everything inside the value, under prefix.
func (s *lineScanner) keyValue(prefix keyPath) bool {
	names, ok := s.key()
	if !ok {
		return false
	}
	s.skipBlank()
	if s.peek() != '=' {
		return false
	}
	s.pos++
	p := prefix
	for _, n := range names {
		p = p.key(n)
		s.record(p)
	}
	s.skipBlank()
	return s.value(p)
}

// key reads a possibly dotted key of bare, "basic" and 'literal' parts.
func (s *lineScanner) key() ([]string, bool) {
	var names []string
	for {
		s.skipBlank()
		var (
			name string
			ok   bool
		)
		switch s.peek() {
		case '"':
			name, ok = s.basicKey()
		case '\'':
			name, ok = s.literalKey()
		default:
			start := s.pos
			for !s.eof() && isBareKeyChar(s.src[s.pos]) {
				s.pos++
			}
			name, ok = string(s.src[start:s.pos]), s.pos > start
		}
		if !ok {
			return nil, false
		}
		names = append(names, name)
		s.skipBlank()
		if s.peek() != '.' {
			return names, true
		}
		s.pos++
	}
}

// basicKey reads a "quoted" key and resolves its escapes, so the result
// matches the key BurntSushi/toml reports.
func (s *lineScanner) basicKey() (string, bool) {
	s.pos++ // opening quote
	var b strings.Builder
	for !s.eof() {
		c := s.src[s.pos]
		switch c {
		case '"':
			s.pos++
			return b.String(), true
		case '\n':
			return "", false
		case '\\':
			s.pos++
			if s.eof() {
				return "", false
			}
			e := s.src[s.pos]
			s.pos++
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'e':
				b.WriteByte(0x1b)
			case '"', '\\':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := 2 // \xHH
				switch e {
				case 'u':
					n = 4
				case 'U':
					n = 8
				}
				if s.pos+n > len(s.src) {
					return "", false
				}
				v, err := strconv.ParseUint(string(s.src[s.pos:s.pos+n]), 16, 32)
				if err != nil || !utf8.ValidRune(rune(v)) {
					return "", false
				}
				s.pos += n
				b.WriteRune(rune(v))
			default:
				return "", false
			}
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return "", false
}

func (s *lineScanner) literalKey() (string, bool) {
	s.pos++ // opening quote
	start := s.pos
	for !s.eof() {
		switch s.src[s.pos] {
		case '\'':
			name := string(s.src[start:s.pos])
			s.pos++
			return name, true
		case '\n':
			return "", false
		}
		s.pos++
	}
	return "", false
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under p.
func (s *lineScanner) value(p keyPath) bool {
	switch s.peek() {
	case '"':
		return s.skipString('"')
	case '\'':
		return s.skipString('\'')
	case '[':
		return s.array(p)
	case '{':
		return s.inlineTable(p)
	}
	// Numbers, booleans and date-times. A date-time may contain a space, so
	// only the characters that can follow a value end it.
	start := s.pos
	for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.pos])) {
		s.pos++
	}
	return s.pos > start
}

// skipString skips a string quoted with q: a basic string for a double
// quote, a literal string for a single quote, single or multi-line. It
// counts the newlines inside.
func (s *lineScanner) skipString(q byte) bool {
	triple := strings.Repeat(string(q), 3)
	if s.has(triple) {
		s.pos += 3
		for !s.eof() {
			c := s.src[s.pos]
			switch {
			case c == '\\' && q == '"':
				s.pos++
				if !s.eof() && s.src[s.pos] == '\n' {
					s.line++
				}
			case s.has(triple):
				s.pos += 3
				// Up to two more quotes may close the string: """a""""" is a"".
				for extra := 0; extra < 2 && s.peek() == q; extra++ {
					s.pos++
				}
				return true
			case c == '\n':
				s.line++
			}
			s.pos++
		}
		return false
	}
	s.pos++
	for !s.eof() {
		c := s.src[s.pos]
		switch {
		case c == '\\' && q == '"':
			s.pos++
		case c == q:
			s.pos++
			return true
		case c == '\n':
			return false
		}
		s.pos++
	}
	return false
}

func (s *lineScanner) array(p keyPath) bool {
	s.pos++ // '['
	for i := 0; ; {
		s.skipSpace()
		switch s.peek() {
		case 0:
			if s.eof() {
				return false
			}
		case ']':
			s.pos++
			return true
		case ',':
			s.pos++
			continue
		}
		ep := p.at(i)
		i++
		s.record(ep)
		if !s.value(ep) {
			return false
		}
	}
}

func (s *lineScanner) inlineTable(p keyPath) bool {
	s.pos++ // '{'
	for {
		s.skipSpace()
		switch s.peek() {
		case 0:
			if s.eof() {
				return false
			}
		case '}':
			s.pos++
			return true
		case ',':
			s.pos++
			continue
		}
		if !s.keyValue(p) {
			return false
		}
	}
}
