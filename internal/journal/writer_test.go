package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeRecords writes records first..last-1 of testRecord, batch at a time.
func writeRecords(t testing.TB, w *Writer, first, last, batch int, host func(i int) string) []Record {
	t.Helper()
	var all []Record
	for i := first; i < last; i += batch {
		var recs []Record
		for j := i; j < min(i+batch, last); j++ {
			recs = append(recs, testRecord(j, host(j), time.Second))
		}
		if err := w.Write(recs); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

func oneHost(int) string { return "web1" }

// newestFirst returns the decoded form of recs, newest first.
func newestFirst(t testing.TB, recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = decoded(t, r)
	}
	return out
}

func TestRoundTripQueries(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := Config{Dir: filepath.Join(t.TempDir(), "journal"), Now: clk.Now}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"a", "b", "c"}
	all := writeRecords(t, w, 0, 100, 7, func(i int) string { return hosts[i%3] })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rev := newestFirst(t, all)
	filter := func(keep func(Record) bool, limit int) []Record {
		var out []Record
		for _, r := range rev {
			if keep(r) && len(out) < limit {
				out = append(out, r)
			}
		}
		return out
	}
	all100 := func(Record) bool { return true }
	since := t0.Add(90 * time.Second)

	tests := []struct {
		name string
		q    Query
		want []Record
	}{
		{"limit", Query{Limit: 5}, rev[:5]},
		{"limit beyond journal", Query{Limit: 1000}, rev},
		{"host", Query{Limit: 1000, Host: "b"}, filter(func(r Record) bool { return r.Host == "b" }, 1000)},
		{"host with limit", Query{Limit: 4, Host: "c"}, filter(func(r Record) bool { return r.Host == "c" }, 4)},
		{"unknown host", Query{Limit: 10, Host: "zz"}, nil},
		{"host prefix is not a match", Query{Limit: 10, Host: "b\""}, nil},
		{"since is inclusive", Query{Limit: 1000, Since: since}, filter(func(r Record) bool { return !r.Time.Before(since) }, 1000)},
		{"since and host", Query{Limit: 1000, Since: since, Host: "a"},
			filter(func(r Record) bool { return !r.Time.Before(since) && r.Host == "a" }, 1000)},
		{"since in the future", Query{Limit: 10, Since: t0.Add(time.Hour)}, nil},
		{"since before everything", Query{Limit: 1000, Since: t0.Add(-time.Hour)}, filter(all100, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(c, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, tt.want)
		})
	}

	tail, err := Tail(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Record, 10)
	for i := range want {
		want[i] = decoded(t, all[90+i])
	}
	checkRecords(t, tail, want)
	if got, err := Tail(c, 0); err != nil || got != nil {
		t.Errorf("Tail(0) = %v, %v; want nothing", got, err)
	}
	if _, err := Read(c, Query{}); err == nil {
		t.Error("Read with limit 0 succeeded")
	}
}

func TestReadMissingJournal(t *testing.T) {
	got, err := Read(Config{Dir: filepath.Join(t.TempDir(), "nope")}, Query{Limit: 10})
	if err != nil || len(got) != 0 {
		t.Errorf("Read of a missing journal = %v, %v; want nothing", got, err)
	}
}

// lineCount counts the lines of a file, failing on any that does not parse.
func lineCount(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return 0
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	lines := bytes.Split(data[:len(data)-1], []byte("\n"))
	for _, l := range lines {
		var r Record
		if err := r.UnmarshalJSON(l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return len(lines)
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	c := Config{Dir: dir, MaxSize: 1024, MaxBackups: 3}
	// Leftovers from a run with more backups go at the first rotation;
	// files that merely look similar stay.
	for _, name := range []string{DefaultFile + ".4", DefaultFile + ".9", DefaultFile + ".07", DefaultFile + ".x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	all := writeRecords(t, w, 0, 200, 1, oneHost)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Each file stays within MaxSize, and the files hold consecutive
	// runs of records, newest in File.
	paths := []string{filepath.Join(dir, DefaultFile)}
	for i := 1; i <= 3; i++ {
		paths = append(paths, filepath.Join(dir, DefaultFile+"."+string(rune('0'+i))))
	}
	total := 0
	next := 200
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1024 {
			t.Errorf("%s is %d bytes, over MaxSize", p, st.Size())
		}
		n := lineCount(t, p)
		total += n
		recs, err := read(Config{Dir: dir, File: filepath.Base(p), MaxBackups: -1}, Query{Limit: 1000}, readOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n || index(t, recs[0]) != next-1 {
			t.Fatalf("%s: %d records starting at %d, want %d starting at %d", p, len(recs), index(t, recs[0]), n, next-1)
		}
		next -= n
	}
	for _, name := range []string{DefaultFile + ".4", DefaultFile + ".5", DefaultFile + ".9"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s should have been deleted: %v", name, err)
		}
	}
	for _, name := range []string{DefaultFile + ".07", DefaultFile + ".x"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s should have been left alone: %v", name, err)
		}
	}

	// Read spans the files in order: the newest `total` records.
	got, err := Read(c, Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, all[200-total:]))
}

func TestBatchLargerThanMaxSizeStaysWhole(t *testing.T) {
	dir := t.TempDir()
	c := Config{Dir: dir, MaxSize: 1024, MaxBackups: 2}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	small := writeRecords(t, w, 0, 2, 2, oneHost)
	big := writeRecords(t, w, 2, 52, 50, oneHost) // some 6 KiB
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lineCount(t, w.Path()); n != 50 {
		t.Errorf("current file has %d lines, want the whole batch of 50", n)
	}
	if n := lineCount(t, w.Path()+".1"); n != 2 {
		t.Errorf("backup has %d lines, want the 2 written before the batch", n)
	}
	got, err := Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, append(small, big...)))
}

func TestRotationWithoutBackups(t *testing.T) {
	dir := t.TempDir()
	c := Config{Dir: dir, MaxSize: 1024, MaxBackups: -1}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	all := writeRecords(t, w, 0, 50, 1, oneHost)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("dir holds %d files, want only the journal", len(entries))
	}
	n := lineCount(t, w.Path())
	if n == 0 || n == 50 {
		t.Fatalf("file has %d lines: it did not start over", n)
	}
	got, err := Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, all[50-n:]))
}

func TestRestartAndTornLine(t *testing.T) {
	dir := t.TempDir()
	c := Config{Dir: dir}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	first := writeRecords(t, w, 0, 10, 3, oneHost)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(first[:1]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}

	w, err = Open(c)
	if err != nil {
		t.Fatal(err)
	}
	second := writeRecords(t, w, 10, 20, 4, oneHost)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, append(first, second...)))

	// A crash in the middle of a write leaves half a line.
	line := testRecord(99, "web1", time.Second).AppendJSON(nil)
	torn := line[:len(line)/2]
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err = Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, append(first, second...)))

	// Open repairs the file: the torn line is cut off and counted.
	w, err = Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Repaired(); got != int64(len(torn)) {
		t.Errorf("Repaired() = %d, want the torn line's %d bytes", got, len(torn))
	}
	third := writeRecords(t, w, 20, 25, 5, oneHost)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 25 || strings.Contains(string(data), string(torn)+"\n") {
		t.Fatalf("want 20 records and 5 records, without the torn line; got %d lines:\n%s", len(lines), data)
	}
	got, err = Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, append(append(first, second...), third...)))
}

func TestFsyncPolicy(t *testing.T) {
	type step struct {
		advance time.Duration
		op      string // "write", "sync" or "close"
		syncs   int    // fsyncs so far, after the op
	}
	tests := []struct {
		name  string
		fsync time.Duration
		steps []step
	}{
		{"default interval", 0, []step{
			{0, "write", 1}, // the first batch syncs at once
			{500 * time.Millisecond, "write", 1},
			{499 * time.Millisecond, "write", 1},
			{time.Millisecond, "write", 2}, // one second since the last fsync
			{10 * time.Millisecond, "write", 2},
			{0, "sync", 3}, // explicit Sync ignores the interval...
			{0, "sync", 3}, // ...but has nothing to do when clean
			{10 * time.Millisecond, "write", 3},
			{-time.Hour, "write", 4}, // the clock stepped back
			{time.Millisecond, "write", 4},
			{0, "close", 5},
		}},
		{"every batch", SyncEveryBatch, []step{
			{0, "write", 1},
			{0, "write", 2},
			{0, "write", 3},
			{0, "close", 3},
		}},
		{"long interval", time.Minute, []step{
			{0, "write", 1},
			{59 * time.Second, "write", 1},
			{time.Second, "write", 2},
			{0, "close", 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			w, err := Open(Config{Dir: t.TempDir(), Fsync: tt.fsync, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				switch s.op {
				case "write":
					err = w.Write([]Record{testRecord(i, "h", time.Second)})
				case "sync":
					err = w.Sync()
				case "close":
					err = w.Close()
				}
				if err != nil {
					t.Fatal(err)
				}
				if w.syncs != s.syncs {
					t.Fatalf("step %d (%s): %d fsyncs, want %d", i, s.op, w.syncs, s.syncs)
				}
			}
		})
	}
}

func TestWriteStampsZeroTime(t *testing.T) {
	clk := &fakeClock{t: t0.Add(1500 * time.Millisecond)}
	c := Config{Dir: t.TempDir(), Now: clk.Now}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{{Kind: KindSystem, Msg: "no time"}}
	if err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if !recs[0].Time.IsZero() {
		t.Error("Write changed the caller's record")
	}
	got, err := Read(c, Query{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []Record{{Time: clk.t, Kind: KindSystem, Msg: "no time"}})
}

func TestOversizedRecordRefused(t *testing.T) {
	c := Config{Dir: t.TempDir()}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ok1, ok2 := testRecord(1, "h", time.Second), testRecord(2, "h", time.Second)
	huge := Record{Time: t0, Kind: KindSystem, Msg: strings.Repeat("x", maxLineBytes)}
	err = w.Write([]Record{ok1, huge, ok2})
	if err == nil || !strings.Contains(err.Error(), "refused 1 record") {
		t.Fatalf("Write = %v, want a refused record", err)
	}
	got, err := Read(c, Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, newestFirst(t, []Record{ok1, ok2}))
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		c    Config
		want []string
	}{
		{Config{}, []string{"dir is empty"}},
		{Config{Dir: "d", File: "a/b"}, []string{`"a/b" must be a plain file name`}},
		{Config{Dir: "d", File: ".."}, []string{"plain file name"}},
		{Config{File: "x/", MaxSize: -1}, []string{"dir is empty", "plain file name", "max size -1 bytes is negative"}},
	}
	for _, tt := range tests {
		_, err := Open(tt.c)
		if err == nil {
			t.Errorf("Open(%+v) succeeded", tt.c)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%+v) = %q, want it to mention %q", tt.c, err, w)
			}
		}
		if _, err := Read(tt.c, Query{Limit: 1}); err == nil {
			t.Errorf("Read(%+v) succeeded", tt.c)
		}
	}
}

func TestOpenModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	w, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Path() != filepath.Join(dir, DefaultFile) {
		t.Errorf("Path() = %s", w.Path())
	}
	for path, want := range map[string]os.FileMode{dir: 0o750, w.Path(): 0o640} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only take permissions away.
		if got := st.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", path, got, want)
		}
	}
}
