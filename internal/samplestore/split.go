package samplestore

import (
	"bytes"
	"math"
	"math/bits"
	"strconv"
)

// A template is a sample's JSON with every scalar value (string, number,
// true, false, null; not the keys) cut out and replaced by a placeholder:
// a zero byte and the column's kind. The bytes between values (braces,
// keys, colons, commas, any whitespace) are kept as they are, so a sample
// is its template with the values put back, whatever its shape.
const (
	placeholder = 0x00
	kindNumber  = 'n' // a number column: values coded as decimal deltas
	kindLiteral = 'l' // a literal column: values kept as their bytes
)

// rawTemplate stores a sample as one literal: what split cannot cut up.
const rawTemplate = "\x00l"

// span is a value's place in a sample's bytes.
type span struct{ start, end int32 }

// split appends the spans of data's scalar values to vals. ok is false
// when data holds a zero byte outside its values (it would be taken for a
// placeholder) or an unterminated string; such a sample is stored raw.
// split does not validate JSON: whatever it cuts, the template and the
// values put back together are data again.
func split(data []byte, vals []span) (_ []span, ok bool) {
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			j := stringEnd(data, i)
			if j < 0 {
				return vals, false
			}
			if isKey(data, j) {
				if bytes.IndexByte(data[i:j], placeholder) >= 0 {
					return vals, false
				}
				i = j
				continue
			}
			vals = append(vals, span{int32(i), int32(j)})
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(data) && isNumberByte(data[j]) {
				j++
			}
			vals = append(vals, span{int32(i), int32(j)})
			i = j
		case c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(data) && data[j] >= 'a' && data[j] <= 'z' {
				j++
			}
			vals = append(vals, span{int32(i), int32(j)})
			i = j
		case c == placeholder:
			return vals, false
		default:
			i++
		}
	}
	return vals, true
}

// stringEnd returns the index just past the string starting at data[i],
// or -1 if it does not end.
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '"':
			return j + 1
		case '\\':
			j++ // skip the escaped byte
		}
	}
	return -1
}

// isKey reports whether the string ending at data[j] is an object key.
func isKey(data []byte, j int) bool {
	for ; j < len(data); j++ {
		switch data[j] {
		case ' ', '\t', '\n', '\r':
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// sameShape reports whether data, cut at vals, has template t's bytes
// between its values (the kinds of t's placeholders do not matter).
func sameShape(t string, data []byte, vals []span) bool {
	p, prev := 0, 0
	for _, v := range vals {
		run := data[prev:v.start]
		if len(t)-p < len(run)+2 || t[p:p+len(run)] != string(run) || t[p+len(run)] != placeholder {
			return false
		}
		p += len(run) + 2
		prev = int(v.end)
	}
	return t[p:] == string(data[prev:])
}

// appendTemplate appends data's template: its bytes between vals, and a
// placeholder for each value, a number column if the value is a number in
// canonical decimal form.
func appendTemplate(dst, data []byte, vals []span) []byte {
	prev := 0
	for _, v := range vals {
		dst = append(dst, data[prev:v.start]...)
		kind := byte(kindLiteral)
		if _, _, ok := parseDecimal(data[v.start:v.end]); ok {
			kind = kindNumber
		}
		dst = append(dst, placeholder, kind)
		prev = int(v.end)
	}
	return append(dst, data[prev:]...)
}

// maxScale is the most decimals a number column keeps (10^18 < 2^63).
const maxScale = 18

// parseDecimal returns the number b = m × 10^-scale if b is written in
// canonical plain decimal form, the one appendDecimal writes back: an
// optional minus, an integer part without leading zeros, and an optional
// fraction that does not end in 0; no exponent, not "-0", and m within
// int64. This is how Go's encoding/json writes integers and the floats
// between 1e-6 and 1e21, which is what agents send. Any other number is
// kept as its bytes.
func parseDecimal(b []byte) (m int64, scale int, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var u uint64
	i := 0
	for ; i < len(b) && b[i]-'0' < 10; i++ {
		u = u*10 + uint64(b[i]-'0') // wraps past 19 digits, rejected below
	}
	whole := i
	if whole == 0 || whole > 1 && b[0] == '0' {
		return 0, 0, false
	}
	if i < len(b) {
		if b[i] != '.' {
			return 0, 0, false
		}
		for i++; i < len(b) && b[i]-'0' < 10; i++ {
			u = u*10 + uint64(b[i]-'0')
		}
		scale = i - whole - 1
		if i < len(b) || scale == 0 || b[i-1] == '0' || scale > maxScale {
			return 0, 0, false
		}
	}
	// 19 digits fit uint64 but may exceed int64; more may have wrapped.
	if whole+scale > 19 || u > math.MaxInt64 {
		return 0, 0, false
	}
	if neg {
		if u == 0 {
			return 0, 0, false // -0 and -0.x are not written back by appendDecimal
		}
		return -int64(u), scale, true
	}
	return int64(u), scale, true
}

// appendDecimal appends v × 10^-scale in canonical plain decimal form:
// the exact inverse of parseDecimal, trailing zeros of the fraction
// dropped.
func appendDecimal(dst []byte, v int64, scale int) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	if scale == 0 {
		return strconv.AppendUint(dst, u, 10)
	}
	// The digits go to the back half of buf, so that zeros can be put in
	// front of them: scale+1 digits at least, so there is an integer part.
	var buf [2 * 20]byte
	d := strconv.AppendUint(buf[20:20], u, 10)
	if pad := scale + 1 - len(d); pad > 0 {
		copy(buf[20-pad:20], "00000000000000000000")
		d = buf[20-pad : 20+len(d)]
	}
	whole, frac := d[:len(d)-scale], d[len(d)-scale:]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	dst = append(dst, whole...)
	if len(frac) > 0 {
		dst = append(dst, '.')
		dst = append(dst, frac...)
	}
	return dst
}

// pow10 holds 10^0 .. 10^maxScale.
var pow10 = func() (p [maxScale + 1]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// rescale returns m × 10^up if that fits int64.
func rescale(m int64, up int) (int64, bool) {
	if up == 0 {
		return m, true
	}
	u := uint64(m)
	if m < 0 {
		u = -u
	}
	hi, lo := bits.Mul64(u, pow10[up])
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if m < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}
