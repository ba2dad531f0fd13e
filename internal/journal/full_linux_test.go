package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullDisk stands in front of the journal's real file. While full, writes
// go to /dev/full, which fails every write with ENOSPC as a full disk
// does, after the first partial bytes went to the real file (a write that
// fills the disk halfway through). noTruncate makes Truncate fail too.
type fullDisk struct {
	*os.File
	dev        *os.File
	full       bool
	partial    int
	noTruncate bool
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if !d.full {
		return d.File.Write(p)
	}
	n := 0
	if d.partial > 0 {
		n, _ = d.File.Write(p[:min(d.partial, len(p))])
	}
	_, err := d.dev.Write(p[n:])
	return n, err
}

func (d *fullDisk) Truncate(size int64) error {
	if d.noTruncate {
		return errors.New("truncate refused by the test")
	}
	return d.File.Truncate(size)
}

func openFull(t *testing.T, w *Writer) *fullDisk {
	t.Helper()
	dev, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	d := &fullDisk{File: w.f.(*os.File), dev: dev}
	w.f = d
	return d
}

func batchOf(first, n int) []Record {
	var recs []Record
	for i := first; i < first+n; i++ {
		recs = append(recs, testRecord(i, "web1", time.Second))
	}
	return recs
}

// On a full disk every failed batch is counted as lost, nothing torn is
// left behind, and the first write after space returns records how many
// events were lost, between when and why.
func TestFullDiskLossIsRecorded(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := Config{Dir: t.TempDir(), Now: clk.Now}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(batchOf(0, 3)); err != nil {
		t.Fatal(err)
	}
	d := openFull(t, w)
	d.full = true
	firstLoss := clk.Now()
	for b := range 5 {
		d.partial = b * 40 // some batches fill the disk halfway through
		clk.t = clk.t.Add(time.Second)
		err := w.Write(batchOf(100+10*b, 10))
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Op != "write" || ioe.Lost != 10 || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("batch %d on a full disk: %v, want an IOError losing 10 records with ENOSPC", b, err)
		}
	}
	if n, first, last := w.Lost(); n != 50 || !first.Equal(firstLoss.Add(time.Second)) || !last.Equal(clk.Now()) {
		t.Errorf("Lost() = %d, %v, %v; want 50 between the first and the last failure", n, first, last)
	}
	if data, _ := os.ReadFile(w.Path()); strings.Count(string(data), "\n") != 3 || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("after the failures the file holds:\n%s\nwant the 3 first records and nothing torn", data)
	}

	d.full = false
	clk.t = clk.t.Add(time.Minute)
	if err := w.Write(batchOf(200, 2)); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := w.Lost(); n != 0 {
		t.Errorf("Lost() = %d after a good write, want 0", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("read %d records, want 3 + the loss record + 2: %v", len(got), got)
	}
	lost := got[2] // newest first: the 2 new records, then the loss record
	want := "50 events lost between 2024-03-24T12:00:01Z and 2024-03-24T12:00:05Z: no space left on device"
	if lost.Kind != KindDropped || lost.Msg != want || lost.Fields["count"] != float64(50) {
		t.Errorf("loss record %+v, want kind dropped, msg %q, count 50", lost, want)
	}
}

// When the partial batch cannot be cut off, the lines that made it stay,
// only the rest counts as lost, and the next batch starts on a new line.
func TestFullDiskWithoutTruncate(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := Config{Dir: t.TempDir(), Now: clk.Now}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	d := openFull(t, w)
	one := len(testRecord(0, "web1", time.Second).AppendJSON(nil)) + 1
	d.full, d.noTruncate, d.partial = true, true, one+one/2 // one line and a half
	var ioe *IOError
	if err := w.Write(batchOf(0, 4)); !errors.As(err, &ioe) || ioe.Lost != 3 {
		t.Fatalf("Write = %v, want 3 of 4 records lost", err)
	}
	d.full = false
	if err := w.Write(batchOf(10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(c, Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Kind != KindDropped || !strings.HasPrefix(got[1].Msg, "3 events lost") {
		t.Fatalf("read %+v, want the record that made it, the loss record, the new one", got)
	}
}

// A loss not yet recorded when the journal closes is recorded by Close if
// the disk has room again.
func TestCloseRecordsPendingLoss(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := Config{Dir: t.TempDir(), Now: clk.Now}
	w, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	d := openFull(t, w)
	d.full = true
	if err := w.Write(batchOf(0, 7)); err == nil {
		t.Fatal("Write on a full disk succeeded")
	}
	d.full = false
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(c, Query{Limit: 10})
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0].Msg, "7 events lost") {
		t.Fatalf("read %+v, %v; want the loss record", got, err)
	}
}

// A file that is nothing but a torn line is emptied by Open.
func TestRepairWholeFileTorn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultFile)
	if err := os.WriteFile(path, []byte(`{"time":1711281618.000,"host":"we`), 0o640); err != nil {
		t.Fatal(err)
	}
	w, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Repaired() != 33 {
		t.Errorf("Repaired() = %d, want 33", w.Repaired())
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Errorf("size %d after repair, want 0", st.Size())
	}
}
