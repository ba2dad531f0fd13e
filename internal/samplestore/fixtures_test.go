package samplestore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strconv"
	"testing"
)

// fixture is one stored sample of a testdata file.
type fixture struct {
	ring     string // host and plugin
	unixNano int64
	data     []byte
}

// loadFixtures reads a testdata file of lines "[host ]plugin unixNano
// json" (gzipped if its name ends in .gz).
//
// bench_mix.txt.gz is what hbd-bench sends: 100 samples of each of its
// four plugins from two simulated hosts (the bench package's random walk,
// 30 s apart with its default ±5 % jitter). agent_linux.txt holds samples
// of the real agent's collectors on a Linux VM, taken 250 ms apart.
func loadFixtures(tb testing.TB, name string) []fixture {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rd io.Reader = f
	if name[len(name)-3:] == ".gz" {
		zr, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		rd = zr
	}
	var out []fixture
	sc := bufio.NewScanner(rd)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := bytes.SplitN(sc.Bytes(), []byte(" "), 4)
		if len(fields) == 3 {
			fields = append([][]byte{nil}, fields...)
		}
		if len(fields) != 4 {
			tb.Fatalf("%s: bad line %q", name, sc.Bytes())
		}
		ts, err := strconv.ParseInt(string(fields[2]), 10, 64)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out = append(out, fixture{
			ring:     string(fields[0]) + " " + string(fields[1]),
			unixNano: ts,
			data:     bytes.Clone(fields[3]),
		})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no samples", name)
	}
	return out
}

// byRing groups fixtures by ring, in file order.
func byRing(fs []fixture) (names []string, rings map[string][]fixture) {
	rings = make(map[string][]fixture)
	for _, f := range fs {
		if _, ok := rings[f.ring]; !ok {
			names = append(names, f.ring)
		}
		rings[f.ring] = append(rings[f.ring], f)
	}
	return names, rings
}
