package notify

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// Notification kinds, as set by the alert logic.
const (
	KindProblem       = "problem"
	KindRecovery      = "recovery"
	KindRepeat        = "repeat"
	KindFlappingStart = "flapping_start"
	KindFlappingStop  = "flapping_stop"
	KindTest          = "test"
)

// Alert levels, in the daemon's spelling.
const (
	LevelOK       = "OK"
	LevelWarning  = "WARNING"
	LevelUnknown  = "UNKNOWN"
	LevelCritical = "CRITICAL"
)

// Notification is one alert event to deliver.
type Notification struct {
	Kind       string // one of the Kind constants
	Host       string
	MetricPath string // e.g. "cpu_monitor.cpu_percent", "heartbeat"
	Level      string // the level now: "OK", "WARNING", "CRITICAL", "UNKNOWN"
	PrevLevel  string
	Value      *float64  // nil when unknown or non-numeric
	Since      time.Time // when the level began
	Time       time.Time // when this event happened
	// NotificationCount is how many notifications were sent for this alert
	// before this one.
	NotificationCount int
	// Message is a one-line human summary, e.g.
	// "web01 cpu_monitor.cpu_percent is CRITICAL (95.5 > 90)".
	Message string

	// A grouped notification (see Group) stands for GroupSize transitions
	// on as many hosts; its Host reads "25 hosts". Zero for one alert.
	GroupSize int
	Members   []Notification
	Outage    *Outage // set for a mass outage (or mass recovery)

	// Dependents is, on a host's heartbeat alert, how many hosts depend
	// on it, directly or through others ([[dependencies]] rules, agents'
	// parents): they are UNREACHABLE while it is DOWN and page nobody, so
	// this notification speaks for them. DependentHosts names a few of
	// them (at most MaxDependentsListed), its direct dependents first.
	// Zero and nil for every other alert. A grouped notification adds up
	// its members'.
	Dependents     int
	DependentHosts []string
}

// MaxDependentsListed bounds the dependents a notification names.
const MaxDependentsListed = 5

// MarshalJSON encodes n in the daemon's API style:
//
//	{"kind":"problem","host":"web01","metric_path":"cpu_monitor.cpu_percent",
//	 "level":"CRITICAL","prev_level":"WARNING","value":95.5,
//	 "since":1711234000.000,"time":1711234567.123,"notification_count":2,
//	 "message":"..."}
//
// Times are unix seconds with millisecond precision; a zero time, a nil
// Value and a non-finite Value are null.
func (n Notification) MarshalJSON() ([]byte, error) {
	return n.appendJSON(make([]byte, 0, 256)), nil
}

func (n Notification) appendJSON(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, n.Kind)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, n.Host)
	b = append(b, `,"metric_path":`...)
	b = appendJSONString(b, n.MetricPath)
	b = append(b, `,"level":`...)
	b = appendJSONString(b, n.Level)
	b = append(b, `,"prev_level":`...)
	b = appendJSONString(b, n.PrevLevel)
	b = append(b, `,"value":`...)
	if v, ok := finiteValue(n.Value); ok {
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"since":`...)
	b = appendUnixSeconds(b, n.Since)
	b = append(b, `,"time":`...)
	b = appendUnixSeconds(b, n.Time)
	b = append(b, `,"notification_count":`...)
	b = strconv.AppendInt(b, int64(n.NotificationCount), 10)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, n.Message)
	b = n.appendGroupJSON(b)
	b = n.appendDependentsJSON(b)
	return append(b, '}')
}

// appendDependentsJSON appends "dependents" and "dependent_hosts" when
// hosts depend on n's host; nothing otherwise, so bodies of other alerts
// are as they were.
func (n Notification) appendDependentsJSON(b []byte) []byte {
	if n.Dependents == 0 {
		return b
	}
	b = append(b, `,"dependents":`...)
	b = strconv.AppendInt(b, int64(n.Dependents), 10)
	b = append(b, `,"dependent_hosts":[`...)
	for i, h := range n.DependentHosts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, h)
	}
	return append(b, ']')
}

// DependentsText describes n's dependents for people: "20 hosts depend
// on it: a, b, c, d, e and 15 more"; "" when none do.
func (n Notification) DependentsText() string {
	if n.Dependents == 0 {
		return ""
	}
	what := "1 host depends"
	if n.Dependents != 1 {
		what = strconv.Itoa(n.Dependents) + " hosts depend"
	}
	list := strings.Join(n.DependentHosts, ", ")
	if more := n.Dependents - len(n.DependentHosts); more > 0 && list != "" {
		list += " and " + strconv.Itoa(more) + " more"
	}
	if list == "" {
		return what + " on it"
	}
	return what + " on it: " + list
}

// ValueText is the value as text ("95.5"), or "" when it is unknown. Text
// templates use it, since printing the *float64 field directly would show
// "<nil>" for an unknown value.
func (n Notification) ValueText() string {
	v, ok := finiteValue(n.Value)
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func finiteValue(p *float64) (float64, bool) {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return 0, false
	}
	return *p, true
}

// appendUnixSeconds appends t as unix seconds with millisecond precision
// (1711234567.123), or null for the zero time.
func appendUnixSeconds(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return append(b, unixText(t)...)
}

// unixText is t as unix seconds with millisecond precision, or "" for the
// zero time. Integer arithmetic keeps the milliseconds exact where a float
// division would round 1711234567.123 to ...122.
func unixText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	ms := t.UnixMilli()
	sign := ""
	if ms < 0 {
		sign = "-"
		ms = -ms
	}
	frac := strconv.FormatInt(ms%1000+1000, 10)[1:] // zero-padded to 3 digits
	return sign + strconv.FormatInt(ms/1000, 10) + "." + frac
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, since these bodies go to webhooks and scripts, not into
// HTML; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '\r':
				b = append(b, `\r`...)
			case c == '\t':
				b = append(b, `\t`...)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript source: escape them so
			// a body pasted into a script stays correct.
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// templateFuncs returns the functions available in webhook body and email subject templates:
//
//	json  — the argument as JSON: {{json .}} is the default body,
//	        {{json .Message}} a quoted, escaped string for a JSON body
//	unix  — a time.Time as unix seconds ("1711234567.123", "" when zero)
//	upper, lower — strings.ToUpper / ToLower
//
// The Notification's ValueText method gives the value as text. A template
// whose body is JSON escapes what it prints (see escapeJSONActions).
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		jsonEscapeFunc: jsonStringEscape,
		"json":         templateJSON,
		"unix":         unixText,
		"upper":        strings.ToUpper,
		"lower":        strings.ToLower,
	}
}

func templateJSON(v any) (string, error) {
	switch v := v.(type) {
	case Notification:
		return string(v.appendJSON(nil)), nil
	case string:
		return string(appendJSONString(nil, v)), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// severity orders levels: OK < WARNING < UNKNOWN < CRITICAL. A level it
// does not know counts as UNKNOWN, so a mistyped level is delivered rather
// than silently filtered out.
func severity(level string) int {
	switch strings.ToUpper(level) {
	case LevelOK:
		return 0
	case LevelWarning:
		return 1
	case LevelCritical:
		return 3
	default:
		return 2
	}
}
