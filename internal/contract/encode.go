package contract

import (
	"math"
	"strconv"
	"time"

	"github.com/hbd-project/hbd/internal/jsonw"
)

// The API's value formats, shared by every shape.

func appendString(b []byte, s string) []byte { return jsonw.AppendString(b, s) }

// appendUnixTime appends t as seconds since the epoch with millisecond
// precision, the seed's format (1711234567.123), or null for the zero time.
func appendUnixTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return appendUnixNano(b, t.UnixNano())
}

// appendUnixNano appends a unix time in nanoseconds as seconds with
// millisecond precision.
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

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

func appendInt64(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

func appendUint(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) }

// appendUnixMilli appends a unix time in milliseconds as seconds.
func appendUnixMilli(b []byte, ms int64) []byte {
	return strconv.AppendFloat(b, float64(ms)/1e3, 'f', 3, 64)
}
