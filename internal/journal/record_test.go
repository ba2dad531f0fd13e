package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
	"time"
)

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{
			name: "no fields",
			rec:  Record{Time: time.UnixMilli(1711234567123), Host: "web1", Kind: KindBoot, Msg: "web1 booted"},
			want: `{"time":1711234567.123,"host":"web1","kind":"boot","msg":"web1 booted"}`,
		},
		{
			name: "daemon-wide record keeps an empty host",
			rec:  Record{Time: time.Unix(1711234567, 0), Kind: KindSystem, Msg: "started"},
			want: `{"time":1711234567.000,"host":"","kind":"system","msg":"started"}`,
		},
		{
			name: "sub-millisecond time is truncated",
			rec:  Record{Time: time.Unix(1711234567, 5_999_999), Kind: KindSystem},
			want: `{"time":1711234567.005,"host":"","kind":"system","msg":""}`,
		},
		{
			name: "before 1970",
			rec:  Record{Time: time.UnixMilli(-1), Kind: KindSystem},
			want: `{"time":-0.001,"host":"","kind":"system","msg":""}`,
		},
		{
			name: "fields sorted, scalars and fallbacks",
			rec: Record{Time: time.UnixMilli(1000), Host: "h", Kind: KindAlert, Msg: "m", Fields: map[string]any{
				"z": "last", "a": 1, "b": 2.5, "c": true, "d": nil, "e": math.NaN(), "f": float32(0.1),
				"g": uint64(math.MaxUint64), "h": []int{1, 2}, "i": map[string]any{"y": 1, "x": "<"},
				"j": badJSON{}, "k": math.Inf(-1), "l": int64(-7),
			}},
			want: `{"time":1.000,"host":"h","kind":"alert","msg":"m","fields":{"a":1,"b":2.5,"c":true,"d":null,"e":null,"f":0.1,` +
				`"g":18446744073709551615,"h":[1,2],"i":{"x":"\u003c","y":1},"j":"no JSON for me","k":null,"l":-7,"z":"last"}}`,
		},
		{
			name: "empty fields omitted",
			rec:  Record{Time: time.UnixMilli(1000), Kind: KindSystem, Fields: map[string]any{}},
			want: `{"time":1.000,"host":"","kind":"system","msg":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.rec.AppendJSON(nil))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// badJSON cannot be encoded as JSON but has a string form.
type badJSON struct{}

func (badJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }
func (badJSON) String() string               { return "no JSON for me" }

func TestEscapingKeepsOneLine(t *testing.T) {
	msgs := []string{
		`he said "down"`,
		"two\nlines",
		"crlf\r\nend",
		"tab\there",
		`back\slash`,
		"nul\x00 and \x1f",
		"unicode: héllo 世界 🚀",
		"line separator \u2028 and \u2029",
		"invalid \xff\xfe utf-8",
		"</script>&",
	}
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var recs, want []Record
	for i, m := range msgs {
		r := Record{Time: t0.Add(time.Duration(i) * time.Second), Host: m, Kind: KindNotify, Msg: m,
			Fields: map[string]any{m: m}}
		recs = append(recs, r)
		// Each invalid byte reads back as U+FFFD, which is what
		// converting to runes does too.
		valid := string([]rune(m))
		want = append(want, Record{Time: r.Time, Host: valid, Kind: KindNotify, Msg: valid,
			Fields: map[string]any{valid: valid}})
	}
	if err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) != len(msgs) {
		t.Fatalf("%d messages made %d lines:\n%s", len(msgs), len(lines), data)
	}
	for _, l := range lines {
		if !json.Valid(l) {
			t.Errorf("line is not valid JSON: %q", l)
		}
	}
	got, err := Tail(Config{Dir: dir}, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, want)
}

func TestParseUnixTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1711234567.123", want: time.UnixMilli(1711234567123)},
		{in: "1711234567", want: time.Unix(1711234567, 0)},
		{in: "1711234567.123456789123", want: time.Unix(1711234567, 123456789)},
		{in: "-0.001", want: time.UnixMilli(-1)},
		{in: "-1.5", want: time.UnixMilli(-1500)},
		{in: "1.7e9", want: time.Unix(1_700_000_000, 0)},
		{in: "1E3", want: time.Unix(1000, 0)},
		{in: "", bad: true},
		{in: "-", bad: true},
		{in: ".5", bad: true},
		{in: "1.2.3", bad: true},
		{in: "1.", bad: true},
		{in: "1.5x", bad: true},
		{in: "+1", bad: true},
		{in: "1x", bad: true},
		{in: "1234567890123456789", bad: true},
		{in: "1e300", bad: true},
		{in: "NaN", bad: true},
	}
	for _, tt := range tests {
		got, err := parseUnixTime(tt.in)
		if got2, err2 := parseUnixTime([]byte(tt.in)); !got2.Equal(got) || (err2 == nil) != (err == nil) {
			t.Errorf("parseUnixTime(%q) differs for bytes: %v, %v", tt.in, got2, err2)
		}
		if tt.bad {
			if err == nil {
				t.Errorf("parseUnixTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseUnixTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Record
		bad  bool
	}{
		{in: `{"time":1.000,"host":"h","kind":"k","msg":"m","fields":{"n":1}}`,
			want: Record{Time: time.Unix(1, 0), Host: "h", Kind: "k", Msg: "m", Fields: map[string]any{"n": 1.0}}},
		{in: `{"time":2,"kind":"future_kind"}`, want: Record{Time: time.Unix(2, 0), Kind: "future_kind"}},
		{in: `{"time":2,"fields":{}}`, want: Record{Time: time.Unix(2, 0)}},
		{in: `{"time":"3.5"}`, want: Record{Time: time.UnixMilli(3500)}},
		{in: `{}`, bad: true},
		{in: `null`, bad: true},
		{in: `{"time":null}`, bad: true},
		{in: `{"time":"soon"}`, bad: true},
		{in: `{"time":1,"host":5}`, bad: true},
		{in: `{"time":1} x`, bad: true},
		{in: `[1]`, bad: true},
		{in: `{"time":1,"ho`, bad: true},
	}
	for _, tt := range tests {
		var r Record
		err := json.Unmarshal([]byte(tt.in), &r)
		if tt.bad {
			if err == nil {
				t.Errorf("%s decoded to %+v, want an error", tt.in, r)
			}
			continue
		}
		if err != nil || !sameRecord(r, tt.want) {
			t.Errorf("%s decoded to %+v, %v; want %+v", tt.in, r, err, tt.want)
		}
	}
}

func TestDropped(t *testing.T) {
	now := time.UnixMilli(1711234567123)
	got := string(Dropped(123, now).AppendJSON(nil))
	want := `{"time":1711234567.123,"host":"","kind":"dropped","msg":"journal dropped 123 events: the disk could not keep up","fields":{"count":123}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if msg := Dropped(1, now).Msg; msg != "journal dropped 1 event: the disk could not keep up" {
		t.Errorf("Dropped(1).Msg = %q", msg)
	}
}

func TestMarshalJSONRoundTrip(t *testing.T) {
	in := []Record{testRecord(1, "a", time.Second), Dropped(7, t0)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, out, []Record{decoded(t, in[0]), decoded(t, in[1])})
}

// FuzzRecordRoundTrip checks that any strings encode to one valid JSON
// line that decodes back to the same record.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("web1", "state \"UP\"\n", "k", int64(1711234567123456789))
	f.Add("", "\xff\x00\u2028", "\\", int64(-1))
	f.Fuzz(func(t *testing.T, host, msg, key string, ns int64) {
		r := Record{Time: time.Unix(0, ns), Host: host, Kind: KindAlert, Msg: msg, Fields: map[string]any{key: msg}}
		line := r.AppendJSON(nil)
		if bytes.ContainsAny(line, "\n\r") || !json.Valid(line) {
			t.Fatalf("bad line %q", line)
		}
		var got Record
		if err := got.UnmarshalJSON(line); err != nil {
			t.Fatalf("cannot decode %q: %v", line, err)
		}
		v := func(s string) string { return string([]rune(s)) }
		want := Record{Time: time.UnixMilli(r.Time.UnixMilli()), Host: v(host), Kind: KindAlert, Msg: v(msg),
			Fields: map[string]any{v(key): v(msg)}}
		if !sameRecord(got, want) {
			t.Fatalf("%q decoded to %+v, want %+v", line, got, want)
		}
	})
}
