// Package promfleet names plugin values for the fleet exposition
// (GET /metrics/fleet) and writes the Prometheus text formats: version
// 0.0.4 and OpenMetrics 1.0. It is written for streaming: every function
// appends to a caller's buffer, so a scrape of 100,000 hosts reuses a few
// buffers instead of building the whole answer in memory.
//
// A plugin sample's numeric values become gauges named
// hbd_<plugin>_<key>_<key>..., each byte that Prometheus does not allow
// in a name replaced by '_'. Keys that name instances rather than
// quantities (a partition's mount point, a network interface) become
// label values instead, as node_exporter's
// node_filesystem_avail_bytes{mountpoint="/"} does, following the plugin's
// label rules (Rules); docs/METRICS.md lists them.
package promfleet

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Rule says which keys of a plugin's samples are label values: Pattern
// is a metric path below the plugin, one element per key, where "{name}"
// captures the key as label name's value, "*" stands for any key, and
// anything else must equal the key. A value is named by the first rule
// whose pattern has as many elements as its path and matches it; the
// captured keys are left out of the metric name.
type Rule struct {
	Plugin  string
	Pattern string
}

// BuiltinRules are the label rules of hbd-agent's built-in plugins: the
// shapes in agent/plugins. disk_monitor's top-level keys are mount points
// except "io", whose keys are block devices; network_monitor's
// "interfaces" keys are interfaces (device, as node_exporter labels them).
var BuiltinRules = []Rule{
	{Plugin: "disk_monitor", Pattern: "io.{device}.*"},
	{Plugin: "disk_monitor", Pattern: "{mountpoint}.*"},
	{Plugin: "network_monitor", Pattern: "interfaces.{device}.*"},
}

// segment is one element of a compiled pattern.
type segment struct {
	literal string // when !any and label == ""
	label   string // a capture: the label's name
	any     bool
}

type compiledRule struct {
	segs   []segment
	labels int
}

// Namer turns the numeric values of plugin samples into series. It keeps
// scratch buffers: one Namer per goroutine.
type Namer struct {
	rules map[string][]compiledRule

	// The walk's state, reused from sample to sample.
	keys   []byte // the current path's keys, unescaped, back to back
	ends   []int  // where each key of the path ends in keys
	name   []byte
	labels []Label
	path   []byte
	tmp    []byte  // strings skipped
	factor float64 // of the last value named
}

// Label is one label of a series.
type Label struct {
	Name, Value string
}

// maxDepth bounds how deep Walk follows nested objects; the wire format
// bounds a sample's size, and deeper values are skipped.
const maxDepth = 16

// NewNamer compiles rules (BuiltinRules when nil).
func NewNamer(rules []Rule) *Namer {
	if rules == nil {
		rules = BuiltinRules
	}
	n := &Namer{rules: make(map[string][]compiledRule)}
	for _, r := range rules {
		var c compiledRule
		for _, s := range strings.Split(r.Pattern, ".") {
			switch {
			case s == "*":
				c.segs = append(c.segs, segment{any: true})
			case len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}':
				c.segs = append(c.segs, segment{label: s[1 : len(s)-1]})
				c.labels++
			default:
				c.segs = append(c.segs, segment{literal: s})
			}
		}
		n.rules[r.Plugin] = append(n.rules[r.Plugin], c)
	}
	return n
}

// Series is one numeric value of a sample, as the exposition names it.
// Its slices are the Namer's and valid only during the callback.
type Series struct {
	Name   []byte  // hbd_<plugin>_<keys>, a valid metric name
	Labels []Label // from the plugin's rules, in pattern order
	Value  float64
	// Index is the value's position among the sample's numeric values,
	// in document order, from 0: what a per-sample cap counts.
	Index int
}

// Walk calls fn for every numeric value in data, a plugin sample's JSON
// object, in document order. Strings, booleans, nulls and arrays are
// skipped, and so are values nested deeper than maxDepth. fn returns
// false to stop. Walk reports whether data was a well-formed object; a
// malformed one (the daemon stores only validated samples) stops the walk.
func (n *Namer) Walk(plugin string, data []byte, fn func(s Series) bool) bool {
	return n.WalkPath(plugin, data, nil, fn)
}

// Path is a family's metric path: its keys, with the ones its labels
// capture left open, and its name. Walking a sample for one family,
// WalkPath skips every subtree the path excludes, and names no value:
// that is what makes one pass per family affordable.
type Path struct {
	keys   []PathKey
	name   []byte
	factor float64
}

// PathKey is one key of a Path: Key, or any key when Label names the
// label that captures it.
type PathKey struct {
	Key, Label string
}

// CurrentPath returns the path of the value fn was last called with.
// Call it within fn.
func (n *Namer) CurrentPath(plugin string) *Path {
	c := n.match(n.rules[plugin])
	p := &Path{keys: make([]PathKey, len(n.ends)), name: append([]byte(nil), n.name...), factor: n.factor}
	for i := range n.ends {
		if c != nil && c.segs[i].label != "" {
			p.keys[i].Label = c.segs[i].label
		} else {
			p.keys[i].Key = string(n.key(i))
		}
	}
	return p
}

// WalkPath is Walk for the values at path only (nil: every value).
// Series.Index then counts those values only. Where two keys of a sample
// name the same series, only the one the path was made from is walked.
func (n *Namer) WalkPath(plugin string, data []byte, path *Path, fn func(s Series) bool) bool {
	n.keys, n.ends = n.keys[:0], n.ends[:0]
	w := &walker{n: n, plugin: plugin, rules: n.rules[plugin], data: data, fn: fn, path: path}
	w.skipSpace()
	if w.i >= len(data) || data[w.i] != '{' {
		return false
	}
	w.object(0)
	return !w.bad
}

// Pattern returns the metric path of the value fn was last called with,
// as the plugin's rules see it: "disk_monitor.{mountpoint}.percent".
// Valid until the next call to Walk or Pattern.
func (n *Namer) Pattern(plugin string) string {
	n.path = append(n.path[:0], plugin...)
	c := n.match(n.rules[plugin])
	start := 0
	for i, end := range n.ends {
		n.path = append(n.path, '.')
		if c != nil && c.segs[i].label != "" {
			n.path = append(n.path, '{')
			n.path = append(n.path, c.segs[i].label...)
			n.path = append(n.path, '}')
		} else {
			n.path = append(n.path, n.keys[start:end]...)
		}
		start = end
	}
	return string(n.path)
}

// key returns the i-th key of the current path.
func (n *Namer) key(i int) []byte {
	start := 0
	if i > 0 {
		start = n.ends[i-1]
	}
	return n.keys[start:n.ends[i]]
}

// match returns the first rule that matches the current path, or nil.
func (n *Namer) match(rules []compiledRule) *compiledRule {
	for r := range rules {
		c := &rules[r]
		if len(c.segs) != len(n.ends) {
			continue
		}
		ok := true
		for i, s := range c.segs {
			if !s.any && s.label == "" && string(n.key(i)) != s.literal {
				ok = false
				break
			}
		}
		if ok {
			return c
		}
	}
	return nil
}

// unitSuffixes are abbreviated units at the end of a key, which
// Prometheus' naming rules (and promtool's lint) want spelled as base
// units: the name takes the base unit and the value is scaled to it.
// Sizes are binary, as hbd-agent's plugins compute them (1 GB = 2^30
// bytes).
var unitSuffixes = []struct {
	abbr, base string
	factor     float64
}{
	{"_kb", "_bytes", 1 << 10},
	{"_mb", "_bytes", 1 << 20},
	{"_gb", "_bytes", 1 << 30},
	{"_tb", "_bytes", 1 << 40},
	{"_ms", "_seconds", 1e-3},
	{"_us", "_seconds", 1e-6},
	{"_ns", "_seconds", 1e-9},
	{"_sec", "_seconds", 1},
	{"_s", "_seconds", 1},
}

// baseUnits rewrites an abbreviated unit at the end of name (before a
// trailing "_per_s", which becomes "_per_second") as its base unit and
// returns the factor that converts the value.
func baseUnits(name []byte) ([]byte, float64) {
	factor := 1.0
	rate := false
	if bytes.HasSuffix(name, []byte("_per_s")) || bytes.HasSuffix(name, []byte("_per_sec")) {
		name = name[:bytes.LastIndex(name, []byte("_per_"))]
		rate = true
	}
	for _, u := range unitSuffixes {
		if len(name) > len(u.abbr) && string(name[len(name)-len(u.abbr):]) == u.abbr {
			if rate && u.base == "_seconds" {
				break // "_s_per_s" is not a rate of time to convert
			}
			name = append(name[:len(name)-len(u.abbr)], u.base...)
			factor = u.factor
			break
		}
	}
	if rate {
		name = append(name, "_per_second"...)
	}
	for _, r := range reservedSuffixes {
		if bytes.HasSuffix(name, []byte(r)) {
			name = append(name, "_value"...)
			break
		}
	}
	return name, factor
}

// reservedSuffixes end the names of counters, histograms and summaries:
// a gauge named so would read as one of those (and promtool refuses it),
// so "_value" is appended: connections.total is
// hbd_network_monitor_connections_total_value.
var reservedSuffixes = []string{"_total", "_count", "_sum", "_bucket", "_created"}

// pathSeries is the series of the value at the current path, which path
// matches; its Value is the factor that converts the value to the unit.
func (n *Namer) pathSeries(p *Path) Series {
	n.labels = n.labels[:0]
	for i := range p.keys {
		if p.keys[i].Label != "" {
			n.labels = append(n.labels, Label{Name: p.keys[i].Label, Value: bytesString(n.key(i))})
		}
	}
	return Series{Name: p.name, Labels: n.labels, Value: p.factor}
}

// series names the value at the current path; its Value is the factor
// that converts the value to the name's unit.
func (n *Namer) series(plugin string, rules []compiledRule) Series {
	c := n.match(rules)
	n.name = append(append(n.name[:0], "hbd_"...), plugin...)
	n.name = Sanitize(n.name, 4)
	n.labels = n.labels[:0]
	for i := range n.ends {
		if c != nil && c.segs[i].label != "" {
			n.labels = append(n.labels, Label{Name: c.segs[i].label, Value: bytesString(n.key(i))})
			continue
		}
		at := len(n.name)
		n.name = append(append(n.name, '_'), n.key(i)...)
		n.name = Sanitize(n.name, at+1)
	}
	n.name, n.factor = baseUnits(n.name)
	return Series{Name: n.name, Labels: n.labels, Value: n.factor}
}

// bytesString is b as a string without a copy: valid until b changes,
// which a Series' labels document.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Sanitize replaces, in b[from:], every rune that a Prometheus metric or
// label name may not hold with '_': names are [a-zA-Z_][a-zA-Z0-9_]*.
// Colons, which names may hold, are reserved for recording rules and
// replaced too. A name must not start with a digit: the caller's prefix
// (hbd_) sees to that.
func Sanitize(b []byte, from int) []byte {
	for i := from; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				b[i] = '_'
			}
			i++
			continue
		}
		// A multi-byte rune (or an invalid byte) becomes one '_'.
		_, size := utf8.DecodeRune(b[i:])
		b[i] = '_'
		b = append(b[:i+1], b[i+size:]...)
		i++
	}
	return b
}

// walker is one walk over a sample.
type walker struct {
	n      *Namer
	plugin string
	rules  []compiledRule
	data   []byte
	i      int
	fn     func(s Series) bool
	path   *Path // nil: every value
	index  int
	bad    bool
	stop   bool
}

func (w *walker) skipSpace() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// object reads an object at w.i ('{'), calling fn for its numbers.
func (w *walker) object(depth int) {
	w.i++ // '{'
	for !w.bad && !w.stop {
		w.skipSpace()
		if w.i >= len(w.data) {
			w.bad = true
			return
		}
		switch w.data[w.i] {
		case '}':
			w.i++
			return
		case ',':
			w.i++
			continue
		case '"':
		default:
			w.bad = true
			return
		}
		n := w.n
		mark := len(n.keys)
		var ok bool
		n.keys, ok = w.str(n.keys)
		if !ok {
			w.bad = true
			return
		}
		n.ends = append(n.ends, len(n.keys))
		w.skipSpace()
		if w.i >= len(w.data) || w.data[w.i] != ':' {
			w.bad = true
			return
		}
		w.i++
		if w.excluded(depth) {
			w.skipSpace()
			w.skip()
		} else {
			w.value(depth + 1)
		}
		n.keys, n.ends = n.keys[:mark], n.ends[:len(n.ends)-1]
	}
}

// excluded reports whether the walk's path leaves out the value of the
// key just read, at depth (0 for the sample's own keys).
func (w *walker) excluded(depth int) bool {
	if w.path == nil {
		return false
	}
	if depth >= len(w.path.keys) {
		return true
	}
	k := &w.path.keys[depth]
	return k.Label == "" && string(w.n.key(depth)) != k.Key
}

// value reads any value at w.i; depth is that of its key.
func (w *walker) value(depth int) {
	w.skipSpace()
	if w.i >= len(w.data) {
		w.bad = true
		return
	}
	switch c := w.data[w.i]; {
	case c == '{':
		if depth >= maxDepth {
			w.skip()
			return
		}
		w.object(depth)
	case c == '-' || '0' <= c && c <= '9':
		start := w.i
		for w.i < len(w.data) && isNumberByte(w.data[w.i]) {
			w.i++
		}
		num := w.data[start:w.i]
		if w.path != nil && len(w.n.ends) != len(w.path.keys) {
			return // an object's number on the way to the path's values
		}
		v, err := strconv.ParseFloat(unsafe.String(&num[0], len(num)), 64)
		if err != nil && !isRange(err) {
			w.bad = true
			return
		}
		var s Series
		if w.path != nil {
			s = w.n.pathSeries(w.path)
		} else {
			s = w.n.series(w.plugin, w.rules)
		}
		s.Value, s.Index = v*s.Value, w.index
		w.index++
		if !w.fn(s) {
			w.stop = true
		}
	default:
		w.skip()
	}
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skip passes over a value that yields no series: a string, literal,
// array, or an object too deep.
func (w *walker) skip() {
	depth := 0
	for w.i < len(w.data) {
		c := w.data[w.i]
		switch {
		case c == '"':
			var ok bool
			if w.n.tmp, ok = w.str(w.n.tmp[:0]); !ok {
				w.bad = true
				return
			}
			if depth == 0 {
				return
			}
			continue
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return // the enclosing object's end
			}
			depth--
			if depth == 0 {
				w.i++
				return
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			return // the end of a literal
		}
		w.i++
	}
}

// str reads a string at w.i, appending it unescaped to dst.
func (w *walker) str(dst []byte) ([]byte, bool) {
	w.i++ // '"'
	for w.i < len(w.data) {
		// The common case: a run without escapes, copied at once.
		if end := bytes.IndexByte(w.data[w.i:], '"'); end > 0 {
			run := w.data[w.i : w.i+end]
			if k := bytes.IndexByte(run, '\\'); k >= 0 {
				run = run[:k]
			}
			dst = append(dst, run...)
			w.i += len(run)
			if w.i >= len(w.data) {
				break
			}
		}
		c := w.data[w.i]
		switch {
		case c == '"':
			w.i++
			return dst, true
		case c == '\\':
			if w.i+1 >= len(w.data) {
				return dst, false
			}
			w.i++
			switch e := w.data[w.i]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := w.hex4()
				if !ok {
					return dst, false
				}
				if 0xD800 <= r && r < 0xDC00 && w.i+6 < len(w.data) && w.data[w.i+1] == '\\' && w.data[w.i+2] == 'u' {
					w.i += 2
					lo, ok := w.hex4()
					if !ok {
						return dst, false
					}
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
				}
				dst = utf8.AppendRune(dst, r)
			default:
				return dst, false
			}
			w.i++
		default:
			dst = append(dst, c)
			w.i++
		}
	}
	return dst, false
}

// hex4 reads the four hex digits after "\u"; w.i is at the 'u' and is
// left on the last digit.
func (w *walker) hex4() (rune, bool) {
	if w.i+4 >= len(w.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(unsafe.String(&w.data[w.i+1], 4), 16, 32)
	if err != nil {
		return 0, false
	}
	w.i += 4
	return rune(v), true
}
