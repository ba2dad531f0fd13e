package wire

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestReplayWindow(t *testing.T) {
	const base = 1767225600000000000 // a boot time in unix ns, as agents use
	type step struct {
		seq  uint64
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{base, true}, {base + 1, true}, {base + 2, true}, {base + 3, true}}},
		{"duplicates", []step{{base, true}, {base, false}, {base + 1, true}, {base + 1, false}, {base, false}}},
		{"reordered within window", []step{{base + 10, true}, {base + 3, true}, {base + 7, true}, {base + 3, false}, {base + 11, true}, {base + 7, false}, {base + 9, true}}},
		{"oldest slot in window", []step{{base + 127, true}, {base, true}, {base, false}}},
		{"older than window", []step{{base + 128, true}, {base, false}, {base + 1, true}}},
		{"far older", []step{{base, true}, {0, false}, {base - 1, true}}},
		{"jump of 64", []step{{base, true}, {base + 1, true}, {base + 64, true}, {base, false}, {base + 1, false}, {base + 2, true}, {base + 65, true}}},
		{"jump over 64 keeps high word", []step{{base, true}, {base + 70, true}, {base, false}, {base + 1, true}, {base + 140, true}, {base + 70, false}, {base + 12, false}}},
		{"big jump forgets window", []step{{base, true}, {base + 1000, true}, {base, false}, {base + 999, true}, {base + 872, false}, {base + 873, true}}},
		{"restart with later boot time", []step{{base, true}, {base + 1, true}, {base + 5e9, true}, {base + 5e9 + 1, true}, {base + 2, false}}},
		{"seq zero first", []step{{0, true}, {0, false}, {1, true}}},
		{"max seq", []step{{math.MaxUint64, true}, {math.MaxUint64, false}, {math.MaxUint64 - 127, true}, {math.MaxUint64 - 128, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w ReplayWindow
			for i, s := range tc.steps {
				if got := w.Check(s.seq); got != s.want {
					t.Fatalf("step %d: Check(base%+d) = %v, want %v", i, int64(s.seq-base), got, s.want)
				}
			}
		})
	}
}

// TestReplayWindowModel compares the bitmap against a plain set-based model
// on random sequences with reordering, duplicates and jumps.
func TestReplayWindowModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for run := range 200 {
		var w ReplayWindow
		seen := map[uint64]bool{}
		var top uint64
		first := true
		cur := uint64(1 << 40)
		for i := range 500 {
			switch r.IntN(10) {
			case 0: // big jump
				cur += uint64(r.IntN(300))
			case 1, 2: // old or duplicate
				cur -= uint64(r.IntN(140))
			default:
				cur += uint64(r.IntN(3))
			}
			want := first || (!seen[cur] && (cur > top || top-cur < ReplayWindowSize))
			if got := w.Check(cur); got != want {
				t.Fatalf("run %d step %d: Check(%d) = %v, want %v (top %d)", run, i, cur, got, want, top)
			}
			if want {
				seen[cur] = true
				if first || cur > top {
					top = cur
				}
				first = false
			}
			if h, ok := w.Highest(); !ok || h != top {
				t.Fatalf("Highest = %d, %v; want %d", h, ok, top)
			}
		}
	}
}

func TestClockOK(t *testing.T) {
	const now = 1767225600000000000
	skew := 5 * time.Minute
	tests := []struct {
		msg, now int64
		skew     time.Duration
		want     bool
	}{
		{now, now, skew, true},
		{now + int64(skew), now, skew, true},
		{now - int64(skew), now, skew, true},
		{now + int64(skew) + 1, now, skew, false},
		{now - int64(skew) - 1, now, skew, false},
		{now, now, 0, true},
		{now + 1, now, 0, false},
		{now, now, -1, false},
		{0, now, skew, false},
		{math.MinInt64, math.MaxInt64, time.Duration(math.MaxInt64), false},
		{math.MaxInt64, math.MinInt64, time.Duration(math.MaxInt64), false},
		{math.MaxInt64, 0, time.Duration(math.MaxInt64), true},
		{math.MinInt64, 0, time.Duration(math.MaxInt64), false},
		{math.MinInt64 + 1, 0, time.Duration(math.MaxInt64), true},
	}
	for _, tc := range tests {
		if got := ClockOK(tc.msg, tc.now, tc.skew); got != tc.want {
			t.Errorf("ClockOK(%d, %d, %v) = %v, want %v", tc.msg, tc.now, tc.skew, got, tc.want)
		}
	}
}

func TestReplayWindowRestore(t *testing.T) {
	var w ReplayWindow
	for _, s := range []uint64{1000, 998, 1003, 1001} {
		w.Check(s)
	}
	r := RestoreReplayWindow(w.State())
	for _, s := range []uint64{1000, 998, 1003, 1001, 875} {
		if r.Check(s) {
			t.Errorf("restored window accepted %d again", s)
		}
	}
	for _, s := range []uint64{999, 1002, 1004} {
		if !r.Check(s) {
			t.Errorf("restored window refused fresh %d", s)
		}
	}
}
