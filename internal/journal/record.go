package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hbd-project/hbd/internal/jsonw"
)

// Kinds of record hbd writes. The set is open: readers must accept kinds
// they do not know, so new kinds can be added without a format change.
const (
	KindState        = "state"
	KindConnection   = "connection"
	KindBoot         = "boot"
	KindShutdown     = "shutdown"
	KindAlert        = "alert"
	KindNotify       = "notify"
	KindNotifyFailed = "notify_failed"
	KindSilence      = "silence"
	KindSystem       = "system"
	KindDropped      = "dropped"
)

// Record is one journal line.
type Record struct {
	// Time is written as Unix seconds with millisecond precision
	// (1711234567.123); finer precision is truncated. Writer.Write stamps
	// a zero Time with Config.Now.
	Time time.Time
	// Host is the host the record is about, "" for daemon-wide records.
	Host string
	// Kind is one of the Kind constants.
	Kind string
	// Msg is one human-readable line.
	Msg string
	// Fields holds structured details (level, metric_path, value,
	// channel, ...); omitted from the line when empty. Decoded numbers
	// come back as float64, as with encoding/json.
	Fields map[string]any
}

// Dropped builds the record the journal actor writes when it had to drop
// n events because the disk could not keep up, so that loss is never
// silent.
func Dropped(n int, now time.Time) Record {
	noun := "events"
	if n == 1 {
		noun = "event"
	}
	return Record{
		Time:   now,
		Kind:   KindDropped,
		Msg:    fmt.Sprintf("journal dropped %d %s: the disk could not keep up", n, noun),
		Fields: map[string]any{"count": n},
	}
}

// AppendJSON appends r as one JSON object without a trailing newline. The
// output never contains a raw newline: control characters in strings are
// escaped, and invalid UTF-8 becomes U+FFFD. Fields keys are sorted so the
// same record always encodes to the same bytes.
func (r Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":`...)
	b = appendUnixMilli(b, r.Time)
	b = append(b, `,"host":`...)
	b = jsonw.AppendString(b, r.Host)
	b = append(b, `,"kind":`...)
	b = jsonw.AppendString(b, r.Kind)
	b = append(b, `,"msg":`...)
	b = jsonw.AppendString(b, r.Msg)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = appendFields(b, r.Fields)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (r Record) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil), nil
}

// UnmarshalJSON implements json.Unmarshaler. "time" is required; the other
// keys default to empty.
func (r *Record) UnmarshalJSON(data []byte) error {
	var w struct {
		Time   json.Number    `json:"time"`
		Host   string         `json:"host"`
		Kind   string         `json:"kind"`
		Msg    string         `json:"msg"`
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("cannot decode journal record: %w", err)
	}
	if w.Time == "" {
		return errors.New("cannot decode journal record: no time")
	}
	t, err := parseUnixTime(string(w.Time))
	if err != nil {
		return fmt.Errorf("cannot decode journal record: %w", err)
	}
	if len(w.Fields) == 0 {
		w.Fields = nil
	}
	*r = Record{Time: t, Host: w.Host, Kind: w.Kind, Msg: w.Msg, Fields: w.Fields}
	return nil
}

// appendUnixMilli appends t as Unix seconds with exactly three decimals.
// It formats the integer milliseconds rather than a float so that times
// far from 1970 keep their last digit.
func appendUnixMilli(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// parseUnixTime parses Unix seconds as written by appendUnixMilli (any
// number of decimals, nanoseconds kept); exponent forms, which other tools
// may write, go through float64. It takes bytes too, so that readers can
// look at a line's time without allocating.
func parseUnixTime[T string | []byte](s T) (time.Time, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			return parseFloatTime(string(s))
		}
	}
	i := 0
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		i++
	}
	var sec int64
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		sec = sec*10 + int64(s[i]-'0')
	}
	// 18 digits cannot overflow int64.
	if n := i - start; n == 0 || n > 18 {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	var nsec int64
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if i-start < 9 {
				nsec = nsec*10 + int64(s[i]-'0')
			}
		}
		if i == start {
			return time.Time{}, fmt.Errorf("bad time %q", s)
		}
		for n := i - start; n < 9; n++ {
			nsec *= 10
		}
	}
	if i != len(s) {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec), nil
}

func parseFloatTime(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	// 1e15 s is some 30 million years: beyond that float64 cannot hold
	// milliseconds anyway.
	if err != nil || math.Abs(f) >= 1e15 {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64(math.Round((f-sec)*1e9))), nil
}

// appendFields appends m as a JSON object with sorted keys.
func appendFields(b []byte, m map[string]any) []byte {
	// Records carry a handful of fields: sorting them in a stack array
	// keeps the common case free of allocations.
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

// appendValue appends v as JSON. The usual scalar types are encoded
// directly; anything else goes through encoding/json. A value JSON cannot
// carry (NaN, a channel) must not cost the whole record, so NaN and the
// infinities become null and an unencodable value becomes its fmt string.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonw.AppendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int8:
		return strconv.AppendInt(b, int64(v), 10)
	case int16:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float32:
		return appendFloat(b, float64(v), 32)
	case float64:
		return appendFloat(b, v, 64)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return jsonw.AppendString(b, fmt.Sprint(v))
	}
	return append(b, enc...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}
