package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hbd-project/hbd/internal/limits"
)

// scanCases are the edge cases of scanObject. want is json.Valid's verdict
// for every case that starts with '{' (the test checks that it is), and
// false for the others: a sample is an object with no leading whitespace.
var scanCases = []struct {
	name string
	data string
	want bool
	keys int // when want
}{
	{"empty object", `{}`, true, 0},
	{"one key", `{"a":1}`, true, 1},
	{"whitespace everywhere", "{ \"a\" :\t[ 1 ,\r\n2 ] , \"b\" : { } }\n\t\r ", true, 2},
	{"nested keys count", `{"a":{"b":{"c":[{"d":null},{}]}},"e":[]}`, true, 5},
	{"literals", `{"t":true,"f":false,"n":null}`, true, 3},
	{"empty key", `{"":0}`, true, 1},
	{"colon and quote in strings", `{"k:\"":"v:\\","w":":"}`, true, 2},
	{"every escape", `{"a":"\"\\\/\b\f\n\r\t\u00e9\uABCD"}`, true, 1},
	{"lone high surrogate", `{"a":"\ud800"}`, true, 1},
	{"lone low surrogate", `{"a":"\udc00x"}`, true, 1},
	{"reversed surrogates", `{"a":"\udc00\ud800"}`, true, 1},
	{"invalid UTF-8 in a value", "{\"a\":\"\xff\xfe\"}", true, 1},
	{"invalid UTF-8 in a key", "{\"\xc0\x80\":1}", true, 1},
	{"truncated UTF-8", "{\"a\":\"\xe2\x82\"}", true, 1},
	{"DEL and non-ASCII", "{\"a\":\"\x7f\u00e9\"}", true, 1},
	{"negative zero", `{"a":-0}`, true, 1},
	{"negative zero float", `{"a":-0.0e-0}`, true, 1},
	{"huge exponent", `{"a":1e400}`, true, 1},
	{"tiny exponent", `{"a":-1E-400}`, true, 1},
	{"exponent signs", `{"a":1e+2,"b":1E-2,"c":0e0}`, true, 3},
	{"long integer", `{"a":123456789012345678901234567890}`, true, 1},
	{"fraction", `{"a":0.5,"b":-12.250}`, true, 2},

	{"empty", ``, false, 0},
	{"leading space", ` {}`, false, 0},
	{"array", `[]`, false, 0},
	{"string", `"a"`, false, 0},
	{"BOM", "\ufeff{}", false, 0},
	{"unclosed", `{`, false, 0},
	{"unclosed after key", `{"a":1`, false, 0},
	{"unclosed nested", `{"a":[1`, false, 0},
	{"key without value", `{"a"}`, false, 0},
	{"key without colon", `{"a" 1}`, false, 0},
	{"missing value", `{"a":}`, false, 0},
	{"trailing comma", `{"a":1,}`, false, 0},
	{"trailing comma in array", `{"a":[1,]}`, false, 0},
	{"leading comma in array", `{"a":[,1]}`, false, 0},
	{"lone comma", `{,}`, false, 0},
	{"missing comma", `{"a":1 "b":2}`, false, 0},
	{"unquoted key", `{a:1}`, false, 0},
	{"single quotes", `{'a':1}`, false, 0},
	{"number key", `{1:1}`, false, 0},
	{"mismatched close", `{"a":[1}`, false, 0},
	{"mismatched close of object", `{"a":{]}`, false, 0},
	{"extra close", `{}}`, false, 0},
	{"two objects", `{} {}`, false, 0},
	{"trailing garbage", `{}x`, false, 0},
	{"trailing NUL", "{}\x00", false, 0},
	{"leading zero", `{"a":01}`, false, 0},
	{"negative leading zero", `{"a":-01}`, false, 0},
	{"bare minus", `{"a":-}`, false, 0},
	{"plus sign", `{"a":+1}`, false, 0},
	{"dot first", `{"a":.5}`, false, 0},
	{"dot last", `{"a":1.}`, false, 0},
	{"dot then exponent", `{"a":1.e5}`, false, 0},
	{"empty exponent", `{"a":1e}`, false, 0},
	{"signed empty exponent", `{"a":1e+}`, false, 0},
	{"hex", `{"a":0x1}`, false, 0},
	{"NaN", `{"a":NaN}`, false, 0},
	{"Infinity", `{"a":-Infinity}`, false, 0},
	{"short true", `{"a":tru}`, false, 0},
	{"long true", `{"a":truex}`, false, 0},
	{"capital null", `{"a":Null}`, false, 0},
	{"short null at end", `{"a":nul`, false, 0},
	{"control character", "{\"a\":\"\x01\"}", false, 0},
	{"raw newline", "{\"a\":\"\n\"}", false, 0},
	{"raw NUL in key", "{\"\x00\":1}", false, 0},
	{"short \\u", `{"a":"\u12"}`, false, 0},
	{"non-hex \\u", `{"a":"\u12G4"}`, false, 0},
	{"\\u at end", `{"a":"\u`, false, 0},
	{"unknown escape", `{"a":"\x"}`, false, 0},
	{"capital escape", `{"a":"\N"}`, false, 0},
	{"backslash at end", `{"a":"\`, false, 0},
	{"unterminated string", `{"a":"`, false, 0},
	{"unterminated key", `{"a`, false, 0},
}

func TestScanObject(t *testing.T) {
	for _, tc := range scanCases {
		data := []byte(tc.data)
		if strings.HasPrefix(tc.data, "{") && json.Valid(data) != tc.want {
			t.Errorf("%s: the case is wrong: json.Valid(%q) = %v", tc.name, data, !tc.want)
		}
		keys, ok := scanObject(data)
		if ok != tc.want {
			t.Errorf("%s: scanObject(%q) ok = %v, want %v", tc.name, data, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		if keys != tc.keys || keys != limits.CountKeys(data) {
			t.Errorf("%s: scanObject(%q) = %d keys, want %d (CountKeys: %d)", tc.name, data, keys, tc.keys, limits.CountKeys(data))
		}
	}
}

// TestScanObjectDepth: json.Valid accepts maxDepth nested arrays and
// objects (the outer object included) and refuses one more; so must the
// scan, whichever brackets are nested and whatever the deepest value is.
func TestScanObjectDepth(t *testing.T) {
	// mixed nests depth containers, objects at odd depths and arrays at
	// even ones, around inner.
	mixed := func(depth int, inner string) []byte {
		var b bytes.Buffer
		for d := 1; d <= depth; d++ {
			if d > 1 && d%2 == 0 {
				b.WriteString(`"k":`) // the parent is an object
			}
			b.WriteString(map[bool]string{true: "{", false: "["}[d%2 == 1])
		}
		if depth%2 == 1 {
			b.WriteString(`"v":`)
		}
		b.WriteString(inner)
		for d := depth; d >= 1; d-- {
			b.WriteString(map[bool]string{true: "}", false: "]"}[d%2 == 1])
		}
		return b.Bytes()
	}
	arrays := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"mixed, a number at the bound", mixed(maxDepth, `1`), true},
		{"mixed, an empty object at the bound", mixed(maxDepth-1, `{}`), true},
		{"mixed, an empty array at the bound", mixed(maxDepth-1, `[]`), true},
		{"mixed, an empty object past the bound", mixed(maxDepth, `{}`), false},
		{"mixed, an empty array past the bound", mixed(maxDepth, `[]`), false},
		{"mixed, past the bound", mixed(maxDepth+1, `1`), false},
		{"mixed, 64 deep: the shallow stack", mixed(64, `1`), true},
		{"mixed, 65 deep: the deep stack", mixed(65, `{}`), true},
		{"mixed, 65 deep and broken", mixed(65, `{]`), false},
		{"arrays at the bound", arrays(maxDepth - 1), true},
		{"arrays past the bound", arrays(maxDepth), false},
		{"far past the bound, unclosed", []byte(`{"a":` + strings.Repeat("[", 3*maxDepth)), false},
	} {
		if json.Valid(tc.data) != tc.want {
			t.Errorf("%s: the case is wrong: json.Valid = %v", tc.name, !tc.want)
		}
		keys, ok := scanObject(tc.data)
		if ok != tc.want {
			t.Errorf("%s: scanObject ok = %v, want %v", tc.name, ok, tc.want)
		}
		if ok && keys != limits.CountKeys(tc.data) {
			t.Errorf("%s: %d keys, CountKeys %d", tc.name, keys, limits.CountKeys(tc.data))
		}
	}
}

// TestScanStringEveryOffset puts each kind of byte a string may end a
// plain run with at every offset of the eight-byte steps scanString takes,
// with json.Valid as the judge.
func TestScanStringEveryOffset(t *testing.T) {
	for n := range 20 {
		for _, b := range []string{`\"`, `\\`, `\u00e9`, `\x`, `"`, "\x00", "\x01", "\x1f", " ", "\x7f", "\x80", "\xff", "!", "#", "[", "]"} {
			data := []byte(`{"k":"` + strings.Repeat("x", n) + b + `abcdefghij"}`)
			keys, ok := scanObject(data)
			if want := json.Valid(data); ok != want || ok && keys != 1 {
				t.Errorf("scanObject(%q) = %d, %v; json.Valid says %v", data, keys, ok, want)
			}
		}
	}
}

// testSamples returns testdata/samples.txt: the agent's four plugins, as
// hbd-bench and as the real agent send them.
func testSamples(tb testing.TB) []struct{ plugin, data string } {
	tb.Helper()
	f, err := os.Open("testdata/samples.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []struct{ plugin, data string }
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		plugin, data, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			tb.Fatalf("testdata/samples.txt: bad line %q", sc.Text())
		}
		out = append(out, struct{ plugin, data string }{plugin, data})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestScanObjectSamples(t *testing.T) {
	for _, s := range testSamples(t) {
		keys, ok := scanObject([]byte(s.data))
		if !ok || keys != limits.CountKeys([]byte(s.data)) {
			t.Errorf("%s: scanObject = %d, %v; want %d, true", s.plugin, keys, ok, limits.CountKeys([]byte(s.data)))
		}
	}
}

// FuzzScanObject: on every input scanObject agrees with json.Valid (for
// input starting with '{'; it refuses all else) and, when it accepts,
// counts as many keys as limits.CountKeys.
func FuzzScanObject(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.data))
	}
	for _, s := range testSamples(f) {
		f.Add([]byte(s.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := len(data) > 0 && data[0] == '{' && json.Valid(data)
		keys, ok := scanObject(data)
		if ok != want {
			t.Fatalf("scanObject(%q) ok = %v, json.Valid says %v", data, ok, want)
		}
		if ok && keys != limits.CountKeys(data) {
			t.Fatalf("scanObject(%q) = %d keys, CountKeys %d", data, keys, limits.CountKeys(data))
		}
	})
}
