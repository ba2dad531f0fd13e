package rejected

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hbd-project/hbd/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// logLines captures a Table's log as decoded JSON lines.
type logLines struct{ buf bytes.Buffer }

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&l.buf, nil))
}

// take returns the lines written since the last call.
func (l *logLines) take(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(b) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("log line %q: %v", b, err)
		}
		out = append(out, m)
	}
	l.buf.Reset()
	return out
}

func newTestTable(log *logLines, opt Options) *Table {
	opt.Logger = log.logger()
	return New(1, opt).Table(0)
}

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// A source is logged on its first rejected datagram and then at most once
// per LogEvery, with the datagrams since its previous line.
func TestSourceLoggedOncePerPeriod(t *testing.T) {
	var log logLines
	tb := newTestTable(&log, Options{})
	from := addr("192.0.2.7:41234")
	tb.Note(t0, from, []byte("web01"), wire.ReasonBadMAC)
	lines := log.take(t)
	if len(lines) != 1 {
		t.Fatalf("first datagram: %d log lines, want 1: %v", len(lines), lines)
	}
	want := map[string]any{"level": "WARN", "msg": "rejected datagrams", "source": "192.0.2.7:41234", "host": "web01",
		"reason": "bad_mac", "datagrams": 1.0, "total": 1.0}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, lines[0][k], v, lines[0])
		}
	}
	if lines[0]["hint"] == nil {
		t.Errorf("bad_mac line has no hint: %v", lines[0])
	}

	// 30 more within the minute: nothing logged.
	for i := 1; i <= 30; i++ {
		tb.Note(t0.Add(time.Duration(i)*time.Second), from, []byte("web01"), wire.ReasonBadMAC)
	}
	if lines := log.take(t); len(lines) != 0 {
		t.Fatalf("within the minute: %d lines, want none: %v", len(lines), lines)
	}
	// A minute after the first line: one line for the 31 since.
	tb.Note(t0.Add(time.Minute), addr("192.0.2.7:41299"), []byte("web01"), wire.ReasonBadMAC)
	lines = log.take(t)
	if len(lines) != 1 || lines[0]["datagrams"] != 31.0 || lines[0]["total"] != 32.0 || lines[0]["source"] != "192.0.2.7:41299" {
		t.Fatalf("after a minute: %v, want one line with datagrams 31, total 32 and the new port", lines)
	}
}

// The same address rejected for two reasons is two sources; a datagram
// whose header did not parse has no host.
func TestSourcesAreAddressAndReason(t *testing.T) {
	var log logLines
	tb := newTestTable(&log, Options{})
	tb.Note(t0, addr("192.0.2.7:1"), []byte("web01"), wire.ReasonBadMAC)
	tb.Note(t0, addr("192.0.2.7:1"), []byte("web01"), wire.ReasonClock)
	tb.Note(t0, addr("[2001:db8::1]:2"), nil, wire.ReasonBadMagic)
	tb.Note(t0, addr("[::ffff:192.0.2.7]:1"), []byte("web01"), wire.ReasonBadMAC) // v4-mapped: the same source
	lines := log.take(t)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (bad_mac, clock_skew, bad_magic): %v", len(lines), lines)
	}
	if _, ok := lines[2]["host"]; ok {
		t.Errorf("unparsed datagram logged with a host: %v", lines[2])
	}
	top := New(0, Options{}).Top(10)
	if len(top) != 0 {
		t.Fatalf("empty set: Top = %v", top)
	}
	s := &Sources{tables: []*Table{tb}}
	top = s.Top(10)
	if len(top) != 3 || top[0].Reason != wire.ReasonBadMAC || top[0].Count != 2 || top[0].Addr != addr("192.0.2.7:1") || top[0].Host != "web01" {
		t.Fatalf("Top = %+v, want bad_mac from 192.0.2.7:1 with 2 first", top)
	}
	if top[2].Host != "" || top[2].Reason != wire.ReasonBadMagic {
		t.Errorf("Top[2] = %+v, want bad_magic without host", top[2])
	}
}

// A full table forgets the least recently seen source, counts it, and
// says so at most once per LogEvery.
func TestFullTableEvictsLeastRecent(t *testing.T) {
	var log logLines
	tb := newTestTable(&log, Options{Capacity: 4})
	s := &Sources{tables: []*Table{tb}}
	for i := 1; i <= 4; i++ {
		tb.Note(t0, addr(fmt.Sprintf("192.0.2.%d:9", i)), nil, wire.ReasonBadMAC)
	}
	tb.Note(t0.Add(time.Second), addr("192.0.2.1:9"), nil, wire.ReasonBadMAC) // .2 is now the least recent
	log.take(t)
	tb.Note(t0.Add(2*time.Second), addr("192.0.2.5:9"), nil, wire.ReasonBadMAC)
	if s.Len() != 4 || s.Evicted() != 1 {
		t.Fatalf("Len %d Evicted %d, want 4 and 1", s.Len(), s.Evicted())
	}
	for _, src := range s.Top(10) {
		if src.Addr.Addr() == netip.MustParseAddr("192.0.2.2") {
			t.Fatalf("least recent source 192.0.2.2 kept: %+v", s.Top(10))
		}
	}
	lines := log.take(t)
	if len(lines) != 2 || lines[0]["msg"] != "rejected-source table full: forgetting the least recently seen sources (many sources, possibly spoofed)" || lines[0]["evicted_total"] != 1.0 {
		t.Fatalf("lines %v, want the table-full line and the new source", lines)
	}
	for i := 6; i <= 9; i++ {
		tb.Note(t0.Add(3*time.Second), addr(fmt.Sprintf("192.0.2.%d:9", i)), nil, wire.ReasonBadMAC)
	}
	for _, l := range log.take(t) {
		if l["evicted_total"] != nil {
			t.Fatalf("table-full logged twice within a minute: %v", l)
		}
	}
	tb.Note(t0.Add(time.Minute+2*time.Second), addr("192.0.2.10:9"), nil, wire.ReasonBadMAC)
	lines = log.take(t)
	if len(lines) == 0 || lines[0]["evicted_total"] != 6.0 {
		t.Fatalf("a minute later: %v, want the table-full line with 6 evicted", lines)
	}
	if s.Len() != 4 || s.Evicted() != 6 {
		t.Fatalf("Len %d Evicted %d, want 4 and 6", s.Len(), s.Evicted())
	}
}

// However many sources, a table writes at most LogBudget source lines per
// LogEvery, and says how many datagrams it did not log when the next
// period begins.
func TestLogBudget(t *testing.T) {
	var log logLines
	tb := newTestTable(&log, Options{LogBudget: 3})
	for i := 1; i <= 10; i++ {
		tb.Note(t0.Add(time.Duration(i)*time.Millisecond), addr(fmt.Sprintf("192.0.2.%d:9", i)), nil, wire.ReasonBadMAC)
	}
	tb.Note(t0.Add(time.Second), addr("192.0.2.10:9"), nil, wire.ReasonBadMAC)
	if lines := log.take(t); len(lines) != 3 {
		t.Fatalf("%d lines, want the budget of 3: %v", len(lines), lines)
	}
	tb.Note(t0.Add(time.Minute+time.Millisecond), addr("192.0.2.9:9"), nil, wire.ReasonBadMAC)
	lines := log.take(t)
	if len(lines) != 2 || lines[0]["datagrams"] != 8.0 || lines[1]["source"] != "192.0.2.9:9" || lines[1]["datagrams"] != 2.0 {
		t.Fatalf("next period: %v, want the held-back line (8 datagrams) and 192.0.2.9 with its 2", lines)
	}
}

// Top adds up one source seen by several tables and orders by count.
func TestTopMergesTables(t *testing.T) {
	var log logLines
	s := New(2, Options{Logger: log.logger()})
	for i := 0; i < 3; i++ {
		s.Table(0).Note(t0, addr("192.0.2.1:100"), []byte("a"), wire.ReasonBadMAC)
	}
	s.Table(1).Note(t0.Add(time.Second), addr("192.0.2.1:200"), []byte("b"), wire.ReasonBadMAC)
	for i := 0; i < 2; i++ {
		s.Table(1).Note(t0, addr("192.0.2.2:1"), nil, wire.ReasonClock)
	}
	s.Table(0).Note(t0, addr("192.0.2.3:1"), nil, wire.ReasonClock)
	top := s.Top(2)
	want := []Source{
		{Addr: addr("192.0.2.1:200"), Host: "b", Reason: wire.ReasonBadMAC, Count: 4, LastSeen: t0.Add(time.Second)},
		{Addr: addr("192.0.2.2:1"), Reason: wire.ReasonClock, Count: 2, LastSeen: t0},
	}
	if fmt.Sprint(top) != fmt.Sprint(want) {
		t.Fatalf("Top(2) = %+v\nwant      %+v", top, want)
	}
}

// Readers note while the API reads: safe under -race, and nothing is lost.
func TestConcurrentNoteAndTop(t *testing.T) {
	var log logLines
	s := New(2, Options{Logger: log.logger()})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.Table(r).Note(t0, addr(fmt.Sprintf("192.0.2.%d:9", i%50)), []byte("h"), wire.ReasonBadMAC)
			}
		}()
	}
	for i := 0; i < 50; i++ {
		_ = s.Top(10)
	}
	wg.Wait()
	var total uint64
	for _, src := range s.Top(100) {
		total += src.Count
	}
	if total != 4000 {
		t.Fatalf("counted %d datagrams, want 4000", total)
	}
}

// A flood from ever new addresses into a full table allocates nothing.
func TestZeroAllocsWhenFull(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test runs this test again without it)")
	}
	var log logLines
	tb := newTestTable(&log, Options{Capacity: 64, LogBudget: 1})
	host := []byte("forged.example.net")
	for i := 0; i < 64; i++ {
		tb.Note(t0, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 9), host, wire.ReasonBadMAC)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		tb.Note(t0, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 9), host, wire.ReasonBadMAC)
	})
	if allocs != 0 {
		t.Fatalf("Note into a full table: %.1f allocs, want 0", allocs)
	}
}

// BenchmarkNote is the cost one rejected datagram adds to a reader: the
// same source again, and a new (spoofed) address each time into a full
// table of the default 1,024 sources.
func BenchmarkNote(b *testing.B) {
	var log logLines
	host := []byte("forged.example.net")
	b.Run("same-source", func(b *testing.B) {
		tb := New(1, Options{Logger: log.logger()}).Table(0)
		from := addr("192.0.2.1:9")
		b.ReportAllocs()
		for b.Loop() {
			tb.Note(t0, from, host, wire.ReasonBadMAC)
		}
	})
	b.Run("spoofed-full", func(b *testing.B) {
		tb := New(1, Options{Logger: log.logger()}).Table(0)
		i := uint32(0)
		b.ReportAllocs()
		for b.Loop() {
			i++
			tb.Note(t0, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 9), host, wire.ReasonBadMAC)
			log.buf.Reset()
		}
	})
}
