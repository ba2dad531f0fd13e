package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// report collects the problems of one config while it is decoded and
// validated.
type report struct {
	file  string
	lines map[string]int // canon path -> line; nil when there is no file text
	errs  Errors
	// failed holds the paths whose value could not be decoded, so that
	// validation does not pile a second, confusing error on the same key.
	failed map[string]bool
	// defined holds the paths present in the file; nil when validating a
	// config that was not read from a file (then everything counts as set).
	defined map[string]bool
}

func newReport(file string) *report {
	return &report{file: file, failed: map[string]bool{}}
}

// lineOf returns the line of p, or of its nearest ancestor that has one
// (a missing key in [[exec]] is reported on the table's header line).
func (r *report) lineOf(p keyPath) int {
	for n := len(p); n > 0; n-- {
		if l, ok := r.lines[p[:n].canon()]; ok {
			return l
		}
	}
	return 0
}

func (r *report) add(line int, p keyPath, format string, args ...any) {
	r.errs = append(r.errs, Error{File: r.file, Line: line, Key: p.String(), Msg: fmt.Sprintf(format, args...)})
}

// fail records a decode problem at p.
func (r *report) fail(p keyPath, format string, args ...any) {
	r.failed[p.canon()] = true
	r.add(r.lineOf(p), p, format, args...)
}

// invalid records a validation problem at p, unless decoding p already
// failed (then the value checked is a default, not what the user wrote).
func (r *report) invalid(p keyPath, format string, args ...any) {
	if r.failed[p.canon()] {
		return
	}
	r.add(r.lineOf(p), p, format, args...)
}

// invalidAt is invalid with the line of another key, for rules about a key
// that is missing but required by the one at lineKey.
func (r *report) invalidAt(lineKey, p keyPath, format string, args ...any) {
	if r.failed[p.canon()] {
		return
	}
	line := r.lineOf(p)
	if line == 0 {
		line = r.lineOf(lineKey)
	}
	r.add(line, p, format, args...)
}

// decoded reports whether none of ps failed to decode; cross-field rules
// check it so that a default standing in for a bad value causes no error.
func (r *report) decoded(ps ...keyPath) bool {
	for _, p := range ps {
		if r.failed[p.canon()] {
			return false
		}
	}
	return true
}

// isSet reports whether p was written in the file.
func (r *report) isSet(p keyPath) bool {
	return r.defined == nil || r.defined[p.canon()]
}

// inFile reports whether p was written in the file; unlike isSet, it is
// false for a config built in code, where nothing was written.
func (r *report) inFile(p keyPath) bool {
	return r.defined != nil && r.defined[p.canon()]
}

// written reports whether p holds a value the user gave: for a file,
// whether the key is in it; for a config built in code, whether v is
// neither its zero value nor an empty map or slice.
func (r *report) written(p keyPath, v reflect.Value) bool {
	if r.defined != nil {
		return r.defined[p.canon()]
	}
	switch v.Kind() {
	case reflect.Map, reflect.Slice:
		return v.Len() > 0
	}
	return !v.IsZero()
}

// result returns the problems sorted by line, or nil.
func (r *report) result() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool { return lineKey(r.errs[i]) < lineKey(r.errs[j]) })
	return r.errs
}

// lineKey sorts problems without a line after all the others.
func lineKey(e Error) int {
	if e.Line == 0 {
		return math.MaxInt
	}
	return e.Line
}

// decodeFile parses data and decodes it into target (a pointer to a struct
// already holding the defaults). It returns false on a TOML syntax error,
// after which nothing else is worth checking.
func (r *report) decodeFile(data []byte, target any) bool {
	var tree map[string]any
	// Decoding into a map cannot hit a type mismatch, so any error here is a
	// syntax error (or a duplicate key, which TOML also treats as one).
	if _, err := toml.Decode(string(data), &tree); err != nil {
		e := Error{File: r.file, Msg: "invalid TOML: " + err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line, e.Msg = pe.Position.Line, "invalid TOML: "+pe.Message
		}
		r.errs = append(r.errs, e)
		return false
	}
	r.lines = scanKeyLines(data)
	r.defined = map[string]bool{}
	r.decodeTable(tree, reflect.ValueOf(target).Elem(), nil)
	return true
}

// defaulter is implemented by element types whose zero value is not their
// default, so that a new [[exec]] or [plugins.x] table starts from defaults.
type defaulter interface{ setDefaults() }

func setDefaults(v reflect.Value) {
	if v.CanAddr() {
		if d, ok := v.Addr().Interface().(defaulter); ok {
			d.setDefaults()
		}
	}
}

// decodeTable decodes the TOML table m into the struct rv, field by field,
// matching keys to `toml` tags exactly.
func (r *report) decodeTable(m map[string]any, rv reflect.Value, p keyPath) {
	t := rv.Type()
	for _, k := range sortedKeys(m) {
		i, ok := fieldByTag(t, k)
		if !ok {
			msg := "unknown key"
			if s := suggest(k, tagNames(t)); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			r.fail(p.key(k), "%s", msg)
			continue
		}
		f := t.Field(i)
		r.decodeValue(m[k], rv.Field(i), p.key(k), f.Tag.Get("example"))
	}
}

// decodeValue stores the TOML value raw into rv, or records why it cannot.
// example, if not empty, is shown in type errors.
func (r *report) decodeValue(raw any, rv reflect.Value, p keyPath, example string) {
	if r.defined != nil {
		r.defined[p.canon()] = true
	}
	t := rv.Type()
	mismatch := func(want string) {
		if example != "" {
			want += ", e.g. " + example
		}
		r.fail(p, "must be %s, got %s", want, describe(raw))
	}
	if t == reflect.TypeFor[Duration]() {
		s, ok := raw.(string)
		if !ok {
			mismatch(`a duration string such as "30s" or "5m"`)
			return
		}
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			r.fail(p, "%s", err.Error())
			return
		}
		rv.Set(reflect.ValueOf(d))
		return
	}
	if t == reflect.TypeFor[Command]() {
		// A string is kept as written: how it is split depends on the
		// table's shell key, which validation reads.
		if line, ok := raw.(string); ok {
			rv.Set(reflect.ValueOf(Command{Line: line}))
			return
		}
		if _, ok := asList(raw); !ok {
			mismatch("a string or a list of strings")
			return
		}
		var c Command
		r.decodeValue(raw, reflect.ValueOf(&c.Args).Elem(), p, "")
		rv.Set(reflect.ValueOf(c))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		v := reflect.New(t.Elem())
		if !rv.IsNil() {
			v.Elem().Set(rv.Elem())
		}
		r.decodeValue(raw, v.Elem(), p, example)
		rv.Set(v)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			mismatch("a string")
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			mismatch("true or false")
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			mismatch("an integer")
			return
		}
		if rv.OverflowInt(n) {
			r.fail(p, "%d is out of range", n)
			return
		}
		rv.SetInt(n)
	case reflect.Float64:
		// TOML keeps integers and floats apart, but `warning = 90` means
		// 90.0: a threshold should not need a decimal point.
		switch v := raw.(type) {
		case float64:
			rv.SetFloat(v)
		case int64:
			rv.SetFloat(float64(v))
		default:
			mismatch("a number")
		}
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			mismatch("a table")
			return
		}
		r.decodeTable(m, rv, p)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok {
			mismatch("a table")
			return
		}
		if rv.IsNil() {
			rv.Set(reflect.MakeMapWithSize(t, len(m)))
		}
		for _, k := range sortedKeys(m) {
			kv := reflect.ValueOf(k).Convert(t.Key())
			ev := reflect.New(t.Elem()).Elem()
			if old := rv.MapIndex(kv); old.IsValid() {
				ev.Set(old) // a table in the file overrides the defaults key by key
			} else {
				setDefaults(ev)
			}
			r.decodeValue(m[k], ev, p.key(k), "")
			rv.SetMapIndex(kv, ev)
		}
	case reflect.Slice:
		items, ok := asList(raw)
		if !ok {
			if t.Elem().Kind() == reflect.Struct {
				mismatch(fmt.Sprintf("an array of tables ([[%s]])", p.String()))
			} else {
				mismatch("a list of " + plural(t.Elem()))
			}
			return
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			ev := s.Index(i)
			setDefaults(ev)
			r.decodeValue(it, ev, p.at(i), "")
		}
		rv.Set(s)
	default:
		// The config structs use only the kinds above; reaching this is a
		// bug in this package, reported rather than panicking.
		r.fail(p, "internal error: cannot decode into %s", t)
	}
}

// asList turns the two shapes BurntSushi/toml uses for arrays ([]any for
// value arrays, []map[string]any for [[tables]]) into one.
func asList(raw any) ([]any, bool) {
	switch v := raw.(type) {
	case []any:
		return v, true
	case []map[string]any:
		out := make([]any, len(v))
		for i, m := range v {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

func plural(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return "durations"
	case t.Kind() == reflect.String:
		return "strings"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "integers"
	case t.Kind() == reflect.Float64:
		return "numbers"
	}
	return "values"
}

// describe names the TOML type of a value, with the value itself when it is
// short, for "must be X, got Y" messages.
func describe(raw any) string {
	switch v := raw.(type) {
	case string:
		if utf8.RuneCountInString(v) > 40 {
			v = string([]rune(v)[:40]) + "..."
		}
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("%T", raw)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

func fieldByTag(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		if n := tagName(t.Field(i)); n != "" && n != "-" && n == key {
			return i, true
		}
	}
	return 0, false
}

func tagNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := tagName(t.Field(i)); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return names
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo (case differences, or at most two edits on a long enough
// name), or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		d := editDistance(strings.ToLower(s), c)
		if d < bestDist && d*3 <= len(c) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes each
// cost 1, so the common "hbd_prot" typo is one edit from "hbd_port".
func editDistance(a, b string) int {
	// Config keys are short; bound the work on fuzzed input.
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
