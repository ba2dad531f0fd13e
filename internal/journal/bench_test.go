package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchBatch is 100 records shaped like what hbd journals: state changes
// and alerts with a few fields.
func benchBatch() []Record {
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{
			Time: t0.Add(time.Duration(i) * time.Millisecond),
			Host: "web-frontend-17.example.net",
			Kind: KindAlert,
			Msg:  `web-frontend-17.example.net cpu_monitor "cpu.total" is 97.5, above critical 95`,
			Fields: map[string]any{
				"level":       "critical",
				"metric_path": "cpu.total",
				"value":       97.5,
				"threshold":   95,
			},
		}
	}
	return recs
}

// BenchmarkWrite measures Write of 100-record batches into 64 MiB files,
// with the default fsync policy (at most once a second, real clock) and
// with fsync out of the way, which leaves encoding and write(2).
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name  string
		fsync time.Duration
	}{{"fsync=1s", 0}, {"fsync=never", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := Open(Config{Dir: b.TempDir(), Fsync: bc.fsync})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			recs := benchBatch()
			var size int
			for _, r := range recs {
				size += len(r.AppendJSON(nil)) + 1
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode measures encoding alone: one 100-record batch per op.
func BenchmarkEncode(b *testing.B) {
	recs := benchBatch()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, r := range recs {
			buf = append(r.AppendJSON(buf), '\n')
		}
	}
	b.SetBytes(int64(len(buf)))
}

// makeFile64MiB writes a 64 MiB journal of benchBatch records.
func makeFile64MiB(b *testing.B) Config {
	c := Config{Dir: b.TempDir(), MaxSize: 1 << 30, Fsync: time.Hour}
	w, err := Open(c)
	if err != nil {
		b.Fatal(err)
	}
	recs := benchBatch()
	recs[0].Host = "rare"
	for w.size < DefaultMaxSize {
		if err := w.Write(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkReadLast30 reads the newest 30 records of a 64 MiB file, as the
// messages API does.
func BenchmarkReadLast30(b *testing.B) {
	c := makeFile64MiB(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		recs, err := Read(c, Query{Limit: 30})
		if err != nil || len(recs) != 30 {
			b.Fatal(len(recs), err)
		}
	}
}

// BenchmarkReadHostScan asks for more records of a rare host than a 64 MiB
// file holds, so Read scans all of it: the worst case of a host filter.
func BenchmarkReadHostScan(b *testing.B) {
	c := makeFile64MiB(b)
	st, err := os.Stat(filepath.Join(c.Dir, DefaultFile))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Read(c, Query{Limit: 1 << 20, Host: "rare"}); err != nil {
			b.Fatal(err)
		}
	}
}
