package rttwin

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.UnixMilli(1795510000_000)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// entries collects the window's entries, oldest first.
func entries(w *Window) []Entry {
	var out []Entry
	for e := range w.All() {
		out = append(out, e)
	}
	return out
}

func TestSizeFitsItsClass(t *testing.T) {
	if n := unsafe.Sizeof(Window{}); n > 320 {
		t.Fatalf("Window is %d bytes, more than the 320-byte size class the budget allows", n)
	}
}

func TestEmpty(t *testing.T) {
	var w Window
	if _, ok := w.Quantile(50); ok || w.Len() != 0 || w.Count() != 0 {
		t.Fatalf("empty window: quantile ok %v, len %d, count %d", ok, w.Len(), w.Count())
	}
	if q := w.Quantiles(); q != [3]uint32{} {
		t.Fatalf("empty window quantiles %v, want zeros (null)", q)
	}
	if e := entries(&w); len(e) != 0 {
		t.Fatalf("empty window yields %v", e)
	}
}

func TestQuantilesKnownData(t *testing.T) {
	var w Window
	// 1..20 ms, shuffled: nearest rank p50 = 10th = 10 ms, p95 = 19th, p99 = 20th.
	for i, v := range []int{7, 3, 20, 1, 15, 9, 12, 2, 18, 5, 11, 14, 4, 19, 6, 16, 8, 13, 17, 10} {
		w.Add(t0.Add(time.Duration(i)*time.Second), ms(v), 0)
	}
	for _, c := range []struct {
		q    int
		want time.Duration
	}{{50, ms(10)}, {95, ms(19)}, {99, ms(20)}, {100, ms(20)}, {1, ms(1)}, {5, ms(1)}, {6, ms(2)}} {
		if got, ok := w.Quantile(c.q); !ok || got != c.want {
			t.Errorf("p%d = %v (%v), want %v", c.q, got, ok, c.want)
		}
	}
	if q := w.Quantiles(); q != [3]uint32{10000, 19000, 20000} {
		t.Errorf("Quantiles() = %v", q)
	}
}

func TestNoReplyEntries(t *testing.T) {
	var w Window
	w.Add(t0, ms(4), 0)
	w.Add(t0.Add(40*time.Second), ms(8), 3) // three missed, 10 s apart
	w.Add(t0.Add(50*time.Second), 0, 0)     // arrived without a measurement
	want := []Entry{
		{t0.UnixMilli(), 4000},
		{t0.UnixMilli() + 10000, 0},
		{t0.UnixMilli() + 20000, 0},
		{t0.UnixMilli() + 30000, 0},
		{t0.UnixMilli() + 40000, 8000},
		{t0.UnixMilli() + 50000, 0},
	}
	if got := entries(&w); !slices.Equal(got, want) {
		t.Fatalf("entries\n got %v\nwant %v", got, want)
	}
	if w.Len() != 6 || w.Count() != 2 {
		t.Fatalf("len %d count %d, want 6 and 2", w.Len(), w.Count())
	}
	// Quantiles are over the replies only.
	if p50, _ := w.Quantile(50); p50 != ms(4) {
		t.Fatalf("p50 %v, want 4ms", p50)
	}
	if p99, _ := w.Quantile(99); p99 != ms(8) {
		t.Fatalf("p99 %v, want 8ms", p99)
	}
}

func TestWraparound(t *testing.T) {
	var w Window
	// 3*Size heartbeats: RTT i ms at second i. The window keeps the last Size.
	total := 3 * Size
	for i := range total {
		w.Add(t0.Add(time.Duration(i)*time.Second), ms(i+1), 0)
	}
	got := entries(&w)
	if len(got) != Size || w.Count() != Size {
		t.Fatalf("%d entries, count %d, want %d", len(got), w.Count(), Size)
	}
	for k, e := range got {
		i := total - Size + k
		if want := (Entry{t0.Add(time.Duration(i) * time.Second).UnixMilli(), uint32((i + 1) * 1000)}); e != want {
			t.Fatalf("entry %d = %v, want %v", k, e, want)
		}
	}
	if p50, _ := w.Quantile(50); p50 != ms(total-Size+Size/2) {
		t.Fatalf("p50 %v, want %v", p50, ms(total-Size+Size/2))
	}
	// A gap longer than the window leaves only missed entries and the new one.
	w.Add(t0.Add(time.Duration(total+Size+5)*time.Second), ms(1), Size+5)
	if w.Len() != Size || w.Count() != 1 {
		t.Fatalf("after a long gap: len %d count %d, want %d and 1", w.Len(), w.Count(), Size)
	}
	if p99, _ := w.Quantile(99); p99 != ms(1) {
		t.Fatalf("p99 after the gap %v, want 1ms", p99)
	}
}

// TestTimesDoNotDrift: steps are rounded to Ticks against the stored
// time, so every stored time is within half a Tick of the exact one
// however long the window has run.
func TestTimesDoNotDrift(t *testing.T) {
	var w Window
	var exact []int64
	at := t0
	for i := range 500 {
		at = at.Add(10*time.Second + time.Duration(i%7)*37*time.Millisecond)
		w.Add(at, ms(1), 0)
		exact = append(exact, at.UnixMilli())
	}
	exact = exact[len(exact)-Size:]
	for i, e := range entries(&w) {
		if d := e.UnixMilli - exact[i]; d > 50 || d < -50 {
			t.Fatalf("entry %d at %d, exact %d: off by %d ms", i, e.UnixMilli, exact[i], d)
		}
	}
}

func TestLongSilenceForgetsOlder(t *testing.T) {
	var w Window
	w.Add(t0, ms(5), 0)
	w.Add(t0.Add(time.Second), ms(6), 0)
	later := t0.Add(time.Second + MaxStep + time.Minute)
	w.Add(later, ms(7), 0)
	if got := entries(&w); !slices.Equal(got, []Entry{{later.UnixMilli(), 7000}}) {
		t.Fatalf("after a silence longer than MaxStep: %v", got)
	}
	// A clock stepping back counts as the same time.
	w.Add(later.Add(-time.Minute), ms(8), 0)
	if got := entries(&w); len(got) != 2 || got[1].UnixMilli != later.UnixMilli() {
		t.Fatalf("after a step back: %v", got)
	}
}

func TestFillLateHeartbeat(t *testing.T) {
	var w Window
	w.Add(t0, ms(3), 0)
	w.Add(t0.Add(30*time.Second), ms(9), 2) // two missed
	if !w.Fill(2, ms(1)) {
		t.Fatal("Fill of a missed entry refused")
	}
	if w.Fill(2, ms(2)) || w.Fill(0, ms(2)) || w.Fill(4, ms(2)) || w.Fill(-1, ms(2)) || w.Fill(1, 0) {
		t.Fatal("Fill of an entry with an RTT, outside the window or with none accepted")
	}
	want := []Entry{{t0.UnixMilli(), 3000}, {t0.UnixMilli() + 10000, 1000}, {t0.UnixMilli() + 20000, 0}, {t0.UnixMilli() + 30000, 9000}}
	if got := entries(&w); !slices.Equal(got, want) {
		t.Fatalf("entries\n got %v\nwant %v", got, want)
	}
	if p50, _ := w.Quantile(50); p50 != ms(3) || w.Count() != 3 {
		t.Fatalf("p50 %v count %d, want 3ms and 3", p50, w.Count())
	}
}

// TestMatchesSort compares the window with sorting the last Size entries
// on random traffic: replies, missed runs, late fills.
func TestMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var w Window
	var model []uint32 // every entry, oldest first; 0 none
	at := t0
	for step := range 20000 {
		switch k := r.IntN(10); {
		case k == 0:
			back := r.IntN(Size + 2)
			us := uint32(1 + r.IntN(500))
			ok := w.Fill(back, time.Duration(us)*time.Microsecond)
			idx := len(model) - 1 - back
			want := back < min(len(model), Size) && idx >= 0 && model[idx] == 0
			if ok != want {
				t.Fatalf("step %d: Fill(%d) = %v, want %v", step, back, ok, want)
			}
			if ok {
				model[idx] = us
			}
		default:
			missed := 0
			if k == 1 {
				missed = r.IntN(Size + 10)
			}
			us := uint32(0)
			if k != 2 {
				us = uint32(1 + r.IntN(500))
			}
			at = at.Add(10 * time.Second * time.Duration(missed+1))
			w.Add(at, time.Duration(us)*time.Microsecond, missed)
			for range min(missed, Size-1) {
				model = append(model, 0)
			}
			model = append(model, us)
		}
		if len(model) > Size {
			model = model[len(model)-Size:]
		}
		var vals []uint32
		for _, v := range model {
			if v != 0 {
				vals = append(vals, v)
			}
		}
		slices.Sort(vals)
		for _, q := range []int{1, 50, 95, 99} {
			got, ok := w.Quantile(q)
			if ok != (len(vals) > 0) {
				t.Fatalf("step %d: p%d ok %v with %d values", step, q, ok, len(vals))
			}
			if ok {
				want := vals[(q*len(vals)+99)/100-1]
				if got != time.Duration(want)*time.Microsecond {
					t.Fatalf("step %d: p%d = %v, want %dµs", step, q, got, want)
				}
			}
		}
		i := 0
		for e := range w.All() {
			if e.Micros != model[i] {
				t.Fatalf("step %d: entry %d has %d µs, want %d", step, i, e.Micros, model[i])
			}
			i++
		}
		if i != len(model) {
			t.Fatalf("step %d: %d entries, want %d", step, i, len(model))
		}
	}
}

func TestTakeRestore(t *testing.T) {
	var w, saved Window
	at := t0
	add := func(n int) {
		for range n {
			at = at.Add(10*time.Second + 123*time.Millisecond)
			w.Add(at, ms(int(at.Unix()%50)+1), 0)
		}
	}
	// A checkpoint of the whole window, then deltas of what is new.
	add(30)
	es, whole := w.Take(false)
	if !whole || len(es) != 30 {
		t.Fatalf("first take: %d entries whole %v, want 30 and whole", len(es), whole)
	}
	saved.Restore(es)
	if es, _ := w.Take(false); es != nil {
		t.Fatalf("nothing new, took %v", es)
	}
	add(5)
	w.Add(at.Add(30*time.Second), ms(2), 2)
	at = at.Add(30 * time.Second)
	es, whole = w.Take(false)
	if whole || len(es) != 8 {
		t.Fatalf("delta: %d entries whole %v, want 8, not whole", len(es), whole)
	}
	saved.Restore(es)
	// A late heartbeat fills an entry already taken: not in the next
	// delta, which holds only what was added.
	if !w.Fill(1, ms(7)) {
		t.Fatal("Fill refused")
	}
	if es, _ := w.Take(false); es != nil {
		t.Fatalf("after a Fill alone, took %v", es)
	}
	add(Size) // wraps: the delta is the whole window
	es, whole = w.Take(false)
	if !whole || len(es) != Size {
		t.Fatalf("wrapped delta: %d entries whole %v", len(es), whole)
	}
	var fresh Window
	fresh.Restore(es)
	if all, whole := w.Take(true); !whole || !slices.Equal(all, entries(&w)) {
		t.Fatalf("Take(true) = %v, %v; want every entry, whole", all, whole)
	}
	saved.Restore(es)
	for _, got := range []*Window{&saved, &fresh} {
		if !slices.Equal(entries(got), entries(&w)) || got.Quantiles() != w.Quantiles() {
			t.Fatalf("restored\n got %v\nwant %v", entries(got), entries(&w))
		}
	}
	if es, _ := saved.Take(false); es != nil {
		t.Fatalf("a restored window has nothing fresh, took %d", len(es))
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	var w Window
	at := t0
	n := testing.AllocsPerRun(1000, func() {
		at = at.Add(10 * time.Second)
		w.Add(at, ms(int(at.Unix()%40)+1), 0)
		w.Quantiles()
	})
	if n != 0 {
		t.Fatalf("Add and Quantiles allocate %v times", n)
	}
}

func BenchmarkAdd(b *testing.B) {
	var w Window
	at := t0
	b.ReportAllocs()
	for i := range b.N {
		at = at.Add(10 * time.Second)
		w.Add(at, time.Duration(800+i%500)*time.Microsecond, 0)
	}
}

func BenchmarkQuantiles(b *testing.B) {
	var w Window
	for i := range Size {
		w.Add(t0.Add(time.Duration(i)*time.Second), time.Duration(800+i*37%500)*time.Microsecond, 0)
	}
	b.ReportAllocs()
	for range b.N {
		w.Quantiles()
	}
}
