package samplestore

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// goldenRings stores each ring's samples of fixtures in a ring of the
// daemon's default history (100) and in one of 7 that wraps many times,
// and checks every sample comes back byte for byte.
func goldenRings(t *testing.T, fs []fixture) {
	t.Helper()
	names, rings := byRing(fs)
	for _, name := range names {
		for _, limit := range []int{100, 7} {
			r := New(limit)
			m := &model{limit: limit}
			for _, f := range rings[name] {
				if !r.Insert(f.unixNano, f.data) || !m.insert(f.unixNano, f.data) {
					t.Fatalf("%s: sample %d not stored", name, f.unixNano)
				}
				if limit == 7 {
					checkRing(t, r, m)
				}
			}
			checkRing(t, r, m)
		}
	}
}

func TestGoldenBenchMix(t *testing.T) {
	goldenRings(t, loadFixtures(t, "bench_mix.txt.gz"))
}

func TestGoldenAgentLinux(t *testing.T) {
	fs := loadFixtures(t, "agent_linux.txt")
	for _, p := range []string{"cpu_monitor", "memory_monitor", "disk_monitor", "network_monitor"} {
		if !slicesContainsFunc(fs, func(f fixture) bool { return strings.HasSuffix(f.ring, " "+p) }) {
			t.Fatalf("agent_linux.txt has no %s samples", p)
		}
	}
	goldenRings(t, fs)
}

func slicesContainsFunc(fs []fixture, ok func(fixture) bool) bool {
	for _, f := range fs {
		if ok(f) {
			return true
		}
	}
	return false
}

// TestGoldenExec stores what exec plugins may send: any JSON object. Each
// case is a sequence of samples stored in one ring, in order.
func TestGoldenExec(t *testing.T) {
	cases := []struct {
		name    string
		samples []string
	}{
		{"strings with escapes and unicode", []string{
			`{"status":"ok","msg":"caf\u00e9 \"quoted\" \\ tab\t\/","raw":"café 😀","empty":""}`,
			`{"status":"warning","msg":"caf\u00e9 \"quoted\" \\ tab\t\/","raw":"café 😀","empty":""}`,
			`{"status":"ok","msg":"\ud83d\ude00","raw":"\u0000\u001f","empty":""}`,
		}},
		{"nested objects and arrays", []string{
			`{"a":{"b":{"c":[1,2,3,{"d":[]}]}},"e":[],"f":[[1.5,-2],[3]]}`,
			`{"a":{"b":{"c":[1,2,4,{"d":[]}]}},"e":[],"f":[[1.25,-2],[3]]}`,
			`{"a":{"b":{"c":[1,2,4,{"d":[0]}]}},"e":[{}],"f":[[1.25,-2],[3],[]]}`,
		}},
		{"integers beyond 2^53", []string{
			`{"n":9007199254740993,"max":9223372036854775807,"min":-9223372036854775808,"u":18446744073709551615}`,
			`{"n":9007199254740995,"max":9223372036854775807,"min":-9223372036854775807,"u":18446744073709551614}`,
			`{"n":9223372036854775808,"max":99999999999999999999999999,"min":0,"u":1}`,
		}},
		{"negative zero and zeros", []string{
			`{"a":-0,"b":0,"c":-0.0,"d":0.0,"e":-0e0}`,
			`{"a":0,"b":-0,"c":0.0,"d":-0.0,"e":0e0}`,
			`{"a":-0.5,"b":0.5,"c":-0.05,"d":0.000001,"e":-0.000001}`,
		}},
		{"exponents large and small", []string{
			`{"a":1e21,"b":1e+21,"c":1.5e-7,"d":1e-7,"e":5e-324,"f":1.7976931348623157e+308,"g":1E400,"h":1e-400}`,
			`{"a":1.2e21,"b":1e+22,"c":1.5e-07,"d":2e-7,"e":1e-323,"f":1.7976931348623157e+308,"g":1E400,"h":1e-400}`,
			`{"a":123456789012345680000,"b":1e20,"c":0.0000015,"d":100000000000000000000,"e":1e0,"f":10E-1,"g":1.0e1,"h":0.1e1}`,
		}},
		{"numbers not in canonical form", []string{
			`{"a":1.0,"b":1.50,"c":007,"d":1.,"e":.5,"f":+1,"g":0x10,"h":1_000}`,
			`{"a":2.0,"b":1.5,"c":7,"d":1,"e":0.5,"f":1,"g":16,"h":1000}`,
		}},
		{"many decimals", []string{
			`{"a":0.123456789012345678,"b":0.1234567890123456789,"c":123456789.123456789,"d":3.141592653589793}`,
			`{"a":0.12345678901234568,"b":1,"c":-123456789.123456789,"d":2.718281828459045}`,
		}},
		{"whitespace", []string{
			"{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}",
			"{\n  \"a\": 2,\n  \"b\": [\n    1,\n    3\n  ]\n}",
			`{ "a" : 3 , "b" : [ 1 , 4 ] }`,
			"{\t\"a\"\r\n:4,\"b\":[1,5]}   ",
		}},
		{"key order changes", []string{
			`{"a":1,"b":2,"c":3}`,
			`{"b":2,"a":1,"c":3}`,
			`{"c":3,"b":2,"a":1}`,
			`{"a":1,"b":2,"c":3}`,
		}},
		{"kinds change under a key", []string{
			`{"v":1,"s":"x","b":true}`,
			`{"v":"one","s":2,"b":null}`,
			`{"v":1.5,"s":"x","b":false}`,
			`{"v":[1],"s":{"x":1},"b":false}`,
			`{"v":1e5,"s":"x","b":1}`,
		}},
		{"duplicate keys and empty objects", []string{
			`{}`,
			`{"a":1,"a":2}`,
			`{"a":{},"b":[]}`,
			`{}`,
		}},
		{"scalars, not objects, and not JSON", []string{
			`"just a string"`,
			`42`,
			`[1,2,3]`,
			`{"unterminated":"string`,
			`{"a":1,`,
			"\x00\x01\xff",
			``,
			`{"a":1}`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{100, 2} {
				r := New(limit)
				m := &model{limit: limit}
				for i, s := range tc.samples {
					ts := int64(1_767_225_600_000_000_000) + int64(i)*10_000_000_000
					if !r.Insert(ts, []byte(s)) || !m.insert(ts, []byte(s)) {
						t.Fatalf("sample %d not stored", i)
					}
					checkRing(t, r, m)
				}
			}
		})
	}
}

// TestGoldenGoFloats stores every kind of float64 as encoding/json writes
// it: all must come back exactly, and those in plain decimal form must be
// coded as numbers (not kept as text).
func TestGoldenGoFloats(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var values []float64
	for range 2000 {
		switch rng.IntN(5) {
		case 0:
			values = append(values, math.Float64frombits(rng.Uint64()))
		case 1:
			values = append(values, math.Round(rng.NormFloat64()*1e4)/100)
		case 2:
			values = append(values, rng.Float64()*math.Pow10(rng.IntN(50)-25))
		case 3:
			values = append(values, float64(rng.Int64()))
		default:
			values = append(values, float64(rng.Uint32()))
		}
	}
	values = append(values, 0, 1e-6, 1e-7, 1e20, 1e21, 9.999999999999999e20, math.MaxFloat64, math.SmallestNonzeroFloat64, -1e-6)
	r := New(50)
	m := &model{limit: 50}
	plain := 0
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		data, err := json.Marshal(map[string]float64{"cpu_percent": v, "other": -v})
		if err != nil {
			t.Fatal(err)
		}
		text := strconv.FormatFloat(v, 'f', -1, 64)
		if _, _, ok := parseDecimal([]byte(text)); ok && bytes.Contains(data, []byte(text)) {
			plain++
		}
		ts := int64(i + 1)
		r.Insert(ts, data)
		m.insert(ts, data)
		if i%97 == 0 {
			checkRing(t, r, m)
		}
	}
	checkRing(t, r, m)
	if plain < len(values)/2 {
		t.Fatalf("only %d of %d floats in plain decimal form", plain, len(values))
	}
}

// TestNumbersCodedAsNumbers checks what is coded compactly: canonical
// decimals as numbers, the rest as their bytes.
func TestNumbersCodedAsNumbers(t *testing.T) {
	for _, tc := range []struct {
		text  string
		m     int64
		scale int
		ok    bool
	}{
		{"0", 0, 0, true},
		{"7", 7, 0, true},
		{"-7", -7, 0, true},
		{"45.2", 452, 1, true},
		{"-0.05", -5, 2, true},
		{"0.000001", 1, 6, true},
		{"9223372036854775807", math.MaxInt64, 0, true},
		{"-9223372036854775807", -math.MaxInt64, 0, true},
		{"0.123456789012345678", 123456789012345678, 18, true},
		{"-9223372036854775808", 0, 0, false}, // |m| beyond MaxInt64
		{"9223372036854775808", 0, 0, false},
		{"0.1234567890123456789", 0, 0, false}, // 19 decimals
		{"-0", 0, 0, false},
		{"-0.0", 0, 0, false},
		{"0.0", 0, 0, false},
		{"1.0", 0, 0, false},
		{"1.50", 0, 0, false},
		{"01", 0, 0, false},
		{"1.", 0, 0, false},
		{".5", 0, 0, false},
		{"1e5", 0, 0, false},
		{"1E5", 0, 0, false},
		{"+1", 0, 0, false},
		{"-", 0, 0, false},
		{"", 0, 0, false},
		{"1.2.3", 0, 0, false},
		{"1-2", 0, 0, false},
	} {
		m, scale, ok := parseDecimal([]byte(tc.text))
		if ok != tc.ok || ok && (m != tc.m || scale != tc.scale) {
			t.Errorf("parseDecimal(%q) = %d, %d, %v; want %d, %d, %v", tc.text, m, scale, ok, tc.m, tc.scale, tc.ok)
		}
		if ok {
			if got := appendDecimal(nil, m, scale); string(got) != tc.text {
				t.Errorf("appendDecimal(%d, %d) = %q, want %q", m, scale, got, tc.text)
			}
			// At a larger scale it is written the same.
			for up := 1; scale+up <= maxScale; up++ {
				if v, ok := rescale(m, up); ok {
					if got := appendDecimal(nil, v, scale+up); string(got) != tc.text {
						t.Errorf("appendDecimal(%d, %d) = %q, want %q", v, scale+up, got, tc.text)
					}
				}
			}
		}
	}
}
