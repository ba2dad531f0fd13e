package plugins

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParsePerfdata(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	ninf := math.Inf(-1)
	simple := func(v float64) Range { return Range{Set: true, End: v} }
	tests := []struct {
		in      string
		want    []Perf
		wantErr string // a part of the error; "" for none
	}{
		{in: "", want: nil},
		{in: "load1=0.52;1.00;2.00;0;", want: []Perf{{Label: "load1", Value: 0.52, Warn: simple(1), Crit: simple(2), HasMin: true}}},
		{in: "load1=2.390;0.000;1000.000;0; load5=3.140;0.000;1000.000;0; ", want: []Perf{
			{Label: "load1", Value: 2.39, Warn: simple(0), Crit: simple(1000), HasMin: true},
			{Label: "load5", Value: 3.14, Warn: simple(0), Crit: simple(1000), HasMin: true},
		}},
		{in: "/=23069720576B;243497277849;257024904396;0;270552530944", want: []Perf{
			{Label: "/", Value: 23069720576, UOM: "B", Warn: simple(243497277849), Crit: simple(257024904396), HasMin: true, Max: 270552530944, HasMax: true},
		}},
		{in: "procs=0;1:;;0;", want: []Perf{{Label: "procs", Warn: Range{Set: true, Start: 1, End: inf}, HasMin: true}}},
		{in: "'free space'=12MB;@10:20;~:5 'it''s'=1c", want: []Perf{
			{Label: "free space", Value: 12, UOM: "MB", Warn: Range{Set: true, Start: 10, End: 20, Inside: true}, Crit: Range{Set: true, Start: ninf, End: 5}},
			{Label: "it's", Value: 1, UOM: "c"},
		}},
		{in: "time=0.012s;1;2;0;10 rta=1.5ms pl=0% t=12us", want: []Perf{
			{Label: "time", Value: 0.012, UOM: "s", Warn: simple(1), Crit: simple(2), HasMin: true, Max: 10, HasMax: true},
			{Label: "rta", Value: 1.5, UOM: "ms"},
			{Label: "pl", UOM: "%"},
			{Label: "t", Value: 12, UOM: "us"},
		}},
		{in: "users=0;5;10;0", want: []Perf{{Label: "users", Warn: simple(5), Crit: simple(10), HasMin: true}}},
		{in: "x=U;1;2", want: []Perf{{Label: "x", Undetermined: true, Warn: simple(1), Crit: simple(2)}}},
		{in: "neg=-5.5;-10:;~:0", want: []Perf{{Label: "neg", Value: -5.5, Warn: Range{Set: true, Start: -10, End: inf}, Crit: Range{Set: true, Start: ninf, End: 0}}}},
		{in: "comma=1,5", want: []Perf{{Label: "comma", Value: 1.5}}},
		{in: "mem=1GB;;;0GB;16GB", want: []Perf{{Label: "mem", Value: 1, UOM: "GB", HasMin: true, Max: 16, HasMax: true}}},
		{in: "multi=1\nline=2", want: []Perf{{Label: "multi", Value: 1}, {Label: "line", Value: 2}}},
		// Bad items are skipped and reported; the others stay.
		{in: "a=1 b=1XB c=3", want: []Perf{{Label: "a", Value: 1}, {Label: "c", Value: 3}}, wantErr: `"b": unknown unit "XB"`},
		{in: "novalue c=3", want: []Perf{{Label: "c", Value: 3}}, wantErr: `"novalue": no '='`},
		{in: "'open=1 c=3", wantErr: "unterminated"},
		{in: "a=x", wantErr: `unknown unit "x"`},
		{in: "a=1-2", wantErr: "not a finite number"},
		{in: "a=1;2;3;4;5;6", wantErr: "more than 5 fields"},
		{in: "a=1;20:10", wantErr: "start above end"},
		{in: "a=1;x", wantErr: "warn"},
		{in: "=1", wantErr: "empty label"},
		{in: "a=NaN b=Inf c=1e999", wantErr: "not a finite number"},
		{in: "a=1;@", wantErr: "empty range"},
		{in: strings.Repeat("l", 200) + "=1", wantErr: "longer than 128"},
	}
	for _, tt := range tests {
		got, err := ParsePerfdata(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParsePerfdata(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParsePerfdata(%q): error %v, want one with %q", tt.in, err, tt.wantErr)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePerfdata(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestRangeString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", "@5", "~:", "-3:-1", "0.5"} {
		r, err := parseRange(s)
		if err != nil {
			t.Fatalf("parseRange(%q): %v", s, err)
		}
		if got := r.String(); got != s {
			t.Errorf("parseRange(%q).String() = %q", s, got)
		}
	}
	if r, _ := parseRange("0:10"); r.String() != "10" || !r.Simple() {
		t.Errorf(`"0:10" is the plain threshold 10, got %q simple=%v`, r.String(), r.Simple())
	}
	for _, s := range []string{"10:", "@10", "~:10", "5:10"} {
		if r, _ := parseRange(s); r.Simple() {
			t.Errorf("%q is not a plain threshold", s)
		}
	}
}

// FuzzParsePerfdata: any text parses without panicking, what is accepted
// is well formed, and writing it back parses to the same values.
func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"load1=0.52;1.00;2.00;0;",
		"load1=2.390;0.000;1000.000;0; load5=3.140;0.000;1000.000;0; load15=2.340;0.000;1000.000;0; ",
		"/=23069720576B;243497277849;257024904396;0;270552530944 /dev=0B;1;2;0;3",
		"procs=0;1:;;0;",
		"'free space'=12MB;@10:20;~:5 'it''s'=1c",
		"time=0.012s;1;2;0;10 rta=1.5ms pl=0% t=12us x=U",
		"a=1 b=1XB 'c d=3 =4 e=1;2;3;4;5;6",
		"neg=-5.5;-10:;~:0 comma=1,5 big=1e300TB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, _ := ParsePerfdata(s)
		for _, p := range ps {
			if p.Label == "" || !validText(p.Label) || len(p.Label) > maxPerfLabel {
				t.Fatalf("accepted label %q", p.Label)
			}
			if _, ok := unitScale[p.UOM]; !ok {
				t.Fatalf("accepted unit %q", p.UOM)
			}
		}
		if len(ps) == 0 {
			return
		}
		again, err := ParsePerfdata(FormatPerfdata(ps))
		if err != nil {
			t.Fatalf("written back as %q, which does not parse: %v", FormatPerfdata(ps), err)
		}
		if !reflect.DeepEqual(again, ps) {
			t.Fatalf("round trip of %q\n got %+v\nwant %+v", FormatPerfdata(ps), again, ps)
		}
		res := CheckResult{Status: 1, Output: "x", Perf: ps}
		if b := res.AppendJSON(nil); !json.Valid(b) {
			t.Fatalf("invalid JSON sample %s", b)
		}
	})
}
