package actors

import "testing"

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
		r := newRing(tc.limit)
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
	r := newRing(100)
	data := []byte(`{"cpu_percent":45.2,"load_1min":2.5,"load_5min":2.1,"load_15min":1.8}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.push(sample{unixNano: int64(i), data: data})
	}
}
