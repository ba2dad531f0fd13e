package actors

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The API's answers are built by appending to byte slices rather than with
// encoding/json: the HostActor and fleet index build them for every change,
// and the stored plugin data is already JSON that must be embedded as is.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendUnixTime appends t as seconds since the epoch with millisecond
// precision, the seed's format (1711234567.123), or null for the zero time.
func appendUnixTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return appendUnixNano(b, t.UnixNano())
}

func appendUnixNano(b []byte, ns int64) []byte {
	return strconv.AppendFloat(b, float64(ns/1e6)/1e3, 'f', 3, 64)
}

// appendFloat appends f in the shortest form that round-trips; NaN and
// infinities, which JSON cannot carry, become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendMillis appends d in milliseconds with microsecond precision.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d.Microseconds())/1e3, 'f', 3, 64)
}

func appendBool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }
