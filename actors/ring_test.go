package actors

import (
	"slices"
	"testing"
)

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
			r.push(sample{unixNano: int64(i)})
		}
		want := min(tc.limit, tc.pushed)
		if r.len() != want {
			t.Fatalf("limit %d pushed %d: len %d, want %d", tc.limit, tc.pushed, r.len(), want)
		}
		for i := 0; i < r.len(); i++ {
			if got, exp := r.newest(i).unixNano, int64(tc.pushed-i); got != exp {
				t.Fatalf("limit %d pushed %d: newest(%d) = %d, want %d", tc.limit, tc.pushed, i, got, exp)
			}
		}
		if cap(r.buf) > tc.limit && tc.limit > 1 && tc.pushed > tc.limit {
			// append may round capacity up, but the ring must never hold more than limit entries.
			if len(r.buf) > tc.limit {
				t.Fatalf("ring holds %d > limit %d", len(r.buf), tc.limit)
			}
		}
	}
}

func BenchmarkRingPush(b *testing.B) {
	r := newRing("p", 100)
	data := []byte(`{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.push(sample{unixNano: int64(i), data: data})
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
			var got []int64
			for i := 0; i < r.len(); i++ {
				got = append(got, r.newest(i).unixNano)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ring %v, want %v", got, tc.want)
			}
		})
	}
}
