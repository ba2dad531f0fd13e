package promfleet

import (
	"strconv"
	"unicode/utf8"
)

// Format is one of the exposition formats.
type Format uint8

const (
	// Text is Prometheus' text format, version 0.0.4.
	Text Format = iota
	// OpenMetrics is OpenMetrics' text format, version 1.0.0.
	OpenMetrics
)

// ContentType is the Content-Type of a body in format f.
func (f Format) ContentType() string {
	if f == OpenMetrics {
		return "application/openmetrics-text; version=1.0.0; charset=utf-8"
	}
	return "text/plain; version=0.0.4; charset=utf-8"
}

// AppendEnd appends what ends a body: "# EOF" in OpenMetrics, nothing in
// the text format.
func (f Format) AppendEnd(b []byte) []byte {
	if f == OpenMetrics {
		return append(b, "# EOF\n"...)
	}
	return b
}

// AppendHeader appends a gauge family's HELP and TYPE lines. Every sample
// of the family must follow before the next family's header: both formats
// want a family's lines together.
func AppendHeader(b []byte, name, help string) []byte {
	return AppendHeaderType(b, name, help, "gauge")
}

// AppendHeaderType is AppendHeader for a family of type typ ("gauge",
// "summary").
func AppendHeaderType(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// AppendSample appends one sample line: name{host="h",labels...} value.
// Label values are escaped; invalid UTF-8 is replaced (neither format
// allows it).
func AppendSample[N ~string | ~[]byte](b []byte, name N, host string, labels []Label, v float64) []byte {
	b = append(b, name...)
	b = append(b, `{host="`...)
	b = AppendLabelValue(b, host)
	b = append(b, '"')
	for _, l := range labels {
		b = append(b, ',')
		b = append(b, l.Name...)
		b = append(b, `="`...)
		b = AppendLabelValue(b, l.Value)
		b = append(b, '"')
	}
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}

// AppendLabelValue appends v escaped as a label value: backslash, double
// quote and newline are escaped; invalid UTF-8 becomes U+FFFD.
func AppendLabelValue[S ~string | ~[]byte](b []byte, v S) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '"':
			b = append(b, `\"`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			r, size := decodeRune(v[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, v[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return b
}

func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.DecodeRuneInString(string(s))
}
