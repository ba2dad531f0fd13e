package broadcast

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/hbd-project/hbd/internal/contract"
)

// Event types a client can subscribe to, as a bit set.
const (
	typeHost uint8 = 1 << iota
	typePlugin
	typeAlert
	typeMessage
)

// maxGlobLen bounds one glob, in bytes. A host name has at most 253; the
// slack is for character classes and escapes.
const maxGlobLen = 512

// typeBit maps an event type to its bit; an unknown type has none.
func typeBit(t string) uint8 {
	switch t {
	case contract.FrameHost:
		return typeHost
	case contract.FramePlugin:
		return typePlugin
	case contract.FrameAlert:
		return typeAlert
	case contract.FrameMessage:
		return typeMessage
	}
	return 0
}

// Filter is one client's subscription, compiled: what the hub matches
// every event against. The zero Filter wants everything. It is immutable
// once built: the actor replaces a client's filter, never edits it.
type Filter struct {
	hosts []string // the globs as the client sent them; empty means every host
	globs []glob   // hosts, compiled
	types uint8    // bit set of type*; 0 means every type
}

// Wants reports whether an event of type typ about host passes the filter.
// An event type the filter does not know passes only an unfiltered client.
func (f *Filter) Wants(typ, host string) bool {
	if f.types != 0 && f.types&typeBit(typ) == 0 {
		return false
	}
	return f.wantsHost(host)
}

// All reports whether the filter takes every event (no globs, no types).
func (f *Filter) All() bool { return len(f.hosts) == 0 && f.types == 0 }

// wantsHost reports whether host matches one of the globs. An event without
// a host (a daemon-wide message) reaches only clients without host globs.
func (f *Filter) wantsHost(host string) bool {
	if len(f.hosts) == 0 {
		return true
	}
	if host == "" {
		return false
	}
	for i := range f.globs {
		if f.globs[i].match(host) {
			return true
		}
	}
	return false
}

// typeNames are the event types in bit order, for Types.
var typeNames = [...]string{contract.FrameHost, contract.FramePlugin, contract.FrameAlert, contract.FrameMessage}

// NewFilter compiles a subscription: host globs in path.Match's syntax (an
// event about a host that matches one of them passes; none means every
// host) and event types (none means every type). The client's message is
// decoded, and the number of globs bounded, by the connection's reader
// (http/ws); NewFilter checks each glob and type. hosts is kept and must
// not be modified afterwards.
func NewFilter(hosts, types []string) (*Filter, error) {
	f := &Filter{}
	for _, p := range hosts {
		if p == "" {
			return nil, errors.New("empty host pattern")
		}
		if len(p) > maxGlobLen {
			return nil, fmt.Errorf("host pattern of %d bytes is too long (at most %d)", len(p), maxGlobLen)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("invalid host pattern %q: %w", p, err)
		}
		f.globs = append(f.globs, compileGlob(p))
	}
	if len(hosts) > 0 {
		f.hosts = hosts
	}
	for _, t := range types {
		bit := typeBit(t)
		if bit == 0 {
			return nil, fmt.Errorf("unknown type %q (want host, plugin, alert or message)", t)
		}
		f.types |= bit
	}
	return f, nil
}

// Hosts returns the host globs as the client sent them; nil means every
// host. The slice is the filter's own: read it, do not modify it.
func (f *Filter) Hosts() []string { return f.hosts }

// Types returns the event types the filter wants, each once, in the order
// host, plugin, alert, message; nil means every type.
func (f *Filter) Types() []string {
	var out []string
	for i, name := range typeNames {
		if f.types&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// glob is a host pattern in path.Match's syntax, compiled once. It matches
// exactly as path.Match does (FuzzGlob checks that), but gives up at the
// first mismatch: path.Match keeps reading the rest of the pattern to
// report syntax errors, so a long pattern from the network would cost the
// length of the host name times its own length on every event.
type glob struct {
	chunks []chunk
}

// chunk is a run of single-character atoms, preceded by a star or not;
// the pattern's stars split it into chunks as path.Match's scanChunk does.
type chunk struct {
	star  bool
	atoms []atom
}

// atom matches one byte (a literal) or one rune ('?' or a class).
type atom struct {
	kind   atomKind
	lit    byte        // atomLiteral
	negate bool        // atomClass: [^...]
	ranges []runeRange // atomClass
}

type atomKind uint8

const (
	atomLiteral atomKind = iota
	atomAny              // '?': any rune but '/'
	atomClass            // '[...]'
)

type runeRange struct{ lo, hi rune }

// compileGlob compiles a pattern that path.Match accepts; it must not be
// given anything else.
func compileGlob(p string) glob {
	var g glob
	for p != "" {
		var c chunk
		var text string
		c.star, text, p = splitChunk(p)
		c.atoms = compileChunk(text)
		g.chunks = append(g.chunks, c)
	}
	return g
}

// splitChunk splits off the pattern's first chunk: the stars that lead it,
// and the text up to the next star outside a character class.
func splitChunk(p string) (star bool, text, rest string) {
	for p != "" && p[0] == '*' {
		p, star = p[1:], true
	}
	inClass := false
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++ // the escaped byte; a trailing '\\' was refused when parsed
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '*':
			if !inClass {
				return star, p[:i], p[i:]
			}
		}
	}
	return star, p, ""
}

// compileChunk turns a chunk's text (no unescaped star outside a class)
// into atoms.
func compileChunk(s string) []atom {
	var atoms []atom
	for s != "" {
		switch s[0] {
		case '[':
			a := atom{kind: atomClass}
			s = s[1:]
			if s != "" && s[0] == '^' {
				a.negate, s = true, s[1:]
			}
			for s != "" && (s[0] != ']' || len(a.ranges) == 0) {
				var r runeRange
				r.lo, s = classRune(s)
				r.hi = r.lo
				if s != "" && s[0] == '-' {
					r.hi, s = classRune(s[1:])
				}
				a.ranges = append(a.ranges, r)
			}
			s = s[1:] // the closing ']'
			atoms = append(atoms, a)
		case '?':
			atoms = append(atoms, atom{kind: atomAny})
			s = s[1:]
		case '\\':
			atoms = append(atoms, atom{lit: s[1]})
			s = s[2:]
		default:
			atoms = append(atoms, atom{lit: s[0]})
			s = s[1:]
		}
	}
	return atoms
}

// classRune reads one possibly escaped rune of a character class.
func classRune(s string) (rune, string) {
	if s[0] == '\\' {
		s = s[1:]
	}
	r, n := utf8.DecodeRuneInString(s)
	return r, s[n:]
}

// match reports whether name matches the whole pattern. Like path.Match it
// takes the first place where a chunk after a star fits, except that the
// last chunk must end the name.
func (g *glob) match(name string) bool {
	for i := range g.chunks {
		c := &g.chunks[i]
		last := i == len(g.chunks)-1
		if c.star && len(c.atoms) == 0 {
			// A trailing star matches the rest unless it has a '/'.
			return strings.IndexByte(name, '/') < 0
		}
		if rest, ok := c.matchPrefix(name); ok && (rest == "" || !last) {
			name = rest
			continue
		}
		if !c.star {
			return false
		}
		found := false
		for j := 0; j < len(name) && name[j] != '/'; j++ {
			rest, ok := c.matchPrefix(name[j+1:])
			if ok && (rest == "" || !last) {
				name, found = rest, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return name == ""
}

// matchPrefix matches the chunk against the start of s and returns what
// follows; it stops at the first atom that does not match.
func (c *chunk) matchPrefix(s string) (string, bool) {
	for i := range c.atoms {
		a := &c.atoms[i]
		if s == "" {
			return "", false
		}
		switch a.kind {
		case atomLiteral:
			if s[0] != a.lit {
				return "", false
			}
			s = s[1:]
		case atomAny:
			if s[0] == '/' {
				return "", false
			}
			_, n := utf8.DecodeRuneInString(s)
			s = s[n:]
		case atomClass:
			r, n := utf8.DecodeRuneInString(s)
			s = s[n:]
			in := false
			for _, rr := range a.ranges {
				if rr.lo <= r && r <= rr.hi {
					in = true
					break
				}
			}
			if in == a.negate {
				return "", false
			}
		}
	}
	return s, true
}
