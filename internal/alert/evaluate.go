package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// errNotObject is returned for valid JSON that is not an object.
var errNotObject = errors.New("sample data is not a JSON object")

// Evaluate walks one sample's JSON data (the object a plugin reported) and
// calls fn once for every concrete metric path that some rule matches, with
// the winning rule (the last one in config order among those that match)
// and the value found there. Calls come in document order.
//
// A value that is not a number (a string, bool, null, object or array)
// yields a Value with OK false; paths absent from data yield no call.
// Evaluate does not descend into arrays: hbd's plugins report objects, and
// index segments would make alert names shift when a list changes order.
// A key that appears twice in one object is reported twice.
//
// Evaluate returns an error, and calls fn not at all, when data is not valid
// JSON or not a JSON object. When no rule names plugin it returns nil
// without reading data. The path string and the rule must not be modified;
// both stay valid after fn returns.
func (hr *HostRules) Evaluate(plugin string, data []byte, fn func(path string, rule *Rule, v Value)) error {
	return hr.evaluate(plugin, data, false, fn)
}

// EvaluateValid is Evaluate for data already known to be valid JSON (a
// sample that passed the wire decoder's check): it skips the validation
// pass. data must not be invalid JSON; the walk trusts its syntax.
func (hr *HostRules) EvaluateValid(plugin string, data []byte, fn func(path string, rule *Rule, v Value)) error {
	return hr.evaluate(plugin, data, true, fn)
}

func (hr *HostRules) evaluate(plugin string, data []byte, valid bool, fn func(path string, rule *Rule, v Value)) error {
	if hr == nil {
		return nil
	}
	group := hr.byPlugin[pluginHead(plugin)]
	if len(group) == 0 {
		return nil
	}
	// Validate first, so the walk below may trust the syntax and fn never
	// sees part of a document that turns out to be broken.
	if !valid && !json.Valid(data) {
		return fmt.Errorf("cannot evaluate sample of plugin %q: invalid JSON", plugin)
	}
	i := skipWS(data, 0)
	if data[i] != '{' {
		return fmt.Errorf("cannot evaluate sample of plugin %q: %w", plugin, errNotObject)
	}

	// The stack buffers cover the common case (a handful of rules, short
	// paths) without allocating. The walker's methods never append to its
	// slices: a store through the pointer would move the buffers to the
	// heap, so pos is sized here and the path travels by value.
	var (
		patBuf  [16]*compiledRule
		posBuf  [128]int32
		pathBuf [128]byte
	)
	pats, maxSegs := patBuf[:0], 0
	for _, c := range group {
		if c.pluginEnd(plugin) > 0 {
			pats = append(pats, c)
			maxSegs = max(maxSegs, len(c.segs))
		}
	}
	if len(pats) == 0 {
		return nil
	}
	// Each key consumes at least one segment, so the walk is at most
	// maxSegs-1 objects deep; pos needs one row per depth plus the child row.
	pos := posBuf[:0]
	if need := len(pats) * (maxSegs + 1); need > cap(pos) {
		pos = make([]int32, 0, need)
	}
	pos = pos[:cap(pos)]
	for j, c := range pats {
		pos[j] = int32(c.pluginEnd(plugin))
	}
	w := walker{data: data, pats: pats, pos: pos, fn: fn}
	w.object(i, 0, append(pathBuf[:0], plugin...))
	return nil
}

// walker is the state of one Evaluate call. data is known to be valid JSON,
// so the scanning helpers do not re-check the syntax.
type walker struct {
	data []byte
	pats []*compiledRule // rules for this plugin, in config order
	// pos holds, for each depth d, len(pats) pattern positions at
	// pos[d*n:(d+1)*n]: the index of the next segment to match, or -1 when
	// the pattern cannot match below this point.
	pos []int32
	fn  func(path string, rule *Rule, v Value)
}

// object walks the object starting at data[i] ('{') at depth and returns
// the index after it, and path (plugin + ".key" for each key down to this
// object) with the capacity it may have gained. The recursion depth is
// bounded by the longest pattern, since every level consumes at least one
// segment.
func (w *walker) object(i, depth int, path []byte) (int, []byte) {
	n := len(w.pats)
	base, child := depth*n, (depth+1)*n
	i++ // '{'
	for {
		i = skipWS(w.data, i)
		if w.data[i] == '}' {
			return i + 1, path
		}
		if w.data[i] == ',' {
			i = skipWS(w.data, i+1)
		}
		keyStart := i
		i = skipString(w.data, i)
		key := w.data[keyStart+1 : i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = unescapeKey(w.data[keyStart:i])
		}
		i = skipWS(w.data, i) + 1 // ':'
		i = skipWS(w.data, i)

		winner, alive := -1, false
		for j := range n {
			p := w.pos[base+j]
			np := int32(-1)
			if p >= 0 {
				np = int32(consume(w.pats[j].segs, int(p), key))
			}
			switch {
			case np < 0:
			case int(np) == len(w.pats[j].segs):
				winner = j // later patterns come later in config order
				np = -1
			default:
				alive = true
			}
			w.pos[child+j] = np
		}
		if winner < 0 && !alive {
			i = skipValue(w.data, i)
			continue
		}

		mark := len(path)
		path = append(path, '.')
		path = append(path, key...)
		switch c := w.data[i]; {
		case c == '{':
			if winner >= 0 {
				w.emit(winner, path, Value{})
			}
			if alive {
				i, path = w.object(i, depth+1, path)
			} else {
				i = skipValue(w.data, i)
			}
		case c == '-' || (c >= '0' && c <= '9'):
			end := skipNumber(w.data, i)
			if winner >= 0 {
				w.emit(winner, path, parseNumber(w.data[i:end]))
			}
			i = end
		default:
			if winner >= 0 {
				w.emit(winner, path, Value{})
			}
			i = skipValue(w.data, i)
		}
		path = path[:mark]
	}
}

func (w *walker) emit(j int, path []byte, v Value) {
	c := w.pats[j]
	p := c.rule.Metric
	if c.wildcard {
		p = string(path)
	}
	w.fn(p, &c.rule, v)
}

// parseNumber parses a JSON number. One beyond the float64 range counts as
// not numeric: ±Inf would pass every > or < threshold and cannot be
// written back out as JSON.
func parseNumber(b []byte) Value {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return Value{}
	}
	return Number(f)
}

// unescapeKey decodes a quoted JSON string containing escapes. It is the
// rare path (hbd's plugins never escape keys), so it may allocate.
func unescapeKey(quoted []byte) []byte {
	var s string
	// Unmarshal on a copy: handing it the sample itself would make escape
	// analysis move Evaluate's stack buffers to the heap on every call.
	if err := json.Unmarshal(bytes.Clone(quoted), &s); err != nil {
		// Unreachable for validated input; match the raw bytes rather
		// than fail the whole sample.
		return bytes.Clone(quoted[1 : len(quoted)-1])
	}
	return []byte(s)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipNumber(b []byte, i int) int {
	for i < len(b) {
		switch c := b[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index after the value starting at b[i]. It counts
// brackets instead of recursing, so deeply nested data the rules do not
// look into costs no stack.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
