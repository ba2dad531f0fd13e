package wire

// A sample's JSON is scanned once on the read path: scanObject checks it
// and counts its keys in the same pass. It replaced json.Valid followed by
// a second pass for the key cap; a profile at 110,000 datagrams/s had
// json.Valid alone at some 5 % of the daemon's CPU.

// maxDepth is encoding/json's nesting bound: json.Valid refuses a document
// with more than this many arrays and objects open at once, so the scan
// does too. It also bounds the scan's stack, which lives in a fixed array.
const maxDepth = 10000

// scanObject reports whether data is a single JSON object with no leading
// whitespace that json.Valid accepts (RFC 8259 grammar, at most maxDepth
// deep; like encoding/json it does not check that strings are valid UTF-8
// nor that \u escapes pair their surrogates) and, if so, how many object
// keys it holds at any depth: as many as limits.CountKeys counts, one per
// member. It makes one pass over data and does not allocate.
func scanObject(data []byte) (keys int, ok bool) {
	if len(data) == 0 || data[0] != '{' {
		return 0, false
	}
	// inObject has bit d-1 set when the container at depth d is an object.
	var inObject [(maxDepth + 63) / 64]uint64
	depth := 0
	i := 0
	// Each turn of the loop reads one value and what follows it up to the
	// next value: a comma (and a key, in an object) or closing brackets.
	for {
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, false
		}
		switch c := data[i]; c {
		case '{', '[':
			if depth == maxDepth {
				return 0, false
			}
			w, bit := depth/64, uint64(1)<<(depth%64)
			depth++
			i = skipSpace(data, i+1)
			if c == '[' {
				inObject[w] &^= bit
				if i < len(data) && data[i] == ']' {
					depth--
					i++
					break // an empty array is a value
				}
				continue
			}
			inObject[w] |= bit
			if i < len(data) && data[i] == '}' {
				depth--
				i++
				break // an empty object is a value
			}
			if i = scanKey(data, i); i < 0 {
				return 0, false
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
			return 0, false
		}
		// A value ended: close what it ends, then expect the next one.
		for {
			if depth == 0 {
				return keys, skipSpace(data, i) == len(data)
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return 0, false
			}
			obj := inObject[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := data[i]
			if c == ',' {
				i++
				if obj {
					if i = scanKey(data, skipSpace(data, i)); i < 0 {
						return 0, false
					}
					keys++
				}
				break
			}
			if obj && c != '}' || !obj && c != ']' {
				return 0, false
			}
			depth--
			i++
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
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
