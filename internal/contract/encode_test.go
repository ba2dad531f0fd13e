package contract

import (
	"math"
	"testing"
	"time"
)

func TestAppendUnixTime(t *testing.T) {
	if got := string(appendUnixTime(nil, time.Time{})); got != "null" {
		t.Fatalf("zero time: %s", got)
	}
	ts := time.Unix(1711234567, 123456789)
	if got := string(appendUnixTime(nil, ts)); got != "1711234567.123" {
		t.Fatalf("got %s, want 1711234567.123", got)
	}
	if got := string(appendMillis(nil, 1500*time.Microsecond)); got != "1.500" {
		t.Fatalf("got %s, want 1.500", got)
	}
}

func TestAppendFloatNotANumber(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendFloat(nil, f)); got != "null" {
			t.Errorf("%v: %s, want null", f, got)
		}
	}
	if got := string(appendFloat(nil, 95.5)); got != "95.5" {
		t.Errorf("95.5: %s", got)
	}
}
