package actors

import (
	"math"
	"testing"
)

func TestLossWindow(t *testing.T) {
	seq := func(from, to uint32, skip ...uint32) []uint32 {
		var out []uint32
	next:
		for i := from; i <= to; i++ {
			for _, s := range skip {
				if s == i {
					continue next
				}
			}
			out = append(out, i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []uint32
		want float64
	}{
		{"none", nil, 0},
		{"one", []uint32{7}, 0},
		{"in order", seq(1, 50), 0},
		{"one gap of ten", seq(1, 10, 5), 10},
		{"duplicates do not count", []uint32{1, 2, 2, 3, 3, 3, 4}, 0},
		{"late arrival fills its gap", []uint32{1, 2, 4, 5, 3}, 0},
		{"half lost", []uint32{2, 4, 6, 8, 10}, 100 * 4.0 / 9.0},
		{"window holds only the last 128", append(seq(1, 100, 10, 20, 30), seq(101, 300)...), 0},
		{"gap across the 64-bit boundary", seq(1, 100, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69), 10},
		{"big jump forward", []uint32{1, 2, 500}, 100 * 127.0 / 128.0},
		{"counter reset starts over", []uint32{1000, 1001, 1002, 1, 2}, 0},
		{"full window, quarter lost", func() []uint32 {
			var out []uint32
			for i := uint32(0); i < 256; i++ {
				if i%4 != 0 {
					out = append(out, i)
				}
			}
			return out
		}(), 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w lossWindow
			for _, s := range tc.in {
				w.observe(s)
			}
			if got := w.lossPct(); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("loss %.4f%%, want %.4f%%", got, tc.want)
			}
		})
	}
}
