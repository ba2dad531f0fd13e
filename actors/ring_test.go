package actors

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// timesOf lists the ring's timestamps, newest first.
func timesOf(r *ring) []int64 {
	var got []int64
	for ts := range r.latest(r.len()) {
		got = append(got, ts)
	}
	return got
}

func TestRingNewestFirst(t *testing.T) {
	for _, tc := range []struct {
		limit, pushed int
	}{
		{limit: 1, pushed: 0},
		{limit: 1, pushed: 1},
		{limit: 1, pushed: 5},
		{limit: 3, pushed: 2},
		{limit: 3, pushed: 3},
		{limit: 3, pushed: 4},
		{limit: 3, pushed: 7},
		{limit: 100, pushed: 250},
	} {
		r := newRing("p", tc.limit)
		for i := 1; i <= tc.pushed; i++ {
			if !r.insert(sample{unixNano: int64(i)}) {
				t.Fatalf("limit %d: sample %d not stored", tc.limit, i)
			}
		}
		want := min(tc.limit, tc.pushed)
		if r.len() != want {
			t.Fatalf("limit %d pushed %d: len %d, want %d", tc.limit, tc.pushed, r.len(), want)
		}
		got := timesOf(r)
		if len(got) != want {
			t.Fatalf("limit %d pushed %d: %d samples listed, want %d", tc.limit, tc.pushed, len(got), want)
		}
		for i, ts := range got {
			if exp := int64(tc.pushed - i); ts != exp {
				t.Fatalf("limit %d pushed %d: newest %d = %d, want %d", tc.limit, tc.pushed, i, ts, exp)
			}
		}
		if want > 0 && r.newestTime() != int64(tc.pushed) {
			t.Fatalf("limit %d pushed %d: newestTime %d", tc.limit, tc.pushed, r.newestTime())
		}
	}
}

// The ring gives back each sample's bytes exactly, newest first from
// latest (at most n) and oldest first from all. It keeps its own copies:
// the caller may reuse its buffer at once.
func TestRingKeepsBytes(t *testing.T) {
	r := newRing("p", 5)
	var in [][]byte
	buf := make([]byte, 0, 256)
	for i := 1; i <= 8; i++ {
		buf = fmt.Appendf(buf[:0], `{"cpu_percent":%d.%d,"name":"eth%d","big":9007199254740993%d,"z":-0.0,"nested":{"a":[1,%d]}}`, 40+i, i%3, i, i, i*i)
		in = append(in, slices.Clone(buf))
		r.insert(sample{unixNano: int64(i) * 1e9, data: buf})
		clear(buf[:cap(buf)])
	}
	in = in[3:] // the 5 kept, oldest first
	i := len(in) - 1
	for ts, data := range r.latest(3) {
		if ts != int64(i+4)*1e9 || string(data) != string(in[i]) {
			t.Fatalf("latest: %d %s, want %d %s", ts, data, int64(i+4)*1e9, in[i])
		}
		i--
	}
	if i != len(in)-4 {
		t.Fatalf("latest(3) gave %d samples", len(in)-1-i)
	}
	i = 0
	for ts, data := range r.all() {
		if ts != int64(i+4)*1e9 || string(data) != string(in[i]) {
			t.Fatalf("all: %d %s, want %d %s", ts, data, int64(i+4)*1e9, in[i])
		}
		i++
	}
	if i != len(in) {
		t.Fatalf("all gave %d samples, want %d", i, len(in))
	}
	if got := string(r.appendNewest([]byte("x"))); got != "x"+string(in[len(in)-1]) {
		t.Fatalf("appendNewest %s", got)
	}
}

// A checkpoint's record keeps its own copy of the ring: the writer encodes
// it on another goroutine while the ring goes on changing. A whole save
// restores the samples it was taken with; a later save holds what was
// gained since; an unchanged ring saves nothing.
func TestRingSaveCopies(t *testing.T) {
	r := newRing("cpu_monitor", 4)
	for i := 1; i <= 4; i++ {
		r.insert(sample{unixNano: int64(i), data: fmt.Appendf(nil, `{"v":%d}`, i)})
	}
	p, _, ok := r.save(nil, true)
	if !ok || p.Name != "cpu_monitor" || p.Held != 4 {
		t.Fatalf("whole save %+v %v", p, ok)
	}
	saved := bytes.Clone(p.Ring)
	if _, _, ok := r.save(nil, false); ok {
		t.Fatal("an unchanged ring saved something")
	}
	for i := 5; i <= 12; i++ {
		r.insert(sample{unixNano: int64(i), data: fmt.Appendf(nil, `{"v":%d,"w":"changed"}`, i)})
	}
	if !bytes.Equal(p.Ring, saved) {
		t.Fatal("the saved ring changed with the live one")
	}
	back := newRing("cpu_monitor", 4)
	if err := back.store.Restore(p.Ring); err != nil {
		t.Fatal(err)
	}
	i := 1
	for ts, data := range back.all() {
		if want := fmt.Sprintf(`{"v":%d}`, i); ts != int64(i) || string(data) != want {
			t.Fatalf("restored sample %d: %d %s, want %d %s", i, ts, data, i, want)
		}
		i++
	}
	if i != 5 {
		t.Fatalf("restored %d samples, want 4", i-1)
	}
	later, _, ok := r.save(nil, false)
	if !ok {
		t.Fatal("a changed ring saved nothing")
	}
	if err := back.store.Restore(later.Ring); err != nil {
		t.Fatal(err)
	}
	if got, want := back.len(), r.len(); got != want || string(back.appendNewest(nil)) != string(r.appendNewest(nil)) {
		t.Fatalf("after the second save: %d samples, newest %s; live %d, %s", got, back.appendNewest(nil), want, r.appendNewest(nil))
	}
}

// sizeDelta adds up to the ring's size, so hbd_samples_bytes sums what
// the rings hold.
func TestRingSizeDelta(t *testing.T) {
	r := newRing("p", 10)
	var total int64
	for i := 1; i <= 50; i++ {
		r.insert(sample{unixNano: int64(i), data: fmt.Appendf(nil, `{"v":%d}`, i)})
		total += r.sizeDelta()
		if total != int64(r.store.Size()) || total <= 0 {
			t.Fatalf("after %d samples: counted %d, size %d", i, total, r.store.Size())
		}
	}
	if d := r.sizeDelta(); d != 0 {
		t.Fatalf("delta %d without a change", d)
	}
}

func BenchmarkRingPush(b *testing.B) {
	r := newRing("p", 100)
	data := []byte(`{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.insert(sample{unixNano: int64(i), data: data})
	}
}

func TestRingInsertInTimeOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		in     []int64
		stored []bool
		want   []int64 // newest first
	}{
		{"in order", 3, []int64{1, 2, 3}, []bool{true, true, true}, []int64{3, 2, 1}},
		{"late one fills its place", 5, []int64{1, 3, 2}, []bool{true, true, true}, []int64{3, 2, 1}},
		{"duplicate of newest", 3, []int64{1, 2, 2}, []bool{true, true, false}, []int64{2, 1}},
		{"duplicate of an older one", 3, []int64{1, 2, 3, 1}, []bool{true, true, true, false}, []int64{3, 2, 1}},
		{"full ring, late one evicts the oldest", 3, []int64{1, 3, 4, 2}, []bool{true, true, true, true}, []int64{4, 3, 2}},
		{"full ring, older than all", 3, []int64{5, 6, 7, 1}, []bool{true, true, true, false}, []int64{7, 6, 5}},
		{"wrapped ring then late", 3, []int64{1, 2, 3, 4, 6, 5}, []bool{true, true, true, true, true, true}, []int64{6, 5, 4}},
		{"late then keeps pushing", 3, []int64{2, 1, 3, 4}, []bool{true, true, true, true}, []int64{4, 3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing("p", tc.limit)
			for i, ts := range tc.in {
				if got := r.insert(sample{unixNano: ts}); got != tc.stored[i] {
					t.Fatalf("insert(%d) = %v, want %v", ts, got, tc.stored[i])
				}
			}
			if got := timesOf(r); !slices.Equal(got, tc.want) {
				t.Fatalf("ring %v, want %v", got, tc.want)
			}
		})
	}
}
