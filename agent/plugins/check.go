package plugins

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hbd-project/hbd/internal/jsonw"
)

// Check statuses: a monitoring-plugins check's exit status, which the
// guidelines define as 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Any other
// exit status, a timeout or a check that cannot be run is UNKNOWN.
const (
	StatusOK       = 0
	StatusWarning  = 1
	StatusCritical = 2
	StatusUnknown  = 3
)

// StatusText returns the name of a check status: OK, WARNING, CRITICAL or
// UNKNOWN (for anything outside 0..3).
func StatusText(status int) string {
	switch status {
	case StatusOK:
		return "OK"
	case StatusWarning:
		return "WARNING"
	case StatusCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// Bounds on what a check's sample keeps of its output, in bytes: the
// first line is the alert's text, shown in notifications and the journal;
// the long text is detail for people reading the sample.
const (
	maxCheckOutput     = 512
	maxCheckLongOutput = 1024
)

// CheckResult is one run of a check, parsed.
type CheckResult struct {
	Status     int    // 0..3
	Output     string // the first line's text, before '|'
	LongOutput string // the lines after it, before the perfdata
	Perf       []Perf
	// PerfErrors are the perfdata items that did not parse, each
	// described; they are left out of the sample and counted in it.
	PerfErrors []string
}

// ParseCheckOutput splits a check's stdout as the guidelines lay it out:
//
//	TEXT OUTPUT | OPTIONAL PERFDATA
//	LONG TEXT LINE 1
//	LONG TEXT LINE N | PERFDATA LINE 2
//	PERFDATA LINE 3
//
// exitCode becomes Status, UNKNOWN when it is outside 0..3. The texts are
// cut to their bounds at a UTF-8 boundary, with control characters and
// invalid UTF-8 replaced.
func ParseCheckOutput(stdout []byte, exitCode int) CheckResult {
	res := CheckResult{Status: exitCode}
	if exitCode < StatusOK || exitCode > StatusUnknown {
		res.Status = StatusUnknown
	}
	text := strings.ReplaceAll(string(stdout), "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	out, perf1, _ := strings.Cut(first, "|")
	res.Output = cleanText(strings.TrimSpace(out), maxCheckOutput)
	perf := []string{perf1}
	var long []string
	inPerf := false
	for line := range strings.SplitSeq(rest, "\n") {
		if inPerf {
			perf = append(perf, line)
			continue
		}
		if t, p, ok := strings.Cut(line, "|"); ok {
			long = append(long, t)
			perf = append(perf, p)
			inPerf = true
			continue
		}
		long = append(long, line)
	}
	res.LongOutput = cleanText(strings.TrimSpace(strings.Join(long, "\n")), maxCheckLongOutput)
	ps, err := ParsePerfdata(strings.Join(perf, " "))
	res.Perf = ps
	if err != nil {
		for e := range strings.SplitSeq(err.Error(), "\n") {
			res.PerfErrors = append(res.PerfErrors, e)
		}
	}
	return res
}

// AppendJSON appends the sample of a check result:
//
//	{"status":1,"status_text":"WARNING","output":"LOAD WARNING - ...",
//	 "perfdata":{"load1":{"value":2.39,"warn":0,"crit":1000,"min":0}, ...}}
//
// "status" and "status_text" come first and in this order: the daemon
// recognises a check's sample by them and raises the alert
// "<plugin>.status" from it. Each perfdata item is an object under its
// label; its numbers are in base units, named by a suffix: value, warn,
// crit, min, max with _seconds (s, ms, us), _percent, _bytes (B, KB, MB,
// GB, TB; binary) or _total (c); no suffix without a unit. A simple
// threshold ("10") is a number; any other range (10:20, @5, ~:0) is its
// text under warn_range or crit_range. An undetermined value ("U") is
// null. "long_output" and "perfdata_errors" (how many items were left out
// because they did not parse) appear only when there are some.
func (c *CheckResult) AppendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	b = append(b, `,"status_text":`...)
	b = jsonw.AppendString(b, StatusText(c.Status))
	b = append(b, `,"output":`...)
	b = jsonw.AppendString(b, c.Output)
	if c.LongOutput != "" {
		b = append(b, `,"long_output":`...)
		b = jsonw.AppendString(b, c.LongOutput)
	}
	b = append(b, `,"perfdata":{`...)
	seen := make(map[string]bool, len(c.Perf))
	dup := 0
	for i := range c.Perf {
		p := &c.Perf[i]
		if seen[p.Label] {
			// A JSON object with the key twice means different things to
			// different readers; the first one stays.
			dup++
			continue
		}
		if len(seen) > 0 {
			b = append(b, ',')
		}
		seen[p.Label] = true
		b = jsonw.AppendString(b, p.Label)
		b = append(b, ':')
		b = p.appendJSON(b)
	}
	b = append(b, '}')
	if n := len(c.PerfErrors) + dup; n > 0 {
		b = append(b, `,"perfdata_errors":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, '}')
}

// appendJSON appends p's object (see CheckResult.AppendJSON).
func (p *Perf) appendJSON(b []byte) []byte {
	_, suffix := p.Base(0)
	b = append(b, `{"value`...)
	b = append(b, suffix...)
	b = append(b, `":`...)
	if p.Undetermined {
		b = append(b, "null"...)
	} else {
		b = p.appendBase(b, p.Value)
	}
	for _, r := range []struct {
		name string
		r    Range
	}{{"warn", p.Warn}, {"crit", p.Crit}} {
		switch {
		case !r.r.Set:
		case r.r.Simple():
			b = append(b, `,"`...)
			b = append(b, r.name...)
			b = append(b, suffix...)
			b = append(b, `":`...)
			b = p.appendBase(b, r.r.End)
		default:
			b = append(b, `,"`...)
			b = append(b, r.name...)
			b = append(b, `_range":`...)
			b = jsonw.AppendString(b, r.r.String()+p.UOM)
		}
	}
	if p.HasMin {
		b = append(b, `,"min`...)
		b = append(b, suffix...)
		b = append(b, `":`...)
		b = p.appendBase(b, p.Min)
	}
	if p.HasMax {
		b = append(b, `,"max`...)
		b = append(b, suffix...)
		b = append(b, `":`...)
		b = p.appendBase(b, p.Max)
	}
	return append(b, '}')
}

// appendBase appends v, in p's unit, as a JSON number in the base unit.
// Scaling can make a huge value overflow; that is written as null rather
// than as invalid JSON.
func (p *Perf) appendBase(b []byte, v float64) []byte {
	v, _ = p.Base(v)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(b, "null"...)
	}
	if math.Abs(v) < 1e15 {
		// Plain digits for sizes in bytes: 23243784192, not 2.3243784192e+10.
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// cleanText returns s with control characters (but for tabs and
// newlines) and invalid UTF-8 replaced by U+FFFD, cut to at most n bytes at
// a rune boundary, with "..." marking the cut.
func cleanText(s string, n int) string {
	var b strings.Builder
	b.Grow(min(len(s), n+utf8.UTFMax))
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			r = utf8.RuneError
		}
		if b.Len() > n {
			break // enough to know it is cut
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= n {
		return out
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + "..."
}

// validText reports whether s is valid UTF-8 without control characters.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// excerptString returns the start of s, at most n bytes, for an error.
func excerptString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// checkFailure is the result of a check that could not be run or did not
// finish: UNKNOWN, with why as the text, as Nagios reports a check it
// could not run.
func checkFailure(why string, stderr string) CheckResult {
	out := "(" + why + ")"
	if stderr != "" {
		out += " stderr: " + stderr
	}
	return CheckResult{Status: StatusUnknown, Output: cleanText(out, maxCheckOutput)}
}
