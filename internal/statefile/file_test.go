package statefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir string, k Kind, seq uint64, recs ...Record) string {
	t.Helper()
	w, err := Create(dir, k, seq, time.Unix(1795510000, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Add(recs[i].Type, &recs[i].Host); err != nil {
			t.Fatal(err)
		}
	}
	p, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	big := fullHost()
	recs := []Record{{Type: RecordFull, Host: big}, {Type: RecordFull, Host: Host{Name: "b"}}}
	p := writeFile(t, dir, KindSnapshot, 7, recs...)
	if filepath.Base(p) != "snap-0000000000000007.hbds" {
		t.Errorf("file name %s", filepath.Base(p))
	}
	h, got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != Version || h.Kind != KindSnapshot || h.Seq != 7 || !h.Created.Equal(time.Unix(1795510000, 0)) {
		t.Errorf("header %+v", h)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Errorf("records differ:\n got %+v\nwant %+v", got, recs)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries, want 1", len(ents))
	}
}

func TestDamagedFilesAreRejectedWhole(t *testing.T) {
	dir := t.TempDir()
	recs := []Record{{Type: RecordFull, Host: fullHost()}, {Type: RecordFull, Host: Host{Name: "b"}}}
	good, err := os.ReadFile(writeFile(t, dir, KindSnapshot, 1, recs...))
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(good); cut++ {
		if _, got, err := Read(bytes.NewReader(good[:cut])); err == nil || got != nil {
			t.Fatalf("file cut at %d of %d bytes: err %v, %d records", cut, len(good), err, len(got))
		}
	}
	for i := 0; i < len(good); i++ {
		if i == 8 || i == 9 {
			continue // the version: another one is ErrVersion (TestUnknownVersion)
		}
		bad := bytes.Clone(good)
		bad[i] ^= 0x10
		// A flip either fails the read, or (inside the compressed body,
		// rarely) still decodes to the very same records, which the
		// records' CRCs vouch for: never different data without an error.
		_, got, err := Read(bytes.NewReader(bad))
		switch {
		case err != nil && got != nil:
			t.Fatalf("byte %d flipped: records returned with the error %v", i, err)
		case err == nil && !reflect.DeepEqual(got, recs):
			t.Fatalf("byte %d flipped: read without error, and the records differ", i)
		}
	}
	if _, _, err := Read(bytes.NewReader(append(bytes.Clone(good), 0))); err == nil {
		t.Error("a trailing byte was accepted")
	}
}

// withVersion rewrites a file's header to another version, with a valid CRC.
func withVersion(b []byte, v uint16) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint16(b[8:10], v)
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], castag))
	return b
}

func TestUnknownVersion(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(writeFile(t, dir, KindSnapshot, 1, Record{Type: RecordFull, Host: Host{Name: "a"}}))
	_, _, err := Read(bytes.NewReader(withVersion(good, Version+1)))
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d", Version+1)) {
		t.Errorf("error %q does not name the version", err)
	}
}

func TestLoadSnapshotThenDeltas(t *testing.T) {
	dir := t.TempDir()
	a := Host{Name: "a", Plugins: []Plugin{{Name: "p", Samples: []Sample{{UnixNano: 1, Data: []byte(`{"v":1}`)}}}}}
	b := Host{Name: "b"}
	writeFile(t, dir, KindDelta, 1, Record{Type: RecordFull, Host: Host{Name: "old"}}) // before the snapshot: ignored
	writeFile(t, dir, KindSnapshot, 2, Record{Type: RecordFull, Host: a}, Record{Type: RecordFull, Host: b})
	a2 := Host{Name: "a", Ver: 1, Plugins: []Plugin{{Name: "p", Samples: []Sample{{UnixNano: 2, Data: []byte(`{"v":2}`)}}}}}
	writeFile(t, dir, KindDelta, 3, Record{Type: RecordDelta, Host: a2})
	c := Host{Name: "c"}
	b2 := Host{Name: "b", Ver: 1}
	writeFile(t, dir, KindDelta, 4, Record{Type: RecordFull, Host: c}, Record{Type: RecordFull, Host: b2})

	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Problems) != 0 {
		t.Fatalf("problems: %v", st.Problems)
	}
	if st.Snapshot == nil || st.Snapshot.Header.Seq != 2 || len(st.Deltas) != 2 || st.NextSeq != 5 {
		t.Fatalf("snapshot %+v, deltas %d, next %d", st.Snapshot, len(st.Deltas), st.NextSeq)
	}
	var names []string
	for _, h := range st.Hosts {
		var types []RecordType
		for _, r := range h.Records {
			types = append(types, r.Type)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "a":
			// The delta is merged into the snapshot's record: its small
			// state replaces the snapshot's, its samples follow.
			if !reflect.DeepEqual(types, []RecordType{RecordFull}) || h.Records[0].Host.Ver != 1 {
				t.Errorf("a: %v", types)
			} else if ps := h.Records[0].Host.Plugins; len(ps) != 2 || string(ps[0].Samples[0].Data) != `{"v":1}` || string(ps[1].Samples[0].Data) != `{"v":2}` {
				t.Errorf("a's samples: %+v", ps)
			}
		case "b": // the later full record replaces the snapshot's
			if !reflect.DeepEqual(types, []RecordType{RecordFull}) || h.Records[0].Host.Ver != 1 {
				t.Errorf("b: %v", types)
			}
		}
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Errorf("hosts %v", names)
	}
	if st.Samples != 2 || st.Records != 5 {
		t.Errorf("samples %d records %d", st.Samples, st.Records)
	}

	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName(KindDelta, 1))); !os.IsNotExist(err) {
		t.Errorf("delta 1 not pruned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName(KindSnapshot, 2))); err != nil {
		t.Errorf("the base was pruned: %v", err)
	}
}

func TestLoadSetsBadFilesAside(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, KindSnapshot, 1, Record{Type: RecordFull, Host: Host{Name: "a"}})
	// A newer snapshot with a flipped byte: the older one is used.
	p2 := writeFile(t, dir, KindSnapshot, 2, Record{Type: RecordFull, Host: Host{Name: "b"}})
	b, _ := os.ReadFile(p2)
	b[len(b)-3] ^= 1
	if err := os.WriteFile(p2, b, 0o640); err != nil {
		t.Fatal(err)
	}
	// A delta cut short, and one of a future version.
	p3 := writeFile(t, dir, KindDelta, 3, Record{Type: RecordDelta, Host: Host{Name: "a", Ver: 3}})
	b, _ = os.ReadFile(p3)
	if err := os.WriteFile(p3, b[:len(b)-5], 0o640); err != nil {
		t.Fatal(err)
	}
	p4 := writeFile(t, dir, KindDelta, 4, Record{Type: RecordDelta, Host: Host{Name: "a", Ver: 4}})
	b, _ = os.ReadFile(p4)
	if err := os.WriteFile(p4, withVersion(b, 9), 0o640); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, KindDelta, 5, Record{Type: RecordDelta, Host: Host{Name: "a", Ver: 5}})
	if err := os.WriteFile(filepath.Join(dir, tmpPrefix+FileName(KindDelta, 6)), []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}

	chk, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Problems) != 4 {
		t.Fatalf("Check found %d problems, want 4: %v", len(chk.Problems), chk.Problems)
	}
	if _, err := os.Stat(p2); err != nil {
		t.Fatalf("Check changed the directory: %v", err)
	}

	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot == nil || st.Snapshot.Header.Seq != 1 {
		t.Fatalf("base %+v, want the intact snapshot 1", st.Snapshot)
	}
	if len(st.Hosts) != 1 || st.Hosts[0].Name != "a" || len(st.Hosts[0].Records) != 1 || st.Hosts[0].Records[0].Host.Ver != 5 {
		t.Fatalf("hosts %+v", st.Hosts)
	}
	var msgs []string
	for _, p := range st.Problems {
		msgs = append(msgs, p.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		p2 + ": record 0: the file is damaged or cut short: s2: corrupt input",
		"(renamed to " + p2 + ".corrupt)",
		p3 + ": record 0: the file is damaged or cut short: s2: corrupt input (renamed to " + p3 + ".corrupt)",
		"unsupported state format version 9",
		filepath.Join(dir, UnsupportedDir, FileName(KindDelta, 4)),
		"unfinished write",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not mention %q:\n%s", want, all)
		}
	}
	if st.NextSeq != 6 {
		t.Errorf("next seq %d, want 6 (past the set-aside files)", st.NextSeq)
	}
	// Set aside, not loaded again, not counted twice.
	again, _ := Load(dir)
	if len(again.Problems) != 0 {
		t.Errorf("second load: %v", again.Problems)
	}
	if again.NextSeq != 6 {
		t.Errorf("second load next seq %d", again.NextSeq)
	}
	if err := Prune(dir, 5); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []string{p2 + ".corrupt", p3 + ".corrupt", filepath.Join(dir, UnsupportedDir, FileName(KindDelta, 4))} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("prune removed %s", keep)
		}
	}
}

func TestLoadMissingDir(t *testing.T) {
	st, err := Load(filepath.Join(t.TempDir(), "none"))
	if err != nil || len(st.Hosts) != 0 || st.NextSeq != 1 {
		t.Fatalf("%+v %v", st, err)
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	dir := f.TempDir()
	w, _ := Create(dir, KindDelta, 1, time.Unix(1, 0))
	h := fullHost()
	if err := w.Add(RecordDelta, &h); err != nil {
		f.Fatal(err)
	}
	if err := w.Add(RecordFull, &Host{Name: "z"}); err != nil {
		f.Fatal(err)
	}
	p, _ := w.Commit()
	b, _ := os.ReadFile(p)
	buf.Write(b)
	f.Add(buf.Bytes())
	f.Add(b[:40])
	if v1, err := os.ReadFile(filepath.Join("testdata", "v1", "snap-0000000000000001.hbds")); err == nil {
		f.Add(v1) // format version 1
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, recs, err := Read(bytes.NewReader(b))
		if err != nil && recs != nil {
			t.Fatal("records returned with an error")
		}
	})
}
