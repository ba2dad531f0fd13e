package actors

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "web01", `quote " and \ backslash`, "tab\tnew\nline\r", "ctl \x01\x1f", "<html>&", "ünïcødé ✓", "bad \xff utf8", "\u2028"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encoded to invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q round-trips to %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

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
