package alert

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A check result is the sample of a monitoring-plugins check that the
// agent ran ([[exec]] format = "nagios"): a JSON object whose first key
// is "status" (the check's exit status, 0..3) with "status_text" (its
// name) and "output" (the first line of its output) among the others:
//
//	{"status":1,"status_text":"WARNING","output":"LOAD WARNING - ...","perfdata":{...}}
//
// The daemon raises the alert "<plugin>.status" from it at the check's
// level, with the output as the alert's text, and no rule is needed.

// CheckStatusKey is the sample key, and last metric path segment, of a
// check's status alert.
const CheckStatusKey = "status"

// MaxCheckText bounds a check's alert text, in bytes: the agent sends at
// most 512, and a forged sample gets no more.
const MaxCheckText = 512

// checkPrefix starts every check result: a sample that does not start with
// it is not looked at further, so other samples cost one comparison.
var checkPrefix = []byte(`{"status":`)

// Check is what a check result says.
type Check struct {
	Level Level
	// Text is the check's output line, bounded by MaxCheckText, without
	// control characters.
	Text string
	// Valid is false when the sample was a check result but its status
	// was not an integer 0..3 matching status_text: it is then UNKNOWN,
	// and Text says why.
	Valid bool
}

// ParseCheck reports whether data, a sample's JSON object, is a check
// result, and what it says. A sample is a check result when its first key
// is "status" and it has a "status_text" of OK, WARNING, CRITICAL or
// UNKNOWN; anything else (a JSON plugin's own "status" key) is not, and
// costs no allocation when it does not start with "status".
func ParseCheck(data []byte) (Check, bool) {
	if !bytes.HasPrefix(data, checkPrefix) {
		return Check{}, false
	}
	var raw struct {
		Status     json.RawMessage `json:"status"`
		StatusText *string         `json:"status_text"`
		Output     *string         `json:"output"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.StatusText == nil {
		return Check{}, false
	}
	named, ok := ParseLevel(*raw.StatusText)
	if !ok {
		return Check{}, false
	}
	c := Check{Level: named, Valid: true}
	if raw.Output != nil {
		c.Text = checkText(*raw.Output)
	}
	status, err := strconv.Atoi(string(raw.Status))
	if err != nil || status < 0 || status > 3 || Level(status) != named {
		return Check{Level: LevelUnknown, Text: checkText("invalid check result: status " + string(raw.Status) + " with status_text " + strconv.Quote(*raw.StatusText))}, true
	}
	return c, true
}

// checkText returns s without control characters or invalid UTF-8 (each
// becomes U+FFFD), cut to MaxCheckText bytes at a rune boundary.
func checkText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxCheckText {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
