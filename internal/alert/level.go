package alert

import (
	"fmt"
	"strings"
)

// Level is the state of one alert. The numeric values are stable (they may
// be stored), but they are not a severity order: use [Level.Severity] to
// compare levels.
type Level uint8

// The alert levels.
const (
	LevelOK Level = iota
	LevelWarning
	LevelCritical
	LevelUnknown
)

var levelNames = [...]string{
	LevelOK:       "OK",
	LevelWarning:  "WARNING",
	LevelCritical: "CRITICAL",
	LevelUnknown:  "UNKNOWN",
}

// String returns "OK", "WARNING", "CRITICAL" or "UNKNOWN", the spelling of
// the HTTP API's "level" field. An out-of-range value prints as "Level(n)".
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// MarshalText encodes l as its [Level.String] name, so a Level is a JSON
// string.
func (l Level) MarshalText() ([]byte, error) {
	if int(l) >= len(levelNames) {
		return nil, fmt.Errorf("cannot marshal alert level %d: out of range", uint8(l))
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText parses a level name as [ParseLevel] does.
func (l *Level) UnmarshalText(b []byte) error {
	v, ok := ParseLevel(string(b))
	if !ok {
		return fmt.Errorf("unknown alert level %q (want OK, WARNING, CRITICAL or UNKNOWN)", b)
	}
	*l = v
	return nil
}

// ParseLevel parses a level name, ignoring case ("warning" is LevelWarning).
func ParseLevel(s string) (Level, bool) {
	for l, name := range levelNames {
		if strings.EqualFold(s, name) {
			return Level(l), true
		}
	}
	return 0, false
}

// Severity orders levels for "at least this bad" comparisons (a min_level
// filter, the raise/lower decision of a [Tracker]): OK=0, WARNING=1,
// UNKNOWN=2, CRITICAL=3. UNKNOWN ranks above WARNING because a metric hbd
// cannot read may hide anything, but below CRITICAL, which is a measured
// breach. An out-of-range Level has severity -1.
func (l Level) Severity() int {
	switch l {
	case LevelOK:
		return 0
	case LevelWarning:
		return 1
	case LevelUnknown:
		return 2
	case LevelCritical:
		return 3
	}
	return -1
}

// Op is a threshold comparison operator. The zero Op is invalid, so a rule
// whose operator was never set fails [Compile] instead of silently meaning
// ">"; the config layer chooses the default.
type Op uint8

// The comparison operators. For OpGT, OpGE, OpLT and OpLE a value "breaches"
// a threshold t when "value op t" holds; OpEQ and OpNE likewise, compared
// exactly.
const (
	OpGT Op = iota + 1 // >
	OpGE               // >=
	OpLT               // <
	OpLE               // <=
	OpEQ               // ==
	OpNE               // !=
)

var opNames = [...]string{OpGT: ">", OpGE: ">=", OpLT: "<", OpLE: "<=", OpEQ: "==", OpNE: "!="}

// String returns the operator as written in the config (">", ">=", ...).
func (o Op) String() string {
	if o >= OpGT && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ParseOp parses one of > >= < <= == !=. Surrounding spaces are not
// accepted: the config value is the operator and nothing else.
func ParseOp(s string) (Op, error) {
	for o := OpGT; int(o) < len(opNames); o++ {
		if s == opNames[o] {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown operator %q (want one of > >= < <= == !=)", s)
}

// valid reports whether o is one of the six operators.
func (o Op) valid() bool { return o >= OpGT && o <= OpNE }

// breaches reports whether "v o t" holds.
func (o Op) breaches(v, t float64) bool {
	switch o {
	case OpGT:
		return v > t
	case OpGE:
		return v >= t
	case OpLT:
		return v < t
	case OpLE:
		return v <= t
	case OpEQ:
		return v == t
	case OpNE:
		return v != t
	}
	return false
}

// Value is one observed metric value. OK is false when the value was
// present but not a number (a string, bool, null, object or array, or a
// number outside the float64 range); Num is then 0 and meaningless.
type Value struct {
	Num float64
	OK  bool
}

// Number returns the numeric Value f.
func Number(f float64) Value { return Value{Num: f, OK: true} }

// Summary counts alerts by level, as in the HTTP API's "summary" object.
type Summary struct {
	OK, Warning, Critical, Unknown int
}

// Add counts one alert at level l. An out-of-range level is not counted.
func (s *Summary) Add(l Level) {
	switch l {
	case LevelOK:
		s.OK++
	case LevelWarning:
		s.Warning++
	case LevelCritical:
		s.Critical++
	case LevelUnknown:
		s.Unknown++
	}
}
