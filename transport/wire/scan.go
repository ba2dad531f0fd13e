package wire

import (
	"encoding/binary"
	"math/bits"
)

// A sample's JSON is scanned once on the read path: scanObject checks it
// and counts its keys in the same pass. It replaced json.Valid followed by
// a second pass for the key cap; a profile at 110,000 datagrams/s had
// json.Valid alone at some 5 % of the daemon's CPU.

// maxDepth is encoding/json's nesting bound: json.Valid refuses a document
// with more than this many arrays and objects open at once, so the scan
// does too. It also bounds the scan's stack, a fixed array.
const maxDepth = 10000

// scanObject reports whether data is a single JSON object with no leading
// whitespace that json.Valid accepts (RFC 8259 grammar, at most maxDepth
// deep; like encoding/json it does not check that strings are valid UTF-8
// nor that \u escapes pair their surrogates) and, if so, how many object
// keys it holds at any depth: as many as limits.CountKeys counts, one per
// member. It makes one pass over data and does not allocate.
func scanObject(data []byte) (keys int, ok bool) {
	// Samples nest a few levels: 64 levels fit one word, and only a
	// deeper document, never a real sample, is scanned again with room
	// for maxDepth (zeroing that much stack on every call would cost a
	// tenth of a small sample's scan).
	var shallow [1]uint64
	keys, ok, deeper := scan(data, shallow[:])
	if deeper {
		return scanDeep(data)
	}
	return keys, ok
}

//go:noinline
func scanDeep(data []byte) (keys int, ok bool) {
	var stack [(maxDepth + 63) / 64]uint64
	keys, ok, _ = scan(data, stack[:])
	return keys, ok
}

// scan is scanObject with a stack of len(stack)*64 levels: bit d%64 of
// stack[d/64] is set when the container at depth d+1 is an object. deeper
// reports that data nests deeper than that (and no more than maxDepth), so
// the verdict is still open.
func scan(data []byte, stack []uint64) (keys int, ok, deeper bool) {
	if len(data) == 0 || data[0] != '{' {
		return 0, false, false
	}
	var depth uint // containers open
	obj := false   // whether the innermost one is an object
	i := 0
	// Each turn of the loop reads one value and what follows it up to the
	// next value: a comma (and a key, in an object) or closing brackets.
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, false, false
		}
		switch c := data[i]; c {
		case '{', '[':
			switch {
			case depth == maxDepth:
				return 0, false, false
			case depth == uint(len(stack))*64:
				return 0, false, true
			}
			obj = c == '{'
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipSpace(data, i+1)
			if i < len(data) && (obj && data[i] == '}' || !obj && data[i] == ']') {
				i++
				depth--
				obj = depth > 0 && stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
				break // an empty container is a value
			}
			if !obj {
				continue
			}
			if i = scanKey(data, i); i < 0 {
				return 0, false, false
			}
			keys++
			continue
		case '"':
			i = scanString(data, i)
		case 't':
			i = scanLiteral(data, i, "true")
		case 'f':
			i = scanLiteral(data, i, "false")
		case 'n':
			i = scanLiteral(data, i, "null")
		default:
			i = scanNumber(data, i)
		}
		if i < 0 {
			return 0, false, false
		}
		// A value ended: close what it ends, then expect the next one.
		for {
			if depth == 0 {
				return keys, skipSpace(data, i) == len(data), false
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return 0, false, false
			}
			c := data[i]
			if c == ',' {
				i++
				if obj {
					if i = scanKey(data, skipSpace(data, i)); i < 0 {
						return 0, false, false
					}
					keys++
				}
				break
			}
			if obj && c != '}' || !obj && c != ']' {
				return 0, false, false
			}
			i++
			depth--
			obj = depth > 0 && stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// scanKey reads an object key and its colon starting at data[i]; it
// returns the index just past the colon, or -1.
func scanKey(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = scanString(data, i); i < 0 {
		return -1
	}
	if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
		return -1
	}
	return i + 1
}

// plainString marks the bytes a string holds as they are: not the quote,
// the backslash, nor the control characters below 0x20, which must be
// escaped. Bytes of 0x80 and above pass unchecked, as encoding/json lets
// them.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the string whose opening quote is data[i]; it returns
// the index just past the closing quote, or -1.
func scanString(data []byte, i int) int {
	for i++; i < len(data); {
		// Eight plain bytes at a time, up to the first that is not.
		for i+8 <= len(data) {
			m := specialBytes(binary.LittleEndian.Uint64(data[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(data) {
			break
		}
		c := data[i]
		if plainString[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

// specialBytes flags, in bit 7 of each byte, the bytes of x (eight bytes
// of a string, little-endian) that end a plain run: '"', '\\' and those
// below 0x20. The lowest flag is exact; flags above it may be spurious
// (borrows), which is all scanString needs.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & highs }
	return below(x, 0x20) | below(x^(ones*'"'), 1) | below(x^(ones*'\\'), 1)
}

func isHex(c byte) bool {
	return c-'0' < 10 || (c|0x20)-'a' < 6
}

// scanLiteral reads the literal lit (true, false or null) at data[i]; it
// returns the index just past it, or -1.
func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber reads the number at data[i]: an optional minus, an integer
// part without leading zeros, an optional fraction and an optional
// exponent. Its magnitude is not checked (1e400 is valid JSON, as
// json.Valid has it). It returns the index just past it, or -1.
func scanNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case data[i]-'1' < 9:
		i = skipDigits(data, i+1)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i]-'0' < 10 {
		i++
	}
	return i
}
