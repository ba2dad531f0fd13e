package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// forwardLines is the obvious reference for backScanner: split, drop empty
// and overlong lines, reverse.
func forwardLines(data []byte, maxLine int) []string {
	var out []string
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) > 0 && len(l) <= maxLine {
			out = append(out, string(l))
		}
	}
	slices.Reverse(out)
	return out
}

func scanAll(t testing.TB, data []byte, chunk, maxLine int) ([]string, readStats) {
	t.Helper()
	var st readStats
	var s backScanner
	s.reset(bytes.NewReader(data), int64(len(data)), readOptions{chunk: chunk, maxLine: maxLine, stats: &st})
	var out []string
	for {
		line, ok, err := s.prev()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out, st
		}
		out = append(out, string(line))
	}
}

func TestBackScanner(t *testing.T) {
	inputs := []string{
		"",
		"\n",
		"\n\n\n",
		"one",
		"one\n",
		"one\ntwo",
		"one\ntwo\n",
		"\none\n\ntwo\n\n",
		"short\n" + strings.Repeat("L", 40) + "\nshort2\n",
		strings.Repeat("L", 40),
		strings.Repeat("L", 40) + "\nend",
		"a\n" + strings.Repeat("L", 21) + "\n" + strings.Repeat("M", 20) + "\nb",
	}
	for _, in := range inputs {
		for _, chunk := range []int{1, 2, 3, 7, 16, 64, 4096} {
			for _, maxLine := range []int{20, 1 << 20} {
				got, st := scanAll(t, []byte(in), chunk, maxLine)
				if want := forwardLines([]byte(in), maxLine); !slices.Equal(got, want) {
					t.Errorf("%q, chunk %d, maxLine %d: got %q, want %q", in, chunk, maxLine, got, want)
				}
				if st.bytesRead != int64(len(in)) {
					t.Errorf("%q, chunk %d: read %d bytes, want each byte once (%d)", in, chunk, st.bytesRead, len(in))
				}
			}
		}
	}
}

// TestBackScannerBoundedMemory checks that an overlong line is dropped as
// it is read rather than buffered whole.
func TestBackScannerBoundedMemory(t *testing.T) {
	data := []byte("first\n" + strings.Repeat("x", 1<<20) + "\nlast\n")
	var st readStats
	var s backScanner
	s.reset(bytes.NewReader(data), int64(len(data)), readOptions{chunk: 1024, maxLine: 4096, stats: &st})
	var got []string
	for {
		line, ok, err := s.prev()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(line))
		if cap(s.buf) > 4*(4096+1024) {
			t.Fatalf("buffer grew to %d bytes", cap(s.buf))
		}
	}
	if !slices.Equal(got, []string{"last", "first"}) {
		t.Errorf("got %q", got)
	}
}

// writeBig writes n records, one every 10 ms, with every 1000th from host
// "rare", and returns the config and file size.
func writeBig(t testing.TB, n int) (Config, int64) {
	t.Helper()
	c := Config{Dir: t.TempDir(), MaxSize: 1 << 40, Fsync: time.Hour}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]Record, 0, 1000)
	for i := 0; i < n; i++ {
		host := "web" + string(rune('a'+i%20))
		if i%1000 == 0 {
			host = "rare"
		}
		batch = append(batch, testRecord(i, host, 10*time.Millisecond))
		if len(batch) == cap(batch) || i == n-1 {
			if err := w.Write(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	return c, st.Size()
}

func TestReadLargeFileReadsOnlyTheEnd(t *testing.T) {
	const n = 200_000
	c, size := writeBig(t, n)

	checkIndices := func(t *testing.T, recs []Record, want []int) {
		t.Helper()
		got := make([]int, len(recs))
		for i, r := range recs {
			got[i] = index(t, r)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got records %v..., want %v...", got[:min(5, len(got))], want[:min(5, len(want))])
		}
	}
	countdown := func(from, n, step int) []int {
		var out []int
		for i := 0; i < n; i++ {
			out = append(out, from-i*step)
		}
		return out
	}

	t.Run("last 30", func(t *testing.T) {
		var st readStats
		recs, err := read(c, Query{Limit: 30}, readOptions{stats: &st})
		if err != nil {
			t.Fatal(err)
		}
		checkIndices(t, recs, countdown(n-1, 30, 1))
		if st.bytesRead > readChunkBytes {
			t.Errorf("read %d bytes of a %d-byte file for 30 records", st.bytesRead, size)
		}
		if st.decoded != 30 {
			t.Errorf("decoded %d lines for 30 records", st.decoded)
		}
	})

	t.Run("rare host is found without decoding the others", func(t *testing.T) {
		var st readStats
		recs, err := read(c, Query{Limit: 5, Host: "rare"}, readOptions{stats: &st})
		if err != nil {
			t.Fatal(err)
		}
		checkIndices(t, recs, countdown(199_000, 5, 1000))
		if st.decoded != 5 {
			t.Errorf("decoded %d lines to find 5 records", st.decoded)
		}
	})

	t.Run("since stops soon after the bound", func(t *testing.T) {
		var st readStats
		since := t0.Add(199_000 * 10 * time.Millisecond)
		recs, err := read(c, Query{Limit: 10_000, Since: since}, readOptions{stats: &st})
		if err != nil {
			t.Fatal(err)
		}
		checkIndices(t, recs, countdown(n-1, 1000, 1))
		// Read goes sinceSlack (5 min = 30,000 records) past the bound
		// and stops, instead of reading all 200,000.
		if st.bytesRead > size/4 {
			t.Errorf("read %d bytes of a %d-byte file", st.bytesRead, size)
		}
	})
}

// TestHostFilterDecodesEscapedLines checks that the byte-search shortcut
// does not hide a record whose host another tool spelled with escapes.
func TestHostFilterDecodesEscapedLines(t *testing.T) {
	dir := t.TempDir()
	lines := `{"time":1.000,"host":"w\u0065b1","kind":"state","msg":"escaped"}` + "\n" +
		`{"time":2.000,"host":"web2","kind":"state","msg":"other"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte(lines), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := Read(Config{Dir: dir}, Query{Limit: 10, Host: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{{Time: time.Unix(1, 0), Host: "web1", Kind: KindState, Msg: "escaped"}})
}

// FuzzReadLine feeds arbitrary bytes as a journal file: Read must not
// panic, and must return exactly the lines that decode on their own,
// newest first, whatever the chunk size.
func FuzzReadLine(f *testing.F) {
	good := string(testRecord(1, "web1", time.Second).AppendJSON(nil))
	f.Add([]byte(good+"\n"+good[:30]), uint8(7), uint8(200))
	f.Add([]byte("\n\n"+good+"\n\n"+good+"\n"), uint8(1), uint8(255))
	f.Add([]byte(`{"time":1e3}`+"\n"+`{"time":"1.5","host":"web1"}`+"\n[1]\nnull\n{}"), uint8(3), uint8(40))
	f.Add([]byte(`{"time":-5.5,"host":"\u0077eb1","fields":{"a":[1,{"b":null}]}}`), uint8(64), uint8(0))
	f.Add([]byte{0xff, '\n', 0x00, '{', '"'}, uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk, maxLine uint8) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DefaultFile), data, 0o640); err != nil {
			t.Fatal(err)
		}
		c := Config{Dir: dir}
		o := readOptions{chunk: 1 + int(chunk%32), maxLine: 1 + int(maxLine)*4}

		var want []Record
		for _, l := range forwardLines(data, o.maxLine) {
			var r Record
			if r.UnmarshalJSON([]byte(l)) == nil {
				want = append(want, r)
			}
		}
		got, err := read(c, Query{Limit: 1 << 20}, o)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, got, want)

		// Filters may take shortcuts; they must still not panic, and
		// must return only records that match.
		since := time.Unix(0, 0)
		got, err = read(c, Query{Limit: 3, Host: "web1", Since: since}, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.Host != "web1" || r.Time.Before(since) {
				t.Fatalf("record %+v does not match the query", r)
			}
		}
	})
}

// TestCorruptLineDoesNotEndSinceQuery checks that only a record that
// decodes can end a Since query early.
func TestCorruptLineDoesNotEndSinceQuery(t *testing.T) {
	dir := t.TempDir()
	lines := `{"time":1711234000.000,"host":"a","kind":"state","msg":"old but valid"}` + "\n" +
		`{"time":1.000,"host":"a",garbage` + "\n" +
		`{"time":1711234567.000,"host":"a","kind":"state","msg":"new"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte(lines), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := Read(Config{Dir: dir}, Query{Limit: 10, Since: time.Unix(1711233000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{
		{Time: time.Unix(1711234567, 0), Host: "a", Kind: KindState, Msg: "new"},
		{Time: time.Unix(1711234000, 0), Host: "a", Kind: KindState, Msg: "old but valid"},
	})
}

// TestReadWhileWriting reads while another goroutine writes and rotates:
// every Read must return records strictly newest first, none repeated and
// none torn, whatever rotation it runs into.
func TestReadWhileWriting(t *testing.T) {
	c := Config{Dir: t.TempDir(), MaxSize: 4096, MaxBackups: 3}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 3000 && err == nil; i += 10 {
			batch := make([]Record, 10)
			for j := range batch {
				batch[j] = testRecord(i+j, "web1", time.Second)
			}
			err = w.Write(batch)
		}
		done <- errors.Join(err, w.Close())
	}()
	reads := 0
	for finished := false; !finished; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		recs, err := Read(c, Query{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(recs); i++ {
			if prev, cur := index(t, recs[i-1]), index(t, recs[i]); cur >= prev {
				t.Fatalf("read %d: record %d follows %d", reads, cur, prev)
			}
		}
	}
	recs, err := Read(c, Query{Limit: 1})
	if err != nil || len(recs) != 1 || index(t, recs[0]) != 2999 {
		t.Fatalf("after writing, newest = %v, %v", recs, err)
	}
}
