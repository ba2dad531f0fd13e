package plugins

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Perf is one performance data value of a monitoring-plugins check, as the
// Monitoring Plugins Development Guidelines write it:
//
//	'label'=value[UOM];[warn];[crit];[min];[max]
//
// Values are kept as written (Value in UOM); Base converts to base units.
type Perf struct {
	Label string
	// Value is the measurement in UOM; Undetermined (written "U") means
	// the plugin could not measure it, and Value is 0.
	Value        float64
	Undetermined bool
	UOM          string // "", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c" (also KiB .. TiB)
	Warn, Crit   Range  // Range.Set false when left empty
	Min, Max     float64
	HasMin       bool
	HasMax       bool
}

// Range is a threshold range of the guidelines: [@][start:][end]. The check
// alerts when the value is outside start..end (inclusive), or inside it
// with '@'. start "~" is -infinity; an absent end is +infinity; "10" is
// 0..10.
type Range struct {
	Set        bool
	Start, End float64 // ±Inf for "~" and an absent end
	Inside     bool    // '@': alert inside the range
}

// Simple reports whether r is a plain threshold, the form almost every
// plugin prints: "10", meaning 0..10 (start 0, a finite end, alert
// outside). Its End is then "the threshold", which the sample carries as a
// plain number.
func (r Range) Simple() bool {
	return r.Set && !r.Inside && r.Start == 0 && !math.IsInf(r.End, 0)
}

// String writes r back in the guidelines' syntax.
func (r Range) String() string {
	if !r.Set {
		return ""
	}
	var b strings.Builder
	if r.Inside {
		b.WriteByte('@')
	}
	switch {
	case math.IsInf(r.Start, -1):
		b.WriteString("~:")
	case r.Start != 0 || math.IsInf(r.End, 1):
		b.WriteString(formatNum(r.Start))
		b.WriteByte(':')
	}
	if !math.IsInf(r.End, 1) {
		b.WriteString(formatNum(r.End))
	}
	return b.String()
}

// unitScale maps the guidelines' units of measurement (and the binary
// spellings some plugins print) to the base unit's key suffix and the
// factor to it. Sizes are binary (KB = 1024 B), as the plugins that print
// them compute them and as hbd's own MB and GB are.
var unitScale = map[string]struct {
	suffix string
	factor float64
}{
	"":    {"", 1},
	"s":   {"_seconds", 1},
	"ms":  {"_seconds", -1e3}, // negative: divide, which rounds 12ms to 0.012 exactly
	"us":  {"_seconds", -1e6},
	"%":   {"_percent", 1},
	"B":   {"_bytes", 1},
	"KB":  {"_bytes", 1 << 10},
	"MB":  {"_bytes", 1 << 20},
	"GB":  {"_bytes", 1 << 30},
	"TB":  {"_bytes", 1 << 40},
	"KiB": {"_bytes", 1 << 10},
	"MiB": {"_bytes", 1 << 20},
	"GiB": {"_bytes", 1 << 30},
	"TiB": {"_bytes", 1 << 40},
	"c":   {"_total", 1},
}

// maxPerfLabel bounds a label, in bytes; labels become sample keys, and
// metric paths are at most 256 bytes.
const maxPerfLabel = 128

// ParsePerfdata parses a check's performance data: space-separated
// 'label'=value[UOM];warn;crit;min;max items, labels quoted with ' when they
// hold spaces (a quote inside a quoted label is written twice). Items that do not parse are
// skipped and reported, joined, in err, next to the ones that did; so a
// plugin with one odd item still delivers the rest.
func ParsePerfdata(s string) ([]Perf, error) {
	var out []Perf
	var errs []error
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		p, rest, err := parseItem(s)
		s = rest
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// parseItem parses the item at the start of s and returns the rest of s.
// On error the rest starts after the bad item's next separator.
func parseItem(s string) (Perf, string, error) {
	var p Perf
	label, rest, err := parseLabel(s)
	if err != nil {
		return p, skipItem(rest), err
	}
	p.Label = label
	end := strings.IndexAny(rest, " \t\r\n")
	if end < 0 {
		end = len(rest)
	}
	item, rest := rest[:end], rest[end:]
	fields := strings.Split(item, ";")
	if len(fields) > 5 {
		return p, rest, fmt.Errorf("perfdata %q: more than 5 fields (value;warn;crit;min;max)", label)
	}
	num, uom := splitUOM(fields[0])
	if _, ok := unitScale[uom]; !ok {
		return p, rest, fmt.Errorf("perfdata %q: unknown unit %q (the guidelines' units are s ms us %% B KB MB GB TB c)", label, uom)
	}
	p.UOM = uom
	if num == "U" {
		p.Undetermined = true
	} else if p.Value, err = parseNum(num); err != nil {
		return p, rest, fmt.Errorf("perfdata %q: value: %w", label, err)
	}
	get := func(i int) string {
		if i < len(fields) {
			return fields[i]
		}
		return ""
	}
	if p.Warn, err = parseRange(get(1)); err != nil {
		return p, rest, fmt.Errorf("perfdata %q: warn: %w", label, err)
	}
	if p.Crit, err = parseRange(get(2)); err != nil {
		return p, rest, fmt.Errorf("perfdata %q: crit: %w", label, err)
	}
	for i, dst := range []struct {
		v   *float64
		has *bool
	}{{&p.Min, &p.HasMin}, {&p.Max, &p.HasMax}} {
		f := get(3 + i)
		if f == "" {
			continue
		}
		// Some plugins repeat the unit on min and max.
		if n, u := splitUOM(f); u == uom {
			f = n
		}
		v, err := parseNum(f)
		if err != nil {
			return p, rest, fmt.Errorf("perfdata %q: %s: %w", label, [...]string{"min", "max"}[i], err)
		}
		*dst.v, *dst.has = v, true
	}
	return p, rest, nil
}

// parseLabel reads label= at the start of s.
func parseLabel(s string) (label, rest string, err error) {
	if s[0] == '\'' {
		var b strings.Builder
		i := 1
		for {
			j := strings.IndexByte(s[i:], '\'')
			if j < 0 {
				return "", "", errors.New("perfdata: unterminated quoted label")
			}
			b.WriteString(s[i : i+j])
			i += j + 1
			if i < len(s) && s[i] == '\'' { // '' is a quote inside the label
				b.WriteByte('\'')
				i++
				continue
			}
			break
		}
		label, rest = b.String(), s[i:]
		if !strings.HasPrefix(rest, "=") {
			return "", rest, fmt.Errorf("perfdata %q: no '=' after the label", label)
		}
	} else {
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexAny(s, " \t\r\n")
		if eq < 0 || (sp >= 0 && sp < eq) {
			return "", s, fmt.Errorf("perfdata %q: no '=' after the label", firstWord(s))
		}
		label, rest = s[:eq], s[eq:]
	}
	switch {
	case label == "":
		return "", rest, errors.New("perfdata: empty label")
	case len(label) > maxPerfLabel:
		return "", rest, fmt.Errorf("perfdata: label longer than %d bytes", maxPerfLabel)
	case strings.ContainsAny(label, "=\r\n\t"), !validText(label):
		return "", rest, fmt.Errorf("perfdata %q: label holds '=', a control character or invalid UTF-8", label)
	}
	return label, rest[1:], nil
}

// skipItem drops the rest of a bad item: up to the next white space.
func skipItem(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return s[i:]
	}
	return ""
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	return excerptString(s, 64)
}

// splitUOM splits "12.5MB" into "12.5" and "MB".
func splitUOM(s string) (num, uom string) {
	i := len(s)
	for i > 0 && !isNumByte(s[i-1]) {
		i--
	}
	if s == "U" {
		return s, ""
	}
	return s[:i], s[i:]
}

func isNumByte(c byte) bool { return c >= '0' && c <= '9' || c == '.' }

// parseNum parses a finite decimal number; plugins in some locales write a
// decimal comma, which is accepted.
func parseNum(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == ',' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, fmt.Errorf("%q is not a number", excerptString(s, 32))
		}
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a finite number", excerptString(s, 32))
	}
	return v, nil
}

// parseRange parses a threshold range; "" is an unset range.
func parseRange(s string) (Range, error) {
	if s == "" {
		return Range{}, nil
	}
	r := Range{Set: true, Start: 0, End: math.Inf(1)}
	if s[0] == '@' {
		r.Inside, s = true, s[1:]
	}
	lo, hi, colon := strings.Cut(s, ":")
	if !colon {
		lo, hi = "", s
	}
	var err error
	switch {
	case lo == "~":
		r.Start = math.Inf(-1)
	case lo != "":
		if r.Start, err = parseNum(lo); err != nil {
			return Range{}, err
		}
	}
	if hi != "" {
		if r.End, err = parseNum(hi); err != nil {
			return Range{}, err
		}
	} else if !colon {
		return Range{}, errors.New("empty range")
	}
	if r.Start > r.End {
		return Range{}, fmt.Errorf("range %q: start above end", s)
	}
	return r, nil
}

// FormatPerfdata writes ps back in the guidelines' syntax, labels quoted
// when needed; ParsePerfdata of the result gives ps again.
func FormatPerfdata(ps []Perf) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		if strings.ContainsAny(p.Label, " '") {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(p.Label, "'", "''"))
			b.WriteByte('\'')
		} else {
			b.WriteString(p.Label)
		}
		b.WriteByte('=')
		if p.Undetermined {
			b.WriteByte('U')
		} else {
			b.WriteString(formatNum(p.Value))
		}
		b.WriteString(p.UOM)
		// warn;crit;min;max, with empty fields at the end left out.
		tail := []string{p.Warn.String(), p.Crit.String(), "", ""}
		if p.HasMin {
			tail[2] = formatNum(p.Min)
		}
		if p.HasMax {
			tail[3] = formatNum(p.Max)
		}
		n := len(tail)
		for n > 0 && tail[n-1] == "" {
			n--
		}
		for _, f := range tail[:n] {
			b.WriteByte(';')
			b.WriteString(f)
		}
	}
	return b.String()
}

func formatNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Base returns v, a number in p's unit, in the base unit, and the key suffix
// that names it (_seconds, _percent, _bytes, _total, or "").
func (p *Perf) Base(v float64) (float64, string) {
	u := unitScale[p.UOM]
	switch {
	case u.factor < 0:
		return v / -u.factor, u.suffix
	case u.factor == 1:
		return v, u.suffix
	}
	return v * u.factor, u.suffix
}
