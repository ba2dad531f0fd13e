package plugins

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCheckOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stdout string
		code   int
		want   string // the sample
	}{
		{
			name:   "check_load warning",
			stdout: "LOAD WARNING - total load average: 2.39, 3.14, 2.34|load1=2.390;0.000;1000.000;0; load5=3.140;0.000;1000.000;0; \n",
			code:   1,
			want: `{"status":1,"status_text":"WARNING","output":"LOAD WARNING - total load average: 2.39, 3.14, 2.34","perfdata":{` +
				`"load1":{"value":2.39,"warn":0,"crit":1000,"min":0},"load5":{"value":3.14,"warn":0,"crit":1000,"min":0}}}`,
		},
		{
			name:   "sizes become bytes, times seconds",
			stdout: "DISK OK | /=22000MB;24000;25000;0;26000 'time used'=250ms;1000;2000 pl=5%;;;0;100 pkts=12c",
			want: `{"status":0,"status_text":"OK","output":"DISK OK","perfdata":{` +
				`"/":{"value_bytes":23068672000,"warn_bytes":25165824000,"crit_bytes":26214400000,"min_bytes":0,"max_bytes":27262976000},` +
				`"time used":{"value_seconds":0.25,"warn_seconds":1,"crit_seconds":2},` +
				`"pl":{"value_percent":5,"min_percent":0,"max_percent":100},"pkts":{"value_total":12}}}`,
		},
		{
			name:   "ranges that are not plain thresholds are text",
			stdout: "PROCS WARNING: 0 processes | procs=0;1:;@5:10;0;",
			code:   1,
			want:   `{"status":1,"status_text":"WARNING","output":"PROCS WARNING: 0 processes","perfdata":{"procs":{"value":0,"warn_range":"1:","crit_range":"@5:10","min":0}}}`,
		},
		{
			name: "long output and perfdata over several lines",
			stdout: "DISK CRITICAL - /var is full | /=1B\n" +
				"/var 100% used\n" +
				"/home 20% used | /var=2B;;;0;2\n" +
				"/home=3B\n",
			code: 2,
			want: `{"status":2,"status_text":"CRITICAL","output":"DISK CRITICAL - /var is full","long_output":"/var 100% used\n/home 20% used",` +
				`"perfdata":{"/":{"value_bytes":1},"/var":{"value_bytes":2,"min_bytes":0,"max_bytes":2},"/home":{"value_bytes":3}}}`,
		},
		{
			name:   "no perfdata",
			stdout: "OK - all good\n",
			want:   `{"status":0,"status_text":"OK","output":"OK - all good","perfdata":{}}`,
		},
		{
			name:   "an exit status outside 0..3 is UNKNOWN",
			stdout: "something",
			code:   127,
			want:   `{"status":3,"status_text":"UNKNOWN","output":"something","perfdata":{}}`,
		},
		{
			name:   "negative exit status",
			stdout: "x",
			code:   -1,
			want:   `{"status":3,"status_text":"UNKNOWN","output":"x","perfdata":{}}`,
		},
		{
			name:   "bad and duplicate items are counted, the rest kept",
			stdout: "OK | a=1 b=zz a=2 c=U",
			want:   `{"status":0,"status_text":"OK","output":"OK","perfdata":{"a":{"value":1},"c":{"value":null}},"perfdata_errors":2}`,
		},
		{
			name:   "control characters and invalid UTF-8 in the text",
			stdout: "OK \x1b[31mred\x00 \xff|",
			want:   `{"status":0,"status_text":"OK","output":"OK �[31mred� �","perfdata":{}}`,
		},
	}
	for _, tt := range tests {
		res := ParseCheckOutput([]byte(tt.stdout), tt.code)
		got := string(res.AppendJSON(nil))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: invalid JSON", tt.name)
		}
	}
}

// TestCheckOutputBounded: a check that prints a huge first line or long
// text gives a sample with the texts cut at their bounds, on a rune
// boundary, marked with "...".
func TestCheckOutputBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 2000) // 2 bytes each
	res := ParseCheckOutput([]byte("CRIT "+long+"\n"+long+"\n"), 2)
	if len(res.Output) > maxCheckOutput || !strings.HasSuffix(res.Output, "...") || !utf8.ValidString(res.Output) {
		t.Errorf("output not cut: %d bytes, valid %v, ends %q", len(res.Output), utf8.ValidString(res.Output), res.Output[len(res.Output)-5:])
	}
	if len(res.LongOutput) > maxCheckLongOutput || !strings.HasSuffix(res.LongOutput, "...") || !utf8.ValidString(res.LongOutput) {
		t.Errorf("long output not cut: %d bytes", len(res.LongOutput))
	}
	if s := cleanText("short", maxCheckOutput); s != "short" {
		t.Errorf("cleanText(short) = %q", s)
	}
}

func TestStatusText(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN", 4: "UNKNOWN", -1: "UNKNOWN", 255: "UNKNOWN"} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}
