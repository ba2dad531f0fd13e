package actors

import (
	"math"
	"strconv"
	"time"

	"github.com/hbd-project/hbd/internal/jsonw"
)

// The API's answers are built by appending to byte slices rather than with
// encoding/json: the HostActor and fleet index build them for every change,
// and the stored plugin data is already JSON that must be embedded as is.

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte { return jsonw.AppendString(b, s) }

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

// unixSeconds is t as seconds since the epoch with millisecond precision,
// for journal event fields.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }
