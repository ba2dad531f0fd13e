package alert

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data    string
		isCheck bool
		want    Check
	}{
		{`{"status":1,"status_text":"WARNING","output":"LOAD WARNING - 2.39","perfdata":{}}`, true, Check{Level: LevelWarning, Text: "LOAD WARNING - 2.39", Valid: true}},
		{`{"status":0,"status_text":"OK","output":"fine"}`, true, Check{Level: LevelOK, Text: "fine", Valid: true}},
		{`{"status":2,"status_text":"CRITICAL"}`, true, Check{Level: LevelCritical, Valid: true}},
		{`{"status":3,"status_text":"UNKNOWN","output":"a\u0000b\nc"}`, true, Check{Level: LevelUnknown, Text: "a\uFFFDb\uFFFDc", Valid: true}},
		// Broken or forged: UNKNOWN, not valid.
		{`{"status":7,"status_text":"OK"}`, true, Check{Level: LevelUnknown, Text: `invalid check result: status 7 with status_text "OK"`}},
		{`{"status":1,"status_text":"CRITICAL"}`, true, Check{Level: LevelUnknown, Text: `invalid check result: status 1 with status_text "CRITICAL"`}},
		{`{"status":"1","status_text":"WARNING"}`, true, Check{Level: LevelUnknown, Text: `invalid check result: status "1" with status_text "WARNING"`}},
		{`{"status":1.5,"status_text":"WARNING"}`, true, Check{Level: LevelUnknown, Text: `invalid check result: status 1.5 with status_text "WARNING"`}},
		{`{"status":-1,"status_text":"OK"}`, true, Check{Level: LevelUnknown, Text: `invalid check result: status -1 with status_text "OK"`}},
		// Not check results at all.
		{`{"status":200,"ok":true}`, false, Check{}},
		{`{"status":"running","status_text":"busy"}`, false, Check{}},
		{`{"cpu_percent":1,"status":1,"status_text":"OK"}`, false, Check{}},
		{`{"status":1,"status_text":"WARNING"`, false, Check{}},
		{``, false, Check{}},
	}
	for _, tt := range tests {
		got, ok := ParseCheck([]byte(tt.data))
		if ok != tt.isCheck || got != tt.want {
			t.Errorf("ParseCheck(%s) = %+v, %v; want %+v, %v", tt.data, got, ok, tt.want, tt.isCheck)
		}
	}
	long := `{"status":2,"status_text":"CRITICAL","output":"` + strings.Repeat("é", 1000) + `"}`
	c, _ := ParseCheck([]byte(long))
	if len(c.Text) > MaxCheckText || !utf8.ValidString(c.Text) || len(c.Text) < MaxCheckText-1 {
		t.Errorf("long text: %d bytes, valid %v", len(c.Text), utf8.ValidString(c.Text))
	}
}

// Samples that are not check results cost no allocation: every sample of
// every host passes through ParseCheck.
func TestParseCheckOtherSamplesDoNotAllocate(t *testing.T) {
	data := []byte(`{"cpu_percent":12.5,"load_avg":[0.1,0.2,0.3]}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseCheck(data) }); n != 0 {
		t.Errorf("ParseCheck of a cpu sample allocates %v times", n)
	}
}

// FuzzParseCheck: any sample parses without panicking; a check's text is
// bounded, valid UTF-8 without control characters, and its level valid.
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{
		`{"status":1,"status_text":"WARNING","output":"LOAD WARNING - 2.39","perfdata":{}}`,
		`{"status":7,"status_text":"OK"}`,
		`{"status":"1","status_text":"warning","output":"\u0000\ud800"}`,
		`{"status":200}`,
		`{"status":1e400,"status_text":"OK"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := ParseCheck(data)
		if !ok {
			if c != (Check{}) {
				t.Fatalf("not a check, but %+v", c)
			}
			return
		}
		if c.Level.Severity() < 0 {
			t.Fatalf("level %v", c.Level)
		}
		if len(c.Text) > MaxCheckText || !utf8.ValidString(c.Text) || strings.ContainsFunc(c.Text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("text %q", c.Text)
		}
	})
}
